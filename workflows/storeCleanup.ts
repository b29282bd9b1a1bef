import { proxyActivities, upsertSearchAttributes } from '@temporalio/workflow';
import type { SyncActivities } from '../activities';
import { searchAttributes, type PruneResult } from './shared';

const { pruneStore } = proxyActivities<SyncActivities>({
  startToCloseTimeout: '30 minutes',
  heartbeatTimeout: '30 seconds',
  retry: { maximumAttempts: 5 },
});

/** The store-cleanup schedule's run: reports, archives and trybacks older than fileareacleanupdelay days go. */
export async function storeCleanup(input: { olderThanDays?: number; dryRun?: boolean } = {}): Promise<PruneResult> {
  const result = await pruneStore(input);
  upsertSearchAttributes([{ key: searchAttributes.outcome, value: result.olderThanDays === null ? 'off' : 'completed' }]);
  return result;
}
