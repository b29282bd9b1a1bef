import { parseArgs, expectPositionals } from '../args';
import type { Command } from '../context';
import { searchAttributes } from '../../workflows/shared';
import type { syncAll } from '../../workflows';

const usage = 'moodle-sync sync-all [--simulate] [--wait] [--json]';

export const syncAllCommand: Command = {
  name: 'sync-all',
  summary: 'Run every tool in dependency order (courses, users, pictures, cohorts, enrolments, groups).',
  usage,
  async run(argv, ctx) {
    const args = parseArgs(argv, { switches: ['simulate', 'wait'] });
    expectPositionals(args, 0, 0, usage);
    const client = await ctx.temporal();
    const workflowId = `sync-all-${new Date().toISOString().replace(/[:.]/g, '')}`;
    const handle = await client.workflow.start<typeof syncAll>('syncAll', {
      workflowId, taskQueue: ctx.env.taskQueue, args: [{ simulate: args.flags.simulate === true }],
      typedSearchAttributes: [{ key: searchAttributes.operation, value: 'sync-all' }],
    });
    if (!args.flags.wait) return { code: 0, data: { status: 'started', workflowId }, text: `started ${workflowId}` };
    const summary = await handle.result();
    const text = summary.runs.map((r) => `${r.tool} ${r.op}: ${r.status}${r.message ? ` (${r.message})` : ''}${r.files.map((f) => `\n  ${f.file}: ${f.rows.applied} applied, ${f.rows.failed} failed, ${f.rows.skipped} skipped${f.refusal ? `, REFUSED: ${f.refusal}` : ''}`).join('')}`).join('\n');
    return { code: summary.status === 'failed' ? 1 : 0, data: { workflowId, ...summary }, text };
  },
};
