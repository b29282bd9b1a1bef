import { proxyActivities, workflowInfo, setHandler, upsertSearchAttributes, upsertMemo, setCurrentDetails, makeContinueAsNewFunc, ActivityFailure, log } from '@temporalio/workflow';
import type { SyncActivities } from '../activities';
import { progressQuery, searchAttributes, type ChunkCounts, type FileProgress, type FileRunSummary, type ProcessFileInput } from './shared';
import { fileResultLine } from './format';

// Every activity here heartbeats while it runs: a worker that dies mid-activity is noticed within
// the heartbeat timeout, and the retry runs on another worker at once.
const { prepareFile, finalizeFile, recordFailedChunk } = proxyActivities<SyncActivities>({
  startToCloseTimeout: '30 minutes',
  heartbeatTimeout: '30 seconds',
  retry: { maximumInterval: '1 minute', maximumAttempts: 20 },
});
const { applyChunk } = proxyActivities<SyncActivities>({
  startToCloseTimeout: '10 minutes',
  // It beats every 2 s: a chunk whose worker died runs again elsewhere within 10 s.
  heartbeatTimeout: '10 seconds',
  // A lost worker or database connection is retried; the chunk's ledger row makes the retry safe.
  retry: { initialInterval: '1 second', maximumInterval: '30 seconds', maximumAttempts: 15 },
});
const { simulateRun } = proxyActivities<SyncActivities>({
  startToCloseTimeout: '2 hours',
  heartbeatTimeout: '2 minutes',
  retry: { maximumAttempts: 3 },
});

interface Resume { runKey: string; startedAt: number; next: number; totals: ChunkCounts; rowsTotal: number; chunks: number; after: number[] }

/** Chunks of one file applied at once when their rows share nothing (ToolOperation.rowKeys). */
const PARALLEL_CHUNKS = 2;

/**
 * One input file: prepare (whole-file checks, chunk plan) -> chunks, each exactly once -> report,
 * tryback, archive, cleanup. Only references and counts travel through Temporal.
 */
export async function processFile(input: ProcessFileInput, resume?: Resume): Promise<FileRunSummary> {
  const info = workflowInfo();
  const runKey = resume?.runKey ?? info.firstExecutionRunId;
  const startedAt = resume?.startedAt ?? Date.now();
  const progress: FileProgress = {
    stage: resume ? 'applying' : 'preparing', file: input.file, rowsTotal: resume?.rowsTotal ?? 0,
    rowsDone: resume ? resume.totals.applied + resume.totals.failed + resume.totals.skipped : 0,
    failed: resume?.totals.failed ?? 0, chunksDone: resume?.next ?? 0, chunks: resume?.chunks ?? 0,
  };
  setHandler(progressQuery, () => progress);

  let chunks = resume?.chunks ?? 0;
  let after = resume?.after ?? [];
  let ready = !!resume;
  if (!resume) {
    const prepared = await prepareFile({ ...input, runKey, startedAt });
    progress.rowsTotal = prepared.totalRows;
    progress.chunks = chunks = prepared.chunks;
    after = prepared.after;
    ready = prepared.status === 'ready';
    // For the Web UI: which content ran (the snapshot's hash), without opening the history.
    upsertMemo({ inputFile: input.file, sha256: prepared.sha256, rows: prepared.totalRows });
  }
  if (ready) {
    progress.stage = 'applying';
    if (input.simulate) {
      const c = await simulateRun(runKey);
      progress.rowsDone = c.applied + c.failed + c.skipped;
      progress.failed = c.failed;
      progress.chunksDone = chunks;
    } else {
      const totals = resume?.totals ?? { applied: 0, failed: 0, skipped: 0 };
      const applyOne = async (i: number) => {
        let c: ChunkCounts;
        try {
          c = await applyChunk(runKey, i);
        } catch (e) {
          const reason = e instanceof ActivityFailure && e.cause ? e.cause.message : String(e);
          log.error('Chunk failed after its retries; its rows are reported as failed', { chunk: i, reason });
          c = await recordFailedChunk(runKey, i, reason);
        }
        totals.applied += c.applied; totals.failed += c.failed; totals.skipped += c.skipped;
        progress.rowsDone += c.applied + c.failed + c.skipped;
        progress.failed += c.failed;
        progress.chunksDone++;
        setCurrentDetails(progressLine(progress));
      };
      // Chunks start in file order; one starts once the chunks it follows have committed (after[i]).
      let next = resume?.next ?? 0;
      const running = new Map<number, Promise<number>>();
      const finished = new Set<number>();
      let committedUpTo = next - 1; // every chunk up to this one is done
      let winding = false;
      while (next < chunks || running.size) {
        while (!winding && next < chunks && running.size < PARALLEL_CHUNKS && (after[next] ?? next - 1) <= committedUpTo) {
          const i = next++;
          running.set(i, applyOne(i).then(() => i));
        }
        const i = await Promise.race(running.values());
        running.delete(i);
        finished.add(i);
        while (finished.delete(committedUpTo + 1)) committedUpTo++;
        if (workflowInfo().continueAsNewSuggested && next < chunks) winding = true;
        if (winding && !running.size) {
          // The memo (input file and hash) goes on with the next run.
          await makeContinueAsNewFunc<typeof processFile>({ memo: workflowInfo().memo })(input, { runKey, startedAt, next, totals, rowsTotal: progress.rowsTotal, chunks, after });
        }
      }
    }
  }
  progress.stage = 'finalizing';
  const summary = await finalizeFile(runKey);
  progress.stage = 'done';
  upsertSearchAttributes([{ key: searchAttributes.outcome, value: summary.outcome }]);
  upsertMemo({ result: fileResultLine(summary), outcome: summary.outcome, report: summary.report, tryback: summary.tryback });
  setCurrentDetails(fileResultLine(summary));
  return summary;
}

const progressLine = (p: FileProgress) => `${p.file}: ${p.stage}, ${p.rowsDone}/${p.rowsTotal} row(s) done, ${p.failed} failed (chunk ${p.chunksDone}/${p.chunks})`;
