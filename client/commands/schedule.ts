import { SyncError } from '../../activities/errors';
import { parseArgs, expectPositionals } from '../args';
import { ok, table } from '../output';
import type { Command } from '../context';
import { listSchedules } from '../schedules';
import { defaultSchedules, parseTarget, resolveScheduleId, scheduleOptions, scheduleTimeZone, targetName, upsertSchedule, validateCron, withSchedule, CATCHUP_WINDOW } from '../toolSchedules';

const usage = `moodle-sync schedule list
       moodle-sync schedule set <tool>[:<op>]|sync-all|store-cleanup --cron "<min hour dom month dow>"
       moodle-sync schedule pause|resume|trigger|delete <schedule id or tool[:op]>
       moodle-sync schedule defaults`;

const subs = ['list', 'set', 'pause', 'resume', 'trigger', 'delete', 'defaults'];

export const scheduleCommand: Command = {
  name: 'schedule',
  summary: 'Temporal Schedules: list, set (one per tool operation, sync-all, store-cleanup), pause, resume, trigger, delete, defaults.',
  usage,
  async run(argv, ctx) {
    const args = parseArgs(argv, { valued: ['cron'] });
    const [sub, ...rest] = args.positional;
    if (!sub || !subs.includes(sub)) throw new SyncError('usage', `schedule needs one of: ${subs.join(', ')}.\nUsage: ${usage}`);
    const positional = { ...args, positional: rest };
    if (sub !== 'set' && args.flags.cron !== undefined) throw new SyncError('usage', `--cron goes with schedule set.\nUsage: ${usage}`);
    switch (sub) {
      case 'list': {
        expectPositionals(positional, 0, 0, usage);
        const schedules = await listSchedules(await ctx.temporal());
        const text = schedules.length
          ? table(['id', 'workflow', 'spec', 'time zone', 'state', 'next run'], schedules.map((s) => [s.id, s.workflowType ?? '-', s.spec, s.timeZone ?? '-', s.paused ? 'paused' : 'active', s.nextRuns[0] ?? '-']))
          : '(no schedules: start a worker, it creates the stale-lock watchdog)';
        return ok(schedules, text);
      }
      case 'set': {
        expectPositionals(positional, 1, 1, usage);
        if (typeof args.flags.cron !== 'string') throw new SyncError('usage', `schedule set needs --cron "<min hour dom month dow>", e.g. --cron "0 */6 * * *".`);
        const target = parseTarget(rest[0]);
        const cron = validateCron(args.flags.cron);
        const timeZone = await scheduleTimeZone(ctx.db());
        const client = await ctx.temporal();
        const status = await upsertSchedule(client, scheduleOptions(target, cron, ctx.env.taskQueue, timeZone)).catch((e: Error & { code?: number }) => {
          // The server's own check of the spec (gRPC INVALID_ARGUMENT): still a usage error.
          if (e.code === 3 || /not in range|invalid/i.test(e.message)) throw new SyncError('usage', `--cron "${cron}": ${e.message}`);
          throw e;
        });
        const desc = await client.schedule.getHandle(target.id).describe();
        const next = desc.info.nextActionTimes[0]?.toISOString() ?? '-';
        return ok(
          { id: target.id, status, target: targetName(target), cron, timeZone, tool: target.kind === 'tool' ? target.tool : null, op: target.kind === 'tool' ? target.op : null, paused: desc.state.paused, catchupWindow: CATCHUP_WINDOW, overlap: 'SKIP', nextRun: next },
          `${status} schedule ${target.id}: cron "${cron}" (${timeZone}), ${desc.state.paused ? 'paused' : 'active'}, next run ${next}`,
        );
      }
      case 'pause':
      case 'resume':
      case 'trigger':
      case 'delete': {
        expectPositionals(positional, 1, 1, usage);
        const id = resolveScheduleId(rest[0]);
        const client = await ctx.temporal();
        await withSchedule(client, id, async (h) => {
          if (sub === 'pause') await h.pause('paused with moodle-sync schedule pause');
          else if (sub === 'resume') await h.unpause('resumed with moodle-sync schedule resume');
          else if (sub === 'trigger') await h.trigger();
          else await h.delete();
        });
        const done = { pause: 'paused', resume: 'resumed', trigger: 'triggered', delete: 'deleted' }[sub];
        return ok({ id, status: done }, `${done} schedule ${id}${sub === 'trigger' ? ' (one run started now; moodle-sync runs lists it)' : ''}`);
      }
      case 'defaults': {
        expectPositionals(positional, 0, 0, usage);
        const timeZone = await scheduleTimeZone(ctx.db());
        const client = await ctx.temporal();
        const results: { id: string; cron: string; status: string }[] = [];
        for (const d of defaultSchedules()) {
          const status = await upsertSchedule(client, scheduleOptions(d.target, d.cron, ctx.env.taskQueue, timeZone, true), false);
          results.push({ id: d.target.id, cron: d.cron, status: status === 'exists' ? 'exists (left as it is)' : 'created (paused)' });
        }
        const text = [
          table(['schedule', 'cron', 'status'], results.map((r) => [r.id, r.cron, r.status])),
          `Times are in the site's time zone (${timeZone}). New schedules start paused: moodle-sync schedule resume <id> turns one on.`,
        ].join('\n');
        return ok(results, text);
      }
    }
    throw new SyncError('usage', usage);
  },
};
