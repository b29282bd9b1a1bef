import { ScheduleAlreadyRunning, ScheduleOverlapPolicy, type Client, type ScheduleOptions } from '@temporalio/client';
import { WATCHDOG_EVERY, WATCHDOG_SCHEDULE_ID } from '../workflows/shared';
import type { staleLockWatchdog } from '../workflows';

export function watchdogScheduleOptions(taskQueue: string): ScheduleOptions {
  return {
    scheduleId: WATCHDOG_SCHEDULE_ID,
    spec: { intervals: [{ every: WATCHDOG_EVERY }] },
    action: {
      type: 'startWorkflow',
      workflowType: 'staleLockWatchdog' satisfies typeof staleLockWatchdog['name'],
      workflowId: WATCHDOG_SCHEDULE_ID,
      taskQueue,
      workflowExecutionTimeout: '10 minutes',
    },
    policies: { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: '5 minutes', pauseOnFailure: false },
    memo: { description: 'Checks the age of lock.txt and alock.txt and mails the admin when one is stale.' },
  };
}

/** Creates the watchdog schedule, or brings an existing one up to date (idempotent). */
export async function ensureWatchdogSchedule(client: Client, taskQueue: string): Promise<'created' | 'updated'> {
  const options = watchdogScheduleOptions(taskQueue);
  try {
    await client.schedule.create(options);
    return 'created';
  } catch (e) {
    if (!(e instanceof ScheduleAlreadyRunning)) throw e;
    await client.schedule.getHandle(WATCHDOG_SCHEDULE_ID).update((prev) => ({
      ...prev,
      spec: options.spec,
      action: options.action,
      policies: { ...prev.policies, ...options.policies },
    }));
    return 'updated';
  }
}
