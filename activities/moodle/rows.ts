import type { PoolConnection, ResultSetHeader, RowDataPacket } from 'mysql2/promise';
import type { MoodleDb } from './db';

/**
 * Multi-row statements for a chunk's writes: one round trip for many rows. Column names are our
 * own code's (never from a file); values always go through placeholders.
 */

const DEFAULT_MARK = Symbol('default');

/** One multi-row INSERT; a column a row does not set takes the column's DEFAULT, as a single-row insert would. */
function insertStatement(db: MoodleDb, table: string, rows: Record<string, unknown>[]): { sql: string; params: unknown[] } {
  const columns = [...new Set(rows.flatMap((r) => Object.keys(r)))];
  const values = rows.map((r) => columns.map((c) => (c in r ? r[c] : DEFAULT_MARK)));
  const placeholders = values.map((row) => `(${row.map((v) => (v === DEFAULT_MARK ? 'DEFAULT' : '?')).join(', ')})`).join(', ');
  return {
    sql: `INSERT INTO ${db.t(table)} (${columns.map((c) => `\`${c}\``).join(', ')}) VALUES ${placeholders}`,
    params: values.flat().filter((v) => v !== DEFAULT_MARK),
  };
}

/** Inserts rows in one statement. */
export async function insertRows(conn: PoolConnection, db: MoodleDb, table: string, rows: Record<string, unknown>[]): Promise<void> {
  if (!rows.length) return;
  const { sql, params } = insertStatement(db, table, rows);
  await conn.query(sql, params);
}

/**
 * How far apart the ids of one multi-row `INSERT ... VALUES` are, when the server hands them out as
 * one run: innodb_autoinc_lock_mode 0 or 1 (MariaDB's default) takes a statement's ids in one go,
 * auto_increment_increment apart. null under mode 2 (MySQL 8's default, Galera), where another
 * statement's ids may interleave. Read once per connection (both are fixed for a session).
 */
const idSteps = new WeakMap<object, number | null>();
async function idStep(conn: PoolConnection): Promise<number | null> {
  const session = (conn as unknown as { connection?: object }).connection ?? conn;
  if (!idSteps.has(session)) {
    const [rows] = await conn.query<RowDataPacket[]>('SELECT @@innodb_autoinc_lock_mode AS mode, @@auto_increment_increment AS step');
    idSteps.set(session, Number(rows[0].mode) === 2 ? null : Number(rows[0].step));
  }
  return idSteps.get(session)!;
}

/**
 * Runs one multi-row `INSERT ... VALUES` (no explicit ids, no IGNORE) whose rows are `keys`, in
 * order (none: nothing runs), and returns each row's new id by key: counted from the first id when the server gives a
 * statement's ids as one run, otherwise found by `readBack(firstId)` (every id of the statement is
 * at least its first). `step` null forces the read-back (tests).
 */
export async function insertWithIds<K>(conn: PoolConnection, sql: string, params: unknown[], keys: K[],
  readBack: (firstId: number) => Promise<Map<K, number>>, step?: number | null): Promise<Map<K, number>> {
  if (!keys.length) return new Map(); // no rows: no statement
  const [res] = await conn.query<ResultSetHeader>(sql, params);
  const apart = step === undefined ? await idStep(conn) : step;
  if (apart === null || res.affectedRows !== keys.length) return readBack(res.insertId);
  return new Map(keys.map((k, i) => [k, res.insertId + i * apart]));
}

/** insertRows, returning each row's new id by its key (`keys[i]` names `rows[i]`); see insertWithIds. */
export async function insertRowsWithIds<K>(conn: PoolConnection, db: MoodleDb, table: string, rows: Record<string, unknown>[], keys: K[],
  readBack: (firstId: number) => Promise<Map<K, number>>): Promise<Map<K, number>> {
  if (!rows.length) return new Map();
  const { sql, params } = insertStatement(db, table, rows);
  return insertWithIds(conn, sql, params, keys, readBack);
}

/**
 * Sets one column of many rows to per-row values in one statement: a join with the (id, value)
 * list, so each row is found by its primary key (a CASE over the ids costs rows x ids).
 */
export async function updateColumnById(conn: PoolConnection, db: MoodleDb, table: string, column: string, values: Map<number, unknown>): Promise<void> {
  if (!values.size) return;
  const list = [...values].map(() => 'SELECT ? AS id, ? AS v').join(' UNION ALL ');
  await conn.query(`UPDATE ${db.t(table)} t JOIN (${list}) x ON x.id = t.id SET t.\`${column}\` = x.v`, [...values].flat());
}

/** Updates the given columns of one row. */
export async function updateById(conn: PoolConnection, db: MoodleDb, table: string, id: number, changes: Record<string, unknown>): Promise<void> {
  const cols = Object.keys(changes);
  if (!cols.length) return;
  await conn.query(`UPDATE ${db.t(table)} SET ${cols.map((c) => `\`${c}\` = ?`).join(', ')} WHERE id = ?`, [...cols.map((c) => changes[c]), id]);
}

/** A plugin's settings from config_plugins, as a name -> value map. */
export async function pluginConfig(conn: PoolConnection, db: MoodleDb, plugins: string[]): Promise<Map<string, Record<string, string>>> {
  const out = new Map<string, Record<string, string>>(plugins.map((p) => [p, {}]));
  if (!plugins.length) return out;
  const [rows] = await conn.query<RowDataPacket[]>(`SELECT plugin, name, value FROM ${db.t('config_plugins')} WHERE plugin IN (?)`, [plugins]);
  for (const r of rows) out.get(String(r.plugin))![String(r.name)] = String(r.value ?? '');
  return out;
}

/** Values of `config` (site settings) by name; absent names are missing from the map. */
export async function siteConfig(conn: PoolConnection, db: MoodleDb, names: string[]): Promise<Record<string, string>> {
  const [rows] = await conn.query<RowDataPacket[]>(`SELECT name, value FROM ${db.t('config')} WHERE name IN (?)`, [names]);
  return Object.fromEntries(rows.map((r) => [String(r.name), String(r.value ?? '')]));
}
