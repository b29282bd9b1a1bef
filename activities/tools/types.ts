import type { PoolConnection } from 'mysql2/promise';
import type { MoodleDb } from '../moodle/db';

/**
 * A tool is data plus row semantics: its operations, their files and columns, and what a batch
 * of rows does to Moodle. The pipeline never knows which tool it runs.
 */

export interface DataRow {
  /** Line of the row in the input file (1-based, first physical line of the record). */
  line: number;
  /** Column name -> value, as read (not trimmed). For an archive: `entry`, the entry's name. */
  values: Record<string, string>;
  /** For an archive input: the entry's content, read on demand from the run's snapshot. */
  content?: EntryContent;
}

/** An archive entry's bytes, read on demand; never more than asked for, whatever the archive claims. */
export interface EntryContent {
  /** The size the archive declares (not trusted: reading stops at the limit). */
  declaredSize: number;
  read(limit: number): Promise<{ ok: true; data: Buffer } | { ok: false; tooLarge: boolean; reason: string }>;
}

export type RowStatus = 'applied' | 'failed' | 'skipped';

export interface RowOutcome {
  status: RowStatus;
  /** One line for the report; never a password. */
  message: string;
}

/** What a tool's apply() receives: one transaction for the whole chunk. */
export interface ChunkContext {
  conn: PoolConnection;
  db: MoodleDb;
  settings: Record<string, string>;
  /** Moodle time (Unix seconds) of this chunk. */
  now: number;
  simulate: boolean;
  header: string[];
  /** Moodle's data directory (filedir/ and trashdir/ live there). */
  moodledata: string;
  /** Work to do once the chunk's transaction has committed (mails); skipped in simulation. */
  afterCommit(task: () => Promise<void>): void;
  /** Mails someone once the chunk has committed (never in simulation). */
  sendMail(to: string, subject: string, text: string): void;
}

export interface HeaderSpec {
  required: readonly string[];
  optional: readonly string[];
  /** Further accepted names (anchored), e.g. /^course\d+$/. */
  patterns?: readonly RegExp[];
  /** Checks that need the database (e.g. profile fields that must exist); returns problems. */
  check?(header: string[], db: MoodleDb, settings: Record<string, string>): Promise<string[]>;
}

export interface ToolOperation {
  tool: string;
  op: string;
  summary: string;
  /** Setting that names the file (a path, a comma list, or a pattern with *). */
  locationSetting: string;
  /** The location when the setting does not name it directly (e.g. a prefix: `<prefix>*.zip`). */
  location?(settings: Record<string, string>): string;
  /**
   * What the input is: a CSV command file (default), or a zip archive whose entries (files, in
   * name order) are the rows, each with its `content`.
   */
  input?: 'csv' | 'zip';
  /** null: the file has no header; every row is one value in column `value` (then `listColumns`). Unused for archives. */
  header: HeaderSpec | null;
  /** A header-less file: the columns a line may carry after its value, in order (absent ones are ''). */
  listColumns?: readonly string[];
  /** Rows per chunk (one transaction each). */
  chunkSize?: number;
  /** Columns whose values never leave the input (clear passwords): emptied in tryback lines. */
  secretColumns?: readonly string[];
  /** A setting that, when on, removes the input once processed even while filecleanup is off. */
  forceCleanupSetting?: string;
  apply(ctx: ChunkContext, rows: DataRow[]): Promise<RowOutcome[]>;
  /**
   * What each row of a chunk reads to decide and writes, as keys ("u:bob", "c:math101"), asked
   * once per chunk while the file is prepared (`db`: for what Moodle links a row's values to):
   * chunks that share no key with the chunks still running may run beside them, each in its own
   * transaction, with the same result as one after the other. Absent: the file's chunks run one
   * at a time, in order.
   */
  rowKeys?(rows: Record<string, string>[], file: { header: readonly string[]; settings: Record<string, string>; db: MoodleDb }): string[][] | Promise<string[][]>;
  /**
   * Work once every row of the file has run (a purge over what the file named, say): inside the
   * last chunk's transaction, so it happens exactly once with it and is rolled back in a
   * simulation. `fileRows` reads the file's rows again. Returns lines for the report; a throw is
   * reported and rolled back alone, the rows stand.
   */
  afterRows?(ctx: ChunkContext, fileRows: () => AsyncIterable<DataRow>): Promise<string[]>;
}

export interface Tool {
  name: string;
  defaultOp: string;
  operations: ToolOperation[];
  /** The operations "sync all" runs, in order (spec decision 19). */
  syncAll: string[];
}
