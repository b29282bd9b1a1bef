import { withHeartbeat } from '../heartbeat';
import type { Client } from '@temporalio/client';
import type { MoodleDb } from '../moodle/db';
import type { Mailer } from '../mail';
import type { FileStore } from '../store';
import { loadSettingsMap } from '../settings/store';
import { prepareFile } from './prepare';
import { syncAllPlan } from '../tools';
import { applyChunk, simulateRun, recordFailedChunk } from './apply';
import { finalizeFile } from './finalize';
import { resolveInputs } from './inputs';
import { startOrJoinReintegration } from '../../client/reintegration';
import type { ProcessFileInput, RunToolInput } from '../../workflows/shared';

export interface PipelineActivityDeps {
  db: MoodleDb;
  store: FileStore;
  mailer?: Mailer;
  /** Moodle's data directory (user pictures write filedir/). */
  moodledata: string;
  /** The worker's own client: a tool run starts (or joins) the reintegration first. */
  temporal?: { client: Client; taskQueue: string };
}

/** The activities of the processing pipeline; they carry only references, offsets and counts. */
export function createPipelineActivities(deps: PipelineActivityDeps) {
  return {
    async reintegrateBeforeRun(): Promise<string> {
      if (!deps.temporal) throw new Error('this worker has no Temporal client for reintegration');
      const handle = await startOrJoinReintegration(deps.temporal.client, deps.temporal.taskQueue);
      return withHeartbeat(async () => (await handle.result()).summary);
    },

    async syncAllPlan() {
      return syncAllPlan();
    },

    async resolveInputFiles(input: RunToolInput) {
      return resolveInputs(deps.store, await loadSettingsMap(deps.db), input.tool, input.op, input.file);
    },

    prepareFile: (input: ProcessFileInput & { runKey: string; startedAt: number }) => withHeartbeat(() => prepareFile(deps, input)),
    applyChunk: (runKey: string, chunkNo: number) => withHeartbeat(() => applyChunk(deps, runKey, chunkNo)),
    simulateRun: (runKey: string) => simulateRun(deps, runKey),
    finalizeFile: (runKey: string) => withHeartbeat(() => finalizeFile(deps, runKey)),

    recordFailedChunk: (runKey: string, chunkNo: number, reason: string) => withHeartbeat(() => recordFailedChunk(deps, runKey, chunkNo, reason)),
  };
}
