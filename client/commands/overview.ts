import { parseArgs, expectPositionals } from '../args';
import { ok, table, formatBytes, formatCount as num, isoTime } from '../output';
import type { Command } from '../context';
import { formatAge } from '../../activities/locks';
import { gatherOverview, type OperationView, type OverviewData } from '../overviewData';
import { runningText } from '../runText';

const usage = 'moodle-sync overview [--json]';

function waitingText(o: OperationView): string {
  if (!o.waiting.length) return '-';
  if (o.waiting.length <= 2) return o.waiting.map((w) => `${w.path} (${formatBytes(w.size)}, ${formatAge(w.ageSec)}${w.alreadyRan ? ', already ran' : ''})`).join(', ');
  const bytes = o.waiting.reduce((s, w) => s + w.size, 0);
  return `${o.waiting.length} files, ${formatBytes(bytes)}, oldest ${formatAge(Math.max(...o.waiting.map((w) => w.ageSec)))}`;
}

function scheduleText(o: OperationView): [string, string] {
  if (!o.schedule) return ['-', '-'];
  return [`${o.schedule.cron ?? o.schedule.spec}${o.schedule.paused ? ' (paused)' : ''}`, o.schedule.nextRuns[0] ? isoTime(Date.parse(o.schedule.nextRuns[0])) : '-'];
}

function lastRunCells(o: OperationView): string[] {
  const r = o.lastRun;
  if (!r) return ['never', '-', '-', '-'];
  const rows = r.files.length ? `${num(r.rows.applied)} applied, ${num(r.rows.failed)} failed` : '-';
  const outputs = r.files.flatMap((f) => [f.report, f.tryback]).filter(Boolean);
  return [isoTime(r.closeTime ? Date.parse(r.closeTime) : undefined), `${r.outcome}${r.simulate ? ' (simulation)' : ''}`, rows, outputs.join(', ') || '-'];
}

const nowText = (o: OperationView): string => (o.running ? runningText(o.running) : '-');

export function overviewText(d: OverviewData): string {
  const name = (o: OperationView) => `${o.tool}:${o.op}`;
  const zones = [...new Set(d.operations.map((o) => o.schedule?.timeZone).filter(Boolean))];
  const temporalNote = d.temporalError ? [`Schedules and runs unavailable: ${d.temporalError}`, ''] : [];
  return [
    `Store ${d.store}`,
    '',
    ...temporalNote,
    table(
      ['operation', 'file (setting)', 'waiting in store', `schedule${zones.length === 1 ? ` (${zones[0]})` : ''}`, 'next run'],
      d.operations.map((o) => [name(o), o.location || '-', waitingText(o), ...scheduleText(o)]),
    ),
    '',
    table(['operation', 'last run', 'outcome', 'rows', 'report, tryback', 'running now'], d.operations.map((o) => [name(o), ...lastRunCells(o), nowText(o)])),
    '',
    `Drop folder ${d.dropFolder}`,
    table(['lock', 'state', 'since', 'age', 'holder'], d.locks.map((l) => [l.file, l.present ? 'present' : 'absent', isoTime(l.sinceMs), l.ageSec === undefined ? '-' : formatAge(l.ageSec), l.holder ?? '-'])),
    ...(d.otherSchedules.length
      ? ['', table(['other schedule', 'workflow', 'spec', 'state', 'next run', 'last run'], d.otherSchedules.map((s) => [s.id, s.workflowType ?? '-', s.spec, s.paused ? 'paused' : 'active', s.nextRuns[0] ? isoTime(Date.parse(s.nextRuns[0])) : '-', s.lastRun ? isoTime(Date.parse(s.lastRun)) : '-']))]
      : []),
  ].join('\n');
}

export const overviewCommand: Command = {
  name: 'overview',
  summary: 'Every tool operation: its file and whether it waits in the store, schedule, last run, run going on; lock files.',
  usage,
  async run(argv, ctx) {
    expectPositionals(parseArgs(argv), 0, 0, usage);
    const data = await gatherOverview(ctx);
    return ok(data, overviewText(data));
  },
};
