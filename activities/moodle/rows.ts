import type { PoolConnection, RowDataPacket } from 'mysql2/promise';
import type { MoodleDb } from './db';

/**
 * Multi-row statements for a chunk's writes: one round trip for many rows. Column names are our
 * own code's (never from a file); values always go through placeholders.
 */

const DEFAULT_MARK = Symbol('default');

/** Inserts rows in one statement; a column a row does not set takes the column's DEFAULT, as a single-row insert would. */
export async function insertRows(conn: PoolConnection, db: MoodleDb, table: string, rows: Record<string, unknown>[]): Promise<void> {
  if (!rows.length) return;
  const columns = [...new Set(rows.flatMap((r) => Object.keys(r)))];
  const values = rows.map((r) => columns.map((c) => (c in r ? r[c] : DEFAULT_MARK)));
  const placeholders = values.map((row) => `(${row.map((v) => (v === DEFAULT_MARK ? 'DEFAULT' : '?')).join(', ')})`).join(', ');
  await conn.query(`INSERT INTO ${db.t(table)} (${columns.map((c) => `\`${c}\``).join(', ')}) VALUES ${placeholders}`,
    values.flat().filter((v) => v !== DEFAULT_MARK));
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
