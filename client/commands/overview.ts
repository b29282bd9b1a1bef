import { parseArgs, expectPositionals } from '../args';
import { ok, table, formatBytes, isoTime } from '../output';
import type { Command } from '../context';
import { listSchedules, type ScheduleView } from '../schedules';
import { inspectLocks, formatAge } from '../../activities/locks';
import { syncDropFolder } from '../../activities/env';

const usage = 'moodle-sync overview';

export const overviewCommand: Command = {
  name: 'overview',
  summary: 'Store contents, lock files and their ages, schedules.',
  usage,
  async run(argv, ctx) {
    expectPositionals(parseArgs(argv), 0, 0, usage);
    const store = await ctx.store();
    const dropFolder = syncDropFolder(ctx.env);
    const [entries, locks] = await Promise.all([store.list('', false), inspectLocks(dropFolder)]);
    const inputs = entries.filter((e) => e.type === 'file');
    let schedules: ScheduleView[] | undefined;
    let temporalError: string | undefined;
    try {
      schedules = await listSchedules(await ctx.temporal());
    } catch (e) {
      temporalError = (e as Error).message;
    }
    const text = [
      `store ${store.root}`,
      inputs.length ? table(['waiting input', 'size', 'age'], inputs.map((e) => [e.path, formatBytes(e.size), formatAge(Math.floor((Date.now() - e.mtimeMs) / 1000))])) : '(no input waiting in the store)',
      '',
      `drop folder ${dropFolder}`,
      table(['lock', 'state', 'since', 'age', 'holder'], locks.map((l) => [l.file, l.present ? 'present' : 'absent', isoTime(l.sinceMs), l.ageSec === undefined ? '-' : formatAge(l.ageSec), l.holder ?? '-'])),
      '',
      schedules
        ? (schedules.length ? table(['schedule', 'state', 'next run'], schedules.map((s) => [s.id, s.paused ? 'paused' : 'active', s.nextRuns[0] ?? '-'])) : '(no schedules)')
        : `schedules: unavailable (${temporalError})`,
    ].join('\n');
    return ok({ store: { root: store.root, inputs }, dropFolder, locks, schedules: schedules ?? null, temporalError: temporalError ?? null }, text);
  },
};
