import { withHeartbeat } from '../heartbeat';
import type { Client } from '@temporalio/client';
import type { RowDataPacket } from 'mysql2';
import type { MoodleDb } from '../moodle/db';
import type { Mailer } from '../mail';
import type { FileStore } from '../store';
import { loadSettingsMap } from '../settings/store';
import { prepareFile, csvFormat } from './prepare';
import { readRecords } from './records';
import { syncAllPlan } from '../tools';
import { applyChunk, simulateRun } from './apply';
import { finalizeFile } from './finalize';
import { resolveInputs } from './inputs';
import { readRun, type LedgerOutcome } from './ledger';
import { startOrJoinReintegration } from '../../client/reintegration';
import type { ProcessFileInput, RunToolInput } from '../../workflows/shared';

export interface PipelineActivityDeps {
  db: MoodleDb;
  store: FileStore;
  mailer?: Mailer;
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

    /** A chunk that failed every attempt: its rows go to the report and the tryback as failed. */
    recordFailedChunk: (runKey: string, chunkNo: number, reason: string) => withHeartbeat(async () => {
      const run = (await readRun(deps.db, runKey))!;
      const plan = run.plan.chunks[chunkNo];
      const outcomes: LedgerOutcome[] = [];
      for await (const rec of readRecords(await deps.store.requireFile(run.snapshot!), csvFormat(await loadSettingsMap(deps.db)), plan)) {
        if (rec.comment) continue;
        outcomes.push([rec.line, rec.start, rec.end, 'failed', `not applied: ${reason}`]);
        if (outcomes.length === plan.rows) break;
      }
      await deps.db.pool.query(`INSERT IGNORE INTO ${deps.db.own('chunks')} (runkey, chunkno, applied, failed, skipped, outcomes) VALUES (?, ?, 0, ?, 0, ?)`,
        [runKey, chunkNo, outcomes.length, JSON.stringify(outcomes)]);
      // A last attempt whose commit went through after all keeps its row: report what the ledger holds.
      const [rows] = await deps.db.pool.query<RowDataPacket[]>(`SELECT applied, failed, skipped FROM ${deps.db.own('chunks')} WHERE runkey = ? AND chunkno = ?`, [runKey, chunkNo]);
      return { applied: Number(rows[0].applied), failed: Number(rows[0].failed), skipped: Number(rows[0].skipped) };
    }),
  };
}
