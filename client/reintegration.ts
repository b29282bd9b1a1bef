import { WorkflowIdConflictPolicy, type Client, type WorkflowHandleWithFirstExecutionRunId } from '@temporalio/client';
import { REINTEGRATION_WORKFLOW_ID, searchAttributes } from '../workflows/shared';
import type { reintegrate } from '../workflows';

/** Starts the reintegration, or joins the one already running (two never run at once). */
export function startOrJoinReintegration(client: Client, taskQueue: string): Promise<WorkflowHandleWithFirstExecutionRunId<typeof reintegrate>> {
  return client.workflow.start<typeof reintegrate>('reintegrate', {
    workflowId: REINTEGRATION_WORKFLOW_ID,
    taskQueue,
    workflowIdConflictPolicy: WorkflowIdConflictPolicy.USE_EXISTING,
    workflowExecutionTimeout: '2 hours',
    typedSearchAttributes: [{ key: searchAttributes.operation, value: 'reintegrate' }],
  });
}
