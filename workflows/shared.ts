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
