/** Whole-database snapshots of the Moodle tables, to prove what an operation wrote and what it left. */
import type mysql from 'mysql2/promise';
import type { RowDataPacket } from 'mysql2';

export type Row = Record<string, unknown>;
/** Table (without prefix) -> row id (or the whole row when the table has no id) -> the row as JSON. */
export type Snapshot = Map<string, Map<string, string>>;

/** Every `mdl_` table but the event log, read in full. */
export async function snapshotTables(db: mysql.Connection, exclude: string[] = ['logstore_standard_log']): Promise<Snapshot> {
  const [tables] = await db.query<RowDataPacket[]>(
    "SELECT table_name AS t FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name LIKE 'mdl\\_%' AND table_type = 'BASE TABLE' ORDER BY table_name");
  const out: Snapshot = new Map();
  for (const { t } of tables) {
    const name = String(t).slice(4);
    if (exclude.includes(name)) continue;
    const [rows] = await db.query<RowDataPacket[]>(`SELECT * FROM \`${t}\``);
    out.set(name, new Map(rows.map((r) => {
      const json = JSON.stringify(r);
      return ['id' in r ? String(r.id) : json, json];
    })));
  }
  return out;
}

export interface TableDiff { added: Row[]; removed: Row[]; changed: { before: Row; after: Row }[] }

/** The rows each table gained, lost or changed between two snapshots (tables without change are absent). */
export function diffSnapshots(before: Snapshot, after: Snapshot): Map<string, TableDiff> {
  const out = new Map<string, TableDiff>();
  for (const table of new Set([...before.keys(), ...after.keys()])) {
    const b = before.get(table) ?? new Map<string, string>();
    const a = after.get(table) ?? new Map<string, string>();
    const d: TableDiff = { added: [], removed: [], changed: [] };
    for (const [id, json] of a) {
      const old = b.get(id);
      if (old === undefined) d.added.push(JSON.parse(json));
      else if (old !== json) d.changed.push({ before: JSON.parse(old), after: JSON.parse(json) });
    }
    for (const [id, json] of b) if (!a.has(id)) d.removed.push(JSON.parse(json));
    if (d.added.length || d.removed.length || d.changed.length) out.set(table, d);
  }
  return out;
}

/** The columns whose values differ between two versions of a row. */
export const changedColumns = (c: { before: Row; after: Row }): string[] => Object.keys(c.after).filter((k) => JSON.stringify(c.before[k]) !== JSON.stringify(c.after[k]));
