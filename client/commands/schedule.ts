import { SyncError } from '../../activities/errors';
import { parseArgs } from '../args';
import { ok, table } from '../output';
import type { Command } from '../context';
import { listSchedules } from '../schedules';

const usage = 'moodle-sync schedule list';

export const scheduleCommand: Command = {
  name: 'schedule',
  summary: 'List the Temporal Schedules (the stale-lock watchdog and the tools\' runs).',
  usage,
  async run(argv, ctx) {
    const args = parseArgs(argv);
    const [sub, ...rest] = args.positional;
    if (sub !== 'list' || rest.length) throw new SyncError('usage', `schedule needs: list.\nUsage: ${usage}`);
    const schedules = await listSchedules(await ctx.temporal());
    const text = schedules.length
      ? table(['id', 'workflow', 'spec', 'state', 'next run'], schedules.map((s) => [s.id, s.workflowType ?? '-', s.spec, s.paused ? 'paused' : 'active', s.nextRuns[0] ?? '-']))
      : '(no schedules: start a worker, it creates the stale-lock watchdog)';
    return ok(schedules, text);
  },
};
