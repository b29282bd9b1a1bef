/**
 * Definitions shared by workflows, activities, the worker and the CLI. Workflow-safe: no Node
 * modules, only @temporalio/common and types.
 */
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';
import { defineQuery } from '@temporalio/workflow';

/** The one reintegration workflow id: Temporal never runs two executions with one id. */
export const REINTEGRATION_WORKFLOW_ID = 'reintegration';
export const WATCHDOG_SCHEDULE_ID = 'stale-lock-watchdog';
export const WATCHDOG_EVERY = '5 minutes';

/** Custom search attributes the set-up registers (all Keyword), and no others. */
export const searchAttributes = {
  tool: defineSearchAttributeKey('Tool', SearchAttributeType.KEYWORD),
  operation: defineSearchAttributeKey('Operation', SearchAttributeType.KEYWORD),
  inputFile: defineSearchAttributeKey('InputFile', SearchAttributeType.KEYWORD),
  outcome: defineSearchAttributeKey('Outcome', SearchAttributeType.KEYWORD),
};
export const searchAttributeKeys = Object.values(searchAttributes);

export interface LockStateView {
  file: 'lock.txt' | 'alock.txt';
  present: boolean;
  sinceMs?: number;
  ageSec?: number;
  holder?: string;
}

export type LockAttempt =
  | { status: 'acquired'; recovered: boolean; tookOverFrom?: string }
  | { status: 'remote-writing'; lock: LockStateView }
  | { status: 'held-by-other'; lock: LockStateView };

export interface FileNote { name: string; reason: string }

export interface ReintegrationFiles {
  taken: { name: string; size: number; sha256: string }[];
  /** Left in the drop folder for a later pass (still written, or waiting for an older same-name file). */
  waiting: FileNote[];
  /** Never taken: hidden, "_" names, lock files, folders, links. */
  skipped: FileNote[];
}

export interface ReintegrationResult extends Partial<ReintegrationFiles> {
  status: 'done' | 'remote-writing' | 'held-by-other';
  /** One line for people: what happened. */
  summary: string;
  lock?: LockStateView;
}

export interface LockAlarm {
  incidentId: number;
  kind: 'stale' | 'cleared';
  file: 'lock.txt' | 'alock.txt';
  /** Age when the alarm was raised, or how long the incident lasted when cleared. */
  ageSec: number;
  sinceMs: number;
  holder?: string;
}

export interface WatchdogResult {
  locks: LockStateView[];
  mailed: { kind: LockAlarm['kind']; file: LockAlarm['file'] }[];
  mailFailures: { kind: LockAlarm['kind']; file: LockAlarm['file']; error: string }[];
  summary: string;
}

// ---- The processing pipeline ----

export interface ProcessFileInput {
  tool: string;
  op: string;
  /** Store path of the input. */
  file: string;
  simulate: boolean;
}

export interface PreparedFile {
  status: 'ready' | 'refused';
  refusal?: string;
  sha256: string;
  totalRows: number;
  chunks: number;
  /** Per chunk: it starts once every chunk up to this index has committed (see ChunkPlan.after). */
  after: number[];
}

export interface ChunkCounts { applied: number; failed: number; skipped: number }

export interface RowTotals extends ChunkCounts { total: number }

export interface FileRunSummary {
  /** completed: the file ran (rows may have failed); failed: the file was refused. */
  status: 'completed' | 'failed';
  outcome: 'completed' | 'completed-with-failures' | 'refused';
  tool: string;
  op: string;
  file: string;
  simulate: boolean;
  refusal?: string;
  rows: RowTotals;
  report: string | null;
  tryback: string | null;
  archive: string | null;
}

export interface RunToolInput {
  tool: string;
  op?: string;
  /** A store path; without it, the operation's configured location. */
  file?: string;
  simulate?: boolean;
}

export interface ToolRunSummary {
  status: 'completed' | 'failed';
  tool: string;
  op: string;
  simulate: boolean;
  reintegration: string;
  files: FileRunSummary[];
  /** Why nothing ran, when no input file was found. */
  message?: string;
}

export interface FileProgress {
  stage: 'preparing' | 'applying' | 'finalizing' | 'done';
  file: string;
  rowsTotal: number;
  rowsDone: number;
  failed: number;
  chunksDone: number;
  chunks: number;
}

/** Progress of a file run: rows done, total, failed. */
export const progressQuery = defineQuery<FileProgress>('progress');

/** What a tool run is doing now (runTool's `status` query): the CLI follows it to the file running. */
export interface RunStatus {
  stage: 'starting' | 'waiting' | 'reintegrating' | 'resolving' | 'processing' | 'done';
  tool: string;
  op: string;
  /** While waiting: the run of the same tool that goes on (a tool never runs twice at once). */
  waitingFor?: string;
  /** The input files, in the order they run. */
  files: string[];
  /** Index in `files` and workflow id of the file run going on. */
  current?: { index: number; file: string; workflowId: string };
  /** Summaries of the files already done. */
  done: FileRunSummary[];
}

export const runStatusQuery = defineQuery<RunStatus>('status');

/** Result of taking a tool's run lease: one run per tool at a time, whatever started it. */
export type ToolLeaseAttempt = { acquired: true; tookOverFrom?: string } | { acquired: false; holder: string; sinceMs: number };

// ---- Store cleanup ----

export const STORE_CLEANUP_SCHEDULE_ID = 'store-cleanup';

export type PrunedKind = 'report' | 'archive' | 'tryback';

export interface PruneResult {
  /** Age limit in days; null when pruning is off (fileareacleanupdelay = 0). */
  olderThanDays: number | null;
  dryRun: boolean;
  removedCount: number;
  removedBytes: number;
  byKind: Record<PrunedKind, number>;
  /** The first removed paths (the list is capped to keep the payload small). */
  removed: { path: string; kind: PrunedKind; ageDays: number }[];
  kept: number;
  summary: string;
}
