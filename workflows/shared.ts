/**
 * Definitions shared by workflows, activities, the worker and the CLI. Workflow-safe: no Node
 * modules, only @temporalio/common and types.
 */
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

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
