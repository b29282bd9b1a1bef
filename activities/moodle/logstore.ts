import type { PoolConnection, RowDataPacket } from 'mysql2/promise';
import type { MoodleDb } from './db';
import { ACTING_USER, phpJson, type LogEvent } from './events';

/**
 * Rows of Moodle's standard log store (logstore_standard_log). Inserting into that compressed,
 * eight-index table costs about as much as a chunk's own writes, so a chunk stages its rows in
 * moodle-sync's own table, in the chunk's transaction (exactly once with the chunk), and
 * `flushStagedLogRows` moves them into the log store on another connection while the next chunk
 * runs. Each staged set moves in one transaction that deletes it, in the order it was staged, so
 * log ids keep the order of the writes. Moodle's own log store also writes at the end of a request.
 */

export const logQueueTables = (db: MoodleDb): string[] => [
  `CREATE TABLE IF NOT EXISTS ${db.own('log_queue')} (
     id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
     runkey VARCHAR(190) NOT NULL,
     chunkno INT NOT NULL,
     logrows LONGTEXT NOT NULL,
     KEY run_chunk (runkey, chunkno)
   ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`,
];

const LOG_COLUMNS = ['eventname', 'component', 'action', 'target', 'objecttable', 'objectid', 'crud', 'edulevel', 'contextid', 'contextlevel',
  'contextinstanceid', 'userid', 'courseid', 'relateduserid', 'anonymous', 'other', 'timecreated', 'origin', 'ip', 'realuserid'];
/** Rows per INSERT statement: far below max_allowed_packet even with long `other` values. */
const ROWS_PER_INSERT = 2000;

type LogRow = unknown[];

/** The columns logstore_standard writes for an event from a CLI script (origin cli, no IP, nobody logged in as). */
function logRow(e: LogEvent, time: number): LogRow {
  return [e.cls.eventname, e.cls.component, e.cls.action, e.cls.target, e.cls.objecttable, e.objectid, e.cls.crud, e.cls.edulevel,
    e.context.id, e.context.level, e.context.instanceid, ACTING_USER, e.context.courseid, e.relateduserid, 0, phpJson(e.other), time, 'cli', null, null];
}

/**
 * Whether the site logs to the standard log store (tool_log enabled_stores): an administrator who
 * turned it off gets no rows from Moodle's API, so none from us.
 */
async function standardLogEnabled(conn: PoolConnection, db: MoodleDb): Promise<boolean> {
  const [rows] = await conn.query<RowDataPacket[]>(`SELECT value FROM ${db.t('config_plugins')} WHERE plugin = 'tool_log' AND name = 'enabled_stores'`);
  return rows.length > 0 && String(rows[0].value ?? '').split(',').map((s) => s.trim()).includes('logstore_standard');
}

async function insertLogRows(conn: Pick<PoolConnection, 'query'>, db: MoodleDb, rows: LogRow[]): Promise<void> {
  for (let i = 0; i < rows.length; i += ROWS_PER_INSERT) {
    await conn.query(`INSERT INTO ${db.t('logstore_standard_log')} (${LOG_COLUMNS.join(', ')}) VALUES ?`, [rows.slice(i, i + ROWS_PER_INSERT)]);
  }
}

/** Connections whose log rows are staged (a chunk's), with the rows staged so far. */
const staging = new WeakMap<PoolConnection, LogRow[]>();

/** Log rows written on `conn` from now on are kept for `saveStagedLogRows` instead of inserted. */
export function stageLogRows(conn: PoolConnection): void {
  staging.set(conn, []);
}

/** How many rows are staged: a row rolled back to its savepoint drops what it staged with `dropStagedLogRows`. */
export const stagedLogMark = (conn: PoolConnection): number => staging.get(conn)?.length ?? 0;
export function dropStagedLogRows(conn: PoolConnection, mark: number): void {
  const rows = staging.get(conn);
  if (rows) rows.length = mark;
}

/** Logs `events` at their times: staged on a chunk's connection, inserted at once otherwise. */
export async function writeLogEvents(conn: PoolConnection, db: MoodleDb, events: { event: LogEvent; time: number }[]): Promise<void> {
  if (!events.length || !(await standardLogEnabled(conn, db))) return;
  const rows = events.map(({ event, time }) => logRow(event, time));
  const staged = staging.get(conn);
  if (staged) { for (const r of rows) staged.push(r); return; }
  await insertLogRows(conn, db, rows);
}

/** Stores what `conn` staged, in its transaction. */
export async function saveStagedLogRows(conn: PoolConnection, db: MoodleDb, runKey: string, chunkNo: number): Promise<void> {
  const rows = staging.get(conn) ?? [];
  if (rows.length) {
    await conn.query(`INSERT INTO ${db.own('log_queue')} (runkey, chunkno, logrows) VALUES (?, ?, ?)`, [runKey, chunkNo, JSON.stringify(rows)]);
  }
}

/** The connection goes back to the pool: its log rows are written at once again. */
export function stopStagingLogRows(conn: PoolConnection): void {
  staging.delete(conn);
}

/**
 * Moves every staged set into the log store, oldest first, each in its own transaction with its
 * deletion: a set is written exactly once whoever flushes (another flusher waits on its lock,
 * then finds it gone).
 */
export async function flushStagedLogRows(db: MoodleDb): Promise<void> {
  const conn = await db.pool.getConnection();
  try {
    await conn.query('SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED');
    for (;;) {
      await conn.beginTransaction();
      try {
        const [sets] = await conn.query<RowDataPacket[]>(`SELECT id, logrows FROM ${db.own('log_queue')} ORDER BY id LIMIT 1 FOR UPDATE`);
        if (!sets.length) { await conn.commit(); return; }
        await insertLogRows(conn, db, JSON.parse(sets[0].logrows) as LogRow[]);
        await conn.query(`DELETE FROM ${db.own('log_queue')} WHERE id = ?`, [sets[0].id]);
        await conn.commit();
      } catch (e) {
        await conn.rollback().catch(() => undefined);
        throw e;
      }
    }
  } finally {
    conn.release();
  }
}
