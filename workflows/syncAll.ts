import { proxyActivities, executeChild, workflowInfo, upsertSearchAttributes, ParentClosePolicy } from '@temporalio/workflow';
import type { SyncActivities } from '../activities';
import { runTool } from './runTool';
import { searchAttributes, type ToolRunSummary } from './shared';

const { syncAllPlan } = proxyActivities<SyncActivities>({ startToCloseTimeout: '1 minute', retry: { maximumAttempts: 5 } });

export interface SyncAllSummary { status: 'completed' | 'failed'; simulate: boolean; runs: ToolRunSummary[] }

/** "Sync all": every tool operation in dependency order (spec decision 19), one after the other. */
export async function syncAll(input: { simulate?: boolean } = {}): Promise<SyncAllSummary> {
  const plan = await syncAllPlan();
  const summary: SyncAllSummary = { status: 'completed', simulate: input.simulate ?? false, runs: [] };
  for (const { tool, op } of plan) {
    const run = await executeChild(runTool, {
      workflowId: `${workflowInfo().workflowId}/${tool}-${op}`,
      args: [{ tool, op, simulate: input.simulate }],
      parentClosePolicy: ParentClosePolicy.TERMINATE,
      staticSummary: `sync-all: ${tool} ${op}${input.simulate ? ' (simulation)' : ''}`,
      typedSearchAttributes: [{ key: searchAttributes.tool, value: tool }, { key: searchAttributes.operation, value: op }],
    });
    summary.runs.push(run);
    if (run.status === 'failed') summary.status = 'failed';
  }
  upsertSearchAttributes([{ key: searchAttributes.outcome, value: summary.status }]);
  return summary;
}
