import type { PoolConnection, RowDataPacket } from 'mysql2/promise';
import type { MoodleDb } from './db';
import { ACTING_USER, phpJson, type LogEvent } from './events';

/**
 * Rows of Moodle's standard log store (logstore_standard_log), written in the chunk's transaction
 * (exactly once with it), a few thousand per statement. Staging them in a table of our own and
 * moving them on a second connection while the next chunk ran was tried: with two chunks at once
 * the extra write cost more than the overlap gained (enrolments bench 3,020 against 3,500 rows/s).
 */

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

/** Logs `events` at their times. */
export async function writeLogEvents(conn: PoolConnection, db: MoodleDb, events: { event: LogEvent; time: number }[]): Promise<void> {
  if (!events.length || !(await standardLogEnabled(conn, db))) return;
  await insertLogRows(conn, db, events.map(({ event, time }) => logRow(event, time)));
}
