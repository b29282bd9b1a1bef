import { ActivityCancellationType, CancellationScope, proxyActivities, workflowInfo, upsertSearchAttributes, log } from '@temporalio/workflow';
import type { SyncActivities } from '../activities';
import { searchAttributes, type ReintegrationResult } from './shared';

const { acquireSyncLock } = proxyActivities<SyncActivities>({
  startToCloseTimeout: '1 minute',
  retry: { maximumAttempts: 5 },
});
const { moveDroppedFiles } = proxyActivities<SyncActivities>({
  startToCloseTimeout: '30 minutes',
  // A worker killed mid-way is noticed within this time and the move resumes on another.
  heartbeatTimeout: '10 seconds',
  cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
  retry: { maximumAttempts: 5 },
});
const { releaseSyncLock } = proxyActivities<SyncActivities>({
  startToCloseTimeout: '1 minute',
  // Releasing must succeed eventually, whatever happened before.
  retry: { maximumInterval: '1 minute' },
});

/** Takes the files dropped in <moodledata>/sync into the store, under lock.txt (spec section 4). */
export async function reintegrate(): Promise<ReintegrationResult> {
  const { workflowId, runId } = workflowInfo();
  const owner = `${workflowId} run ${runId}`;
  const attempt = await acquireSyncLock(owner);
  if (attempt.status !== 'acquired') {
    const why = attempt.status === 'remote-writing'
      ? 'alock.txt exists: a remote system is still writing, nothing taken'
      : `lock.txt is held by another program (${attempt.lock.holder ?? 'unknown'}), nothing taken`;
    await outcome(attempt.status);
    return { status: attempt.status, lock: attempt.lock, summary: why };
  }
  if (attempt.tookOverFrom) log.warn('Took over lock.txt left by a finished reintegration', { previous: attempt.tookOverFrom });
  try {
    const files = await moveDroppedFiles(owner);
    await outcome('done');
    return {
      status: 'done',
      ...files,
      summary: `${files.taken.length} file(s) taken into the store, ${files.waiting.length} waiting, ${files.skipped.length} skipped`,
    };
  } finally {
    await CancellationScope.nonCancellable(() => releaseSyncLock(owner));
  }
}

async function outcome(value: string): Promise<void> {
  upsertSearchAttributes([{ key: searchAttributes.outcome, value }]);
}
