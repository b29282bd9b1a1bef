import type { PoolConnection, RowDataPacket } from 'mysql2/promise';

/**
 * Chunk-wide lookups: one query resolves every key of a chunk instead of one query per row.
 * The keys are joined as a derived table, so each key matches exactly the rows `column = ?`
 * would match for it (the column's collation decides: case, accents), ambiguity included.
 */

/** `(SELECT ? AS k UNION ALL SELECT ? ...) AS <alias>`: the keys as a table, one placeholder per key. */
function keysTable(count: number, alias = 'wanted'): string {
  return `(${Array.from({ length: count }, (_, i) => (i === 0 ? 'SELECT ? AS k' : 'SELECT ?')).join(' UNION ALL ')}) AS ${alias}`;
}

/**
 * Runs `sql(keysTableSql)`, where the keys table is aliased `wanted` and its placeholders come
 * first, and groups the rows by their `k` column. Keys that match nothing are absent from the map.
 */
export async function matchKeys(conn: PoolConnection, keys: Iterable<string>, sql: (keys: string) => string, params: unknown[] = []): Promise<Map<string, RowDataPacket[]>> {
  const distinct = [...new Set(keys)];
  const out = new Map<string, RowDataPacket[]>();
  if (!distinct.length) return out;
  const [rows] = await conn.query<RowDataPacket[]>(sql(keysTable(distinct.length)), [...distinct, ...params]);
  for (const r of rows) {
    const k = String(r.k);
    const list = out.get(k);
    if (list) list.push(r); else out.set(k, [r]);
  }
  return out;
}
