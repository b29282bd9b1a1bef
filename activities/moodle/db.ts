import mysql from 'mysql2/promise';
import { SyncError } from '../errors';
import { redactUrl } from '../env';

/**
 * The Moodle database: a pool plus the table prefixes. Table names are the only identifiers we
 * put into SQL text, always through `t()`/`own()` (escaped); every value goes through placeholders.
 */
export interface MoodleDb {
  pool: mysql.Pool;
  /** Moodle table, e.g. t('user') -> `mdl_user`. */
  t(name: string): string;
  /** moodle-sync's own table, e.g. own('lock_incidents') -> `msync_lock_incidents`. */
  own(name: string): string;
  close(): Promise<void>;
}

export function openMoodleDb(url: string, prefix: string, ownPrefix: string): MoodleDb {
  let pool: mysql.Pool;
  try {
    pool = mysql.createPool({
      uri: url,
      connectionLimit: 8,
      charset: 'utf8mb4',
      timezone: 'Z',
      supportBigNumbers: true,
      bigNumberStrings: false,
    });
  } catch (e) {
    throw new SyncError('db.unavailable', `MOODLE_DB_URL ${redactUrl(url)} is not usable: ${(e as Error).message}`);
  }
  return {
    pool,
    t: (name) => mysql.escapeId(prefix + name),
    own: (name) => mysql.escapeId(ownPrefix + name),
    close: () => pool.end(),
  };
}

const CONNECTION_ERRORS = /^(ECONNREFUSED|ENOTFOUND|ETIMEDOUT|ECONNRESET|ER_ACCESS_DENIED_ERROR|ER_BAD_DB_ERROR|PROTOCOL_CONNECTION_LOST)$/;

/** A driver error that means "the database cannot be reached", turned into one a person can act on. */
export function explainDbError(e: unknown): SyncError | undefined {
  const err = e as { code?: string; message?: string };
  if (!err?.code || !CONNECTION_ERRORS.test(err.code)) return undefined;
  return new SyncError('db.unavailable', `Cannot reach the Moodle database (${err.code}: ${err.message}). Check MOODLE_DB_URL.`);
}

/**
 * Runs `fn` while holding a server-side named lock (GET_LOCK), so that several workers never do
 * the same bookkeeping at once. The lock lives on one pooled connection and dies with it.
 */
export async function withNamedLock<T>(db: MoodleDb, name: string, timeoutSec: number, fn: () => Promise<T>): Promise<T> {
  const conn = await db.pool.getConnection();
  try {
    // Scoped to the database: one MariaDB server may hold several Moodle sites.
    const [rows] = await conn.query<mysql.RowDataPacket[]>("SELECT GET_LOCK(CONCAT(DATABASE(), '/', ?), ?) AS got", [name, timeoutSec]);
    if (rows[0].got !== 1) throw new Error(`Could not take the database lock "${name}" within ${timeoutSec} s: another worker holds it.`);
    try {
      return await fn();
    } finally {
      await conn.query("SELECT RELEASE_LOCK(CONCAT(DATABASE(), '/', ?))", [name]);
    }
  } finally {
    conn.release();
  }
}
