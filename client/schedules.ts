import type { Client } from '@temporalio/client';

export interface ScheduleView {
  id: string;
  workflowType?: string;
  spec: string;
  paused: boolean;
  nextRuns: string[];
  lastRun?: string;
}

/** The schedules Temporal holds for this namespace, in a form the CLI prints. */
export async function listSchedules(client: Client): Promise<ScheduleView[]> {
  const out: ScheduleView[] = [];
  for await (const s of client.schedule.list()) {
    const spec = [
      ...(s.spec?.intervals ?? []).map((i) => `every ${typeof i.every === 'number' ? `${i.every / 1000}s` : i.every}`),
      ...((s.spec?.calendars?.length ?? 0) ? ['calendar'] : []),
    ].join(', ');
    const recent = s.info.recentActions.at(-1);
    out.push({
      id: s.scheduleId,
      workflowType: s.action?.type === 'startWorkflow' ? s.action.workflowType : undefined,
      spec: spec || '-',
      paused: s.state.paused,
      nextRuns: s.info.nextActionTimes.slice(0, 3).map((d) => d.toISOString()),
      lastRun: recent?.takenAt?.toISOString(),
    });
  }
  return out.sort((a, b) => a.id.localeCompare(b.id));
}
