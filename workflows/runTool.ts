import { proxyActivities, executeChild, workflowInfo, upsertSearchAttributes, ParentClosePolicy } from '@temporalio/workflow';
import type { SyncActivities } from '../activities';
import { processFile } from './processFile';
import { searchAttributes, type RunToolInput, type ToolRunSummary } from './shared';

const { reintegrateBeforeRun } = proxyActivities<SyncActivities>({
  startToCloseTimeout: '2 hours',
  heartbeatTimeout: '30 seconds',
  retry: { maximumAttempts: 5 },
});
const { resolveInputFiles } = proxyActivities<SyncActivities>({
  startToCloseTimeout: '1 minute',
  retry: { maximumAttempts: 5 },
});

/**
 * A tool operation, interactive or scheduled: reintegration first, then each input file in name
 * order, one child workflow per file (named after it, so the Web UI shows what ran).
 */
export async function runTool(input: RunToolInput): Promise<ToolRunSummary> {
  const reintegration = await reintegrateBeforeRun();
  const { op, files, location } = await resolveInputFiles(input);
  const simulate = input.simulate ?? false;
  const summary: ToolRunSummary = { status: 'completed', tool: input.tool, op, simulate, reintegration, files: [] };
  if (!files.length) summary.message = `no input file: nothing in the store matches "${location}"`;
  for (const file of files) {
    const result = await executeChild(processFile, {
      workflowId: `${workflowInfo().workflowId}/${file}`,
      args: [{ tool: input.tool, op, file, simulate }],
      parentClosePolicy: ParentClosePolicy.TERMINATE,
      typedSearchAttributes: [
        { key: searchAttributes.tool, value: input.tool },
        { key: searchAttributes.operation, value: op },
        { key: searchAttributes.inputFile, value: file },
      ],
    });
    summary.files.push(result);
    if (result.status === 'failed') summary.status = 'failed';
  }
  upsertSearchAttributes([{ key: searchAttributes.outcome, value: summary.status }]);
  return summary;
}
