import { parseArgs, expectPositionals } from '../args';
import { ok } from '../output';
import type { Command } from '../context';
import { startOrJoinReintegration } from '../reintegration';
import type { FileNote } from '../../workflows/shared';

const usage = 'moodle-sync reintegrate [--no-wait]';

export const reintegrateCommand: Command = {
  name: 'reintegrate',
  summary: 'Take the files dropped in <moodledata>/sync into the store (joins a reintegration already running).',
  usage,
  async run(argv, ctx) {
    const args = parseArgs(argv, { switches: ['no-wait'] });
    expectPositionals(args, 0, 0, usage);
    const client = await ctx.temporal();
    const handle = await startOrJoinReintegration(client, ctx.env.taskQueue);
    if (args.flags['no-wait']) {
      return ok({ workflowId: handle.workflowId, runId: handle.firstExecutionRunId }, `reintegration started: ${handle.workflowId}`);
    }
    const result = await handle.result();
    const notes = (title: string, list: FileNote[] = []) => (list.length ? [`${title}:`, ...list.map((n) => `  ${n.name}: ${n.reason}`)] : []);
    const text = [
      result.summary,
      ...(result.taken?.length ? ['taken:', ...result.taken.map((t) => `  ${t.name} (${t.size} bytes)`)] : []),
      ...notes('waiting', result.waiting),
      ...notes('skipped', result.skipped),
    ].join('\n');
    return ok({ workflowId: handle.workflowId, runId: handle.firstExecutionRunId, ...result }, text);
  },
};
