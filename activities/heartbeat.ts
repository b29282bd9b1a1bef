import { Context } from '@temporalio/activity';

/** Heartbeats once; a no-op outside an activity (unit use). */
export function heartbeat(details?: unknown): void {
  try { Context.current().heartbeat(details); } catch { /* outside an activity */ }
}

/**
 * Heartbeats while `fn` runs, so that the death of this worker is noticed within the activity's
 * heartbeat timeout (not its start-to-close timeout), and a cancellation reaches the activity
 * through the heartbeat's answer. `details` gives what to report at each beat.
 */
export async function withHeartbeat<T>(fn: () => Promise<T>, everyMs = 2000, details?: () => unknown): Promise<T> {
  heartbeat(details?.());
  const beat = setInterval(() => heartbeat(details?.()), everyMs);
  try {
    return await fn();
  } finally {
    clearInterval(beat);
  }
}
