import type { RowDataPacket } from 'mysql2';
import type { MoodleDb } from '../moodle/db';

/**
 * The ledger: one row per file run and one per applied chunk, in moodle-sync's own tables. A
 * chunk's row is written in the same transaction as the chunk's Moodle writes, so a retried
 * chunk that finds its row has nothing left to do.
 */
export function ledgerTables(db: MoodleDb): string[] {
  return [
    `CREATE TABLE IF NOT EXISTS ${db.own('runs')} (
       runkey VARCHAR(190) NOT NULL PRIMARY KEY,
       tool VARCHAR(32) NOT NULL,
       op VARCHAR(32) NOT NULL,
       file VARCHAR(255) NOT NULL,
       sha256 CHAR(64) NOT NULL,
       simulate TINYINT(1) NOT NULL,
       startedat BIGINT NOT NULL,
       finishedat BIGINT NULL,
       status VARCHAR(32) NOT NULL,
       refusal TEXT NULL,
       plan LONGTEXT NOT NULL,
       reportpath VARCHAR(255) NULL,
       trybackpath VARCHAR(255) NULL,
       archivepath VARCHAR(255) NULL,
       snapshot VARCHAR(255) NULL,
       UNIQUE KEY reportpath (reportpath),
       UNIQUE KEY trybackpath (trybackpath),
       UNIQUE KEY archivepath (archivepath)
     ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`,
    // Tables created with VARCHAR(16) could not hold "completed-with-failures" (instant change).
    `ALTER TABLE ${db.own('runs')} MODIFY status VARCHAR(32) NOT NULL`,
    `CREATE TABLE IF NOT EXISTS ${db.own('chunks')} (
       runkey VARCHAR(190) NOT NULL,
       chunkno INT NOT NULL,
       applied INT NOT NULL,
       failed INT NOT NULL,
       skipped INT NOT NULL,
       outcomes LONGTEXT NOT NULL,
       PRIMARY KEY (runkey, chunkno)
     ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`,
  ];
}

/**
 * A chunk's place in the file, found by prepare, and `after`: the chunk may start once every
 * chunk up to this one has committed (-1: at once); its rows share keys with that one's.
 */
export interface ChunkPlan { offset: number; line: number; rows: number; after?: number }

/** Everything prepare learnt about the file, kept in the run row (not in Temporal). */
export interface RunPlan {
  header: string[];
  headerRange: [number, number] | null;
  chunks: ChunkPlan[];
  totalRows: number;
  /** Rows the reader refused before any tool saw them (bad quoting, wrong value count). */
  readErrors: number;
}

/** Per row of a chunk: line, byte range, status, message, and how the report names it when not "line N" (an archive entry). */
// A `note` is what an operation did after the file's rows (ToolOperation.afterRows): reported, never counted as a row.
export type LedgerOutcome = [line: number, start: number, end: number, status: 'applied' | 'failed' | 'skipped' | 'note', message: string, label?: string];

export interface RunRow {
  runkey: string;
  tool: string;
  op: string;
  file: string;
  sha256: string;
  simulate: boolean;
  startedat: number;
  finishedat: number | null;
  status: string;
  refusal: string | null;
  plan: RunPlan;
  reportpath: string | null;
  trybackpath: string | null;
  archivepath: string | null;
  snapshot: string | null;
}

export async function readRun(db: MoodleDb, runKey: string): Promise<RunRow | undefined> {
  const [rows] = await db.pool.query<RowDataPacket[]>(`SELECT * FROM ${db.own('runs')} WHERE runkey = ?`, [runKey]);
  if (!rows.length) return undefined;
  const r = rows[0];
  return { ...(r as RunRow), simulate: Boolean(r.simulate), startedat: Number(r.startedat), finishedat: r.finishedat === null ? null : Number(r.finishedat), plan: JSON.parse(r.plan) };
}
