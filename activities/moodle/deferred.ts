import type { PoolConnection, RowDataPacket } from 'mysql2/promise';
import type { MoodleDb } from './db';
import type { LogEvent } from './events';
import { writeLogEvents } from './logstore';

/**
 * Writes that can wait for the end of a batch: cache_flags refreshes and event log rows. Inside
 * `withDeferredWrites` they are collected per connection and written at the end with a few
 * multi-row statements (one write for many rows); outside it they are written at once. A row
 * rolled back to its savepoint drops what it queued with `rollbackDeferred(conn, deferMark(conn))`.
 */

interface FlagTouch { flagtype: string; names: string[]; now: number; expiry: number }
interface Pending { flags: FlagTouch[]; events: { event: LogEvent; time: number }[] }

const pending = new WeakMap<PoolConnection, Pending>();

export async function withDeferredWrites<T>(conn: PoolConnection, db: MoodleDb, work: () => Promise<T>): Promise<T> {
  if (pending.has(conn)) return work();
  const queued: Pending = { flags: [], events: [] };
  pending.set(conn, queued);
  try {
    const result = await work();
    pending.delete(conn);
    const groups = new Map<string, FlagTouch>();
    for (const t of queued.flags) {
      const key = `${t.flagtype}\u0000${t.now}\u0000${t.expiry}`;
      const g = groups.get(key);
      if (g) g.names.push(...t.names); else groups.set(key, { ...t, names: [...t.names] });
    }
    for (const g of groups.values()) await touchCacheFlags(conn, db, g.flagtype, g.names, g.now, g.expiry);
    await writeLogEvents(conn, db, queued.events);
    return result;
  } finally {
    pending.delete(conn);
  }
}

export interface DeferMark { flags: number; events: number }
export const deferMark = (conn: PoolConnection): DeferMark => ({ flags: pending.get(conn)?.flags.length ?? 0, events: pending.get(conn)?.events.length ?? 0 });
export function rollbackDeferred(conn: PoolConnection, mark: DeferMark): void {
  const queued = pending.get(conn);
  if (!queued) return;
  queued.flags.length = mark.flags;
  queued.events.length = mark.events;
}

/** One cache_flags row per flagtype and name: inserted if absent, otherwise refreshed in place. */
export async function touchCacheFlags(conn: PoolConnection, db: MoodleDb, flagtype: string, names: string[], now: number, expiry: number): Promise<void> {
  const queued = pending.get(conn);
  if (queued) { queued.flags.push({ flagtype, names, now, expiry }); return; }
  const unique = [...new Set(names)];
  if (!unique.length) return;
  const [rows] = await conn.query<RowDataPacket[]>(`SELECT name FROM ${db.t('cache_flags')} WHERE flagtype = ? AND name IN (?)`, [flagtype, unique]);
  const present = new Set(rows.map((r) => String(r.name)));
  if (present.size) {
    await conn.query(`UPDATE ${db.t('cache_flags')} SET timemodified = ?, expiry = ?, value = '1' WHERE flagtype = ? AND name IN (?)`, [now, expiry, flagtype, [...present]]);
  }
  const missing = unique.filter((n) => !present.has(n));
  if (missing.length) {
    await conn.query(`INSERT INTO ${db.t('cache_flags')} (flagtype, name, timemodified, value, expiry) VALUES ?`, [missing.map((n) => [flagtype, n, now, '1', expiry])]);
  }
}

/** Logs events (logstore_standard_log rows), in the order given, at `now`. */
export async function logEvents(conn: PoolConnection, db: MoodleDb, now: number, events: LogEvent[]): Promise<void> {
  if (!events.length) return;
  const queued = pending.get(conn);
  if (queued) { for (const event of events) queued.events.push({ event, time: now }); return; }
  await writeLogEvents(conn, db, events.map((event) => ({ event, time: now })));
}
