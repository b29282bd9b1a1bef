import type { Client } from '@temporalio/client';

export interface ScheduleView {
  id: string;
  workflowType?: string;
  /** The cron expression it was set with (kept in the schedule's memo), or its interval. */
  spec: string;
  cron: string | null;
  timeZone: string | null;
  /** `users:add`, `sync-all`, `store-cleanup` for the schedules moodle-sync made. */
  target: string | null;
  paused: boolean;
  note: string | null;
  nextRuns: string[];
  lastRun?: string;
}

/** Prefix of the calendar comment that holds the cron expression a schedule was set with (toolSchedules.ts). */
export const CRON_COMMENT = 'cron ';

const everyText = (every: unknown) => (typeof every === 'number' ? `${every / 1000}s` : String(every));

/**
 * The schedules Temporal holds for this namespace, in a form the CLI prints. The server keeps a
 * cron expression only as its parsed calendar: moodle-sync keeps the expression in its comment.
 */
export async function listSchedules(client: Client): Promise<ScheduleView[]> {
  const out: ScheduleView[] = [];
  for await (const s of client.schedule.list()) {
    const comment = s.spec?.calendars?.[0]?.comment ?? '';
    const cron = comment.startsWith(CRON_COMMENT) ? comment.slice(CRON_COMMENT.length) : null;
    const spec = cron
      ? `cron ${cron}`
      : [
          ...(s.spec?.intervals ?? []).map((i) => `every ${everyText(i.every)}`),
          ...((s.spec?.calendars?.length ?? 0) ? ['calendar'] : []),
        ].join(', ');
    const recent = s.info.recentActions.at(-1);
    out.push({
      id: s.scheduleId,
      workflowType: s.action?.type === 'startWorkflow' ? s.action.workflowType : undefined,
      spec: spec || '-',
      cron,
      timeZone: s.spec?.timezone || null,
      target: typeof s.memo?.target === 'string' ? s.memo.target : null,
      paused: s.state.paused,
      note: s.state.note ?? null,
      nextRuns: s.state.paused ? [] : s.info.nextActionTimes.slice(0, 3).map((d) => d.toISOString()),
      lastRun: recent?.takenAt?.toISOString(),
    });
  }
  return out.sort((a, b) => a.id.localeCompare(b.id));
}
