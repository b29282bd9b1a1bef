import {
  proxyActivities, executeChild, workflowInfo, upsertSearchAttributes, upsertMemo, setHandler, sleep, continueAsNew,
  CancellationScope, ParentClosePolicy, log,
} from '@temporalio/workflow';
import type { SyncActivities } from '../activities';
import { processFile } from './processFile';
import { fileResultLine } from './format';
import { runStatusQuery, searchAttributes, type RunStatus, type RunToolInput, type ToolRunSummary } from './shared';

const { reintegrateBeforeRun } = proxyActivities<SyncActivities>({
  startToCloseTimeout: '2 hours',
  heartbeatTimeout: '30 seconds',
  retry: { maximumAttempts: 5 },
});
const { resolveInputFiles, acquireToolLease } = proxyActivities<SyncActivities>({
  startToCloseTimeout: '1 minute',
  retry: { maximumAttempts: 5 },
});
const { releaseToolLease } = proxyActivities<SyncActivities>({
  startToCloseTimeout: '1 minute',
  // Giving the lease back must succeed eventually, whatever happened before.
  retry: { maximumInterval: '1 minute' },
});

/** Longest pause between two looks at a busy tool's lease. */
const MAX_LEASE_WAIT_MS = 30_000;

/**
 * A tool operation, interactive or scheduled: the tool's lease (one run per tool at a time),
 * reintegration, then each input file in name order, one child workflow per file (named after
 * it, so the Web UI shows what ran). The `status` query tells which file runs now.
 */
export async function runTool(input: RunToolInput): Promise<ToolRunSummary> {
  const { workflowId, runId } = workflowInfo();
  const me = { workflowId, runId };
  const status: RunStatus = { stage: 'starting', tool: input.tool, op: input.op ?? '', files: [], done: [] };
  setHandler(runStatusQuery, () => status);

  for (let waitMs = 2000; ; waitMs = Math.min(waitMs * 2, MAX_LEASE_WAIT_MS)) {
    const lease = await acquireToolLease(input.tool, me);
    if (lease.acquired) {
      if (lease.tookOverFrom) log.warn('Took over the tool lease of a run that no longer goes on', { tool: input.tool, previous: lease.tookOverFrom });
      break;
    }
    Object.assign(status, { stage: 'waiting', waitingFor: lease.holder });
    // A long wait starts afresh rather than letting the history grow without end.
    if (workflowInfo().continueAsNewSuggested) await continueAsNew<typeof runTool>(input);
    await sleep(waitMs);
  }
  status.waitingFor = undefined;

  try {
    status.stage = 'reintegrating';
    const reintegration = await reintegrateBeforeRun();
    status.stage = 'resolving';
    const { op, files, location } = await resolveInputFiles(input);
    const simulate = input.simulate ?? false;
    Object.assign(status, { stage: 'processing', op, files });
    const summary: ToolRunSummary = { status: 'completed', tool: input.tool, op, simulate, reintegration, files: [] };
    if (!files.length) summary.message = `no input file: nothing in the store matches "${location}"`;
    for (const [index, file] of files.entries()) {
      const childId = `${workflowId}/${file}`;
      status.current = { index, file, workflowId: childId };
      const result = await executeChild(processFile, {
        workflowId: childId,
        args: [{ tool: input.tool, op, file, simulate }],
        parentClosePolicy: ParentClosePolicy.TERMINATE,
        staticSummary: `${input.tool} ${op}: ${file}${simulate ? ' (simulation)' : ''}`,
        typedSearchAttributes: [
          { key: searchAttributes.tool, value: input.tool },
          { key: searchAttributes.operation, value: op },
          { key: searchAttributes.inputFile, value: file },
        ],
      });
      summary.files.push(result);
      status.done.push(result);
      if (result.status === 'failed') summary.status = 'failed';
    }
    status.current = undefined;
    status.stage = 'done';
    upsertSearchAttributes([{ key: searchAttributes.outcome, value: summary.status }]);
    upsertMemo({ summary: [`${input.tool} ${op}: ${summary.status}`, summary.message, ...summary.files.map(fileResultLine)].filter(Boolean).join('\n') });
    return summary;
  } finally {
    await CancellationScope.nonCancellable(() => releaseToolLease(input.tool, me));
  }
}
