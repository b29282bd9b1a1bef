import { proxyActivities, log } from '@temporalio/workflow';
import type { SyncActivities } from '../activities';
import type { WatchdogResult } from './shared';
import { formatAge } from './format';

const { reviewLocks } = proxyActivities<SyncActivities>({
  startToCloseTimeout: '1 minute',
  retry: { maximumAttempts: 3 },
});
const { mailLockAlarm } = proxyActivities<SyncActivities>({
  startToCloseTimeout: '1 minute',
  retry: { maximumAttempts: 3, initialInterval: '2 seconds', backoffCoefficient: 2 },
});

/**
 * One check of lock.txt and alock.txt (run by the stale-lock-watchdog schedule). A mail that
 * still fails after its retries is logged and left owed for the next check: never a crash.
 */
export async function staleLockWatchdog(): Promise<WatchdogResult> {
  const review = await reviewLocks();
  const result: WatchdogResult = { locks: review.locks, mailed: [], mailFailures: [], summary: '' };
  for (const alarm of review.alarms) {
    try {
      await mailLockAlarm(alarm);
      result.mailed.push({ kind: alarm.kind, file: alarm.file });
    } catch (e) {
      const error = e instanceof Error ? (e.cause instanceof Error ? e.cause.message : e.message) : String(e);
      log.error('Stale-lock alarm not sent; the next check tries again', { file: alarm.file, kind: alarm.kind, error });
      result.mailFailures.push({ kind: alarm.kind, file: alarm.file, error });
    }
  }
  const held = review.locks.filter((l) => l.present).map((l) => `${l.file} ${formatAge(l.ageSec ?? 0)}`);
  result.summary = `${held.length ? held.join(', ') : 'no lock'}; ${result.mailed.length} mail(s) sent${result.mailFailures.length ? `, ${result.mailFailures.length} failed` : ''}`;
  return result;
}
