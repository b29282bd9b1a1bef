import type { PoolConnection, RowDataPacket, ResultSetHeader } from 'mysql2/promise';
import { createHash } from 'node:crypto';
import type { MoodleDb } from './db';

/**
 * Write primitives for users, matching what Moodle 5.1.3's own API writes
 * (../shared/spec/moodle-writes.md: create / update / delete a user, preferences, cache flags).
 * Multi-row statements: a chunk of users costs a handful of round trips, not several per user.
 */

export const CONTEXT_USER = 30;

/** Site settings a new user takes when the file does not say (as user_create_user fills them). */
export interface UserSiteConfig {
  mnethostid: number;
  city: string;
  country: string;
  lang: string;
  maildisplay: number;
  mailformat: number;
  maildigest: number;
  autosubscribe: number;
  trackforums: number;
  allowSameEmail: boolean;
  sessionTimeout: number;
}

export async function readUserSiteConfig(conn: PoolConnection, db: MoodleDb): Promise<UserSiteConfig> {
  const [rows] = await conn.query<RowDataPacket[]>(
    `SELECT name, value FROM ${db.t('config')} WHERE name IN ('mnet_localhost_id', 'defaultcity', 'country', 'lang', 'allowaccountssameemail', 'sessiontimeout',
       'defaultpreference_maildisplay', 'defaultpreference_mailformat', 'defaultpreference_maildigest', 'defaultpreference_autosubscribe', 'defaultpreference_trackforums')`);
  const c = Object.fromEntries(rows.map((r) => [r.name, String(r.value)]));
  const num = (v: string | undefined, d: number) => (v !== undefined && v !== '' && !Number.isNaN(Number(v)) ? Number(v) : d);
  return {
    mnethostid: num(c.mnet_localhost_id, 1),
    city: c.defaultcity ?? '',
    // The site default "0" means none: Moodle stores ''.
    country: c.country && c.country !== '0' ? c.country : '',
    lang: c.lang || 'en',
    maildisplay: num(c.defaultpreference_maildisplay, 2),
    mailformat: num(c.defaultpreference_mailformat, 1),
    maildigest: num(c.defaultpreference_maildigest, 0),
    autosubscribe: num(c.defaultpreference_autosubscribe, 1),
    trackforums: num(c.defaultpreference_trackforums, 0),
    allowSameEmail: c.allowaccountssameemail === '1',
    sessionTimeout: num(c.sessiontimeout, 28800),
  };
}

export interface ExistingUser {
  id: number;
  username: string;
  idnumber: string;
  email: string;
  deleted: number;
  suspended: number;
  auth: string;
  [column: string]: unknown;
}

/** Users of a host matching any of the given usernames, idnumbers, emails or ids, in one query. */
export async function findUsers(conn: PoolConnection, db: MoodleDb, mnethostid: number, keys: { usernames: string[]; idnumbers: string[]; emails: string[]; ids: number[] }): Promise<ExistingUser[]> {
  const clauses: string[] = [];
  const params: unknown[] = [mnethostid];
  const add = (column: string, values: unknown[]) => {
    if (!values.length) return;
    clauses.push(`${column} IN (?)`);
    params.push(values);
  };
  add('username', keys.usernames);
  add('idnumber', keys.idnumbers);
  add('email', keys.emails);
  add('id', keys.ids);
  if (!clauses.length) return [];
  const [rows] = await conn.query<RowDataPacket[]>(`SELECT * FROM ${db.t('user')} WHERE mnethostid = ? AND (${clauses.join(' OR ')})`, params);
  return rows as ExistingUser[];
}

/** Inserts users (one statement) and returns their ids by username. */
export async function insertUsers(conn: PoolConnection, db: MoodleDb, users: Record<string, unknown>[], mnethostid: number): Promise<Map<string, number>> {
  if (!users.length) return new Map();
  const columns = [...new Set(users.flatMap((u) => Object.keys(u)))];
  const values = users.map((u) => columns.map((c) => (c in u ? u[c] : DEFAULT_MARK)));
  // Columns a row does not set take the column default, as a single-row insert would.
  const placeholders = values.map((row) => `(${row.map((v) => (v === DEFAULT_MARK ? 'DEFAULT' : '?')).join(', ')})`).join(', ');
  const params = values.flat().filter((v) => v !== DEFAULT_MARK);
  await conn.query(`INSERT INTO ${db.t('user')} (${columns.map((c) => `\`${c}\``).join(', ')}) VALUES ${placeholders}`, params);
  const [rows] = await conn.query<RowDataPacket[]>(`SELECT id, username FROM ${db.t('user')} WHERE mnethostid = ? AND username IN (?)`, [mnethostid, users.map((u) => u.username)]);
  return new Map(rows.map((r) => [String(r.username), Number(r.id)]));
}
const DEFAULT_MARK = Symbol('default');

/** The user contexts (level 30, path /1/<id>, depth 2), as context_user::instance creates them. */
export async function insertUserContexts(conn: PoolConnection, db: MoodleDb, userIds: number[]): Promise<void> {
  if (!userIds.length) return;
  await conn.query(`INSERT INTO ${db.t('context')} (contextlevel, instanceid, depth, path, locked) VALUES ?`, [userIds.map((id) => [CONTEXT_USER, id, 2, null, 0])]);
  await conn.query(`UPDATE ${db.t('context')} SET path = CONCAT('/1/', id) WHERE contextlevel = ? AND instanceid IN (?) AND path IS NULL`, [CONTEXT_USER, userIds]);
}

/** Sets preferences (insert, or update in place), as set_user_preference does. */
export async function setPreferences(conn: PoolConnection, db: MoodleDb, prefs: { userid: number; name: string; value: string }[]): Promise<void> {
  if (!prefs.length) return;
  await conn.query(`INSERT INTO ${db.t('user_preferences')} (userid, name, value) VALUES ? ON DUPLICATE KEY UPDATE value = VALUES(value)`,
    [prefs.map((p) => [p.userid, p.name, p.value])]);
}

interface FlagTouch { flagtype: string; names: string[]; now: number; expiry: number }
/** Connections whose cache flag writes wait for the end of the batch (one write for many rows). */
const deferredFlags = new WeakMap<PoolConnection, FlagTouch[]>();

/**
 * Runs `work` with the connection's cache flag writes collected, then writes them at once. Flags
 * of rows rolled back inside are dropped with `rollbackFlags(conn, mark)`, mark from `flagsMark`.
 */
export async function withDeferredCacheFlags<T>(conn: PoolConnection, db: MoodleDb, work: () => Promise<T>): Promise<T> {
  if (deferredFlags.has(conn)) return work();
  const touches: FlagTouch[] = [];
  deferredFlags.set(conn, touches);
  try {
    const result = await work();
    deferredFlags.delete(conn);
    const groups = new Map<string, FlagTouch>();
    for (const t of touches) {
      const key = `${t.flagtype}\u0000${t.now}\u0000${t.expiry}`;
      const g = groups.get(key);
      if (g) g.names.push(...t.names); else groups.set(key, { ...t, names: [...t.names] });
    }
    for (const g of groups.values()) await touchCacheFlags(conn, db, g.flagtype, g.names, g.now, g.expiry);
    return result;
  } finally {
    deferredFlags.delete(conn);
  }
}
export const flagsMark = (conn: PoolConnection): number => deferredFlags.get(conn)?.length ?? 0;
export function rollbackFlags(conn: PoolConnection, mark: number): void {
  const touches = deferredFlags.get(conn);
  if (touches) touches.length = mark;
}

/** One cache_flags row per flagtype and name: inserted if absent, otherwise refreshed in place. */
export async function touchCacheFlags(conn: PoolConnection, db: MoodleDb, flagtype: string, names: string[], now: number, expiry: number): Promise<void> {
  const deferred = deferredFlags.get(conn);
  if (deferred) { deferred.push({ flagtype, names, now, expiry }); return; }
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

/** Updates the changed columns of one user, with timemodified (user_update_user). */
export async function updateUser(conn: PoolConnection, db: MoodleDb, id: number, changes: Record<string, unknown>, now: number): Promise<void> {
  const cols = Object.keys(changes);
  await conn.query(`UPDATE ${db.t('user')} SET ${[...cols.map((c) => `\`${c}\` = ?`), 'timemodified = ?'].join(', ')} WHERE id = ?`, [...cols.map((c) => changes[c]), now, id]);
}

/**
 * Moodle's soft delete (delete_user): the account row is kept with deleted = 1 and its username,
 * idnumber and email rewritten; its preferences, profile data, memberships, enrolments and role
 * assignments go; the groups it left are touched; a data privacy deletion request is recorded.
 */
export async function softDeleteUser(conn: PoolConnection, db: MoodleDb, user: ExistingUser, now: number, sessionTimeout: number, actingUserId: number): Promise<void> {
  let delname = `${String(user.email).toLowerCase()}.${now}`.replace(/[^a-z0-9_.@-]/g, '');
  for (let n = now; ; n++) {
    const [clash] = await conn.query<RowDataPacket[]>(`SELECT 1 FROM ${db.t('user')} WHERE username = ? AND mnethostid = ?`, [delname, user.mnethostid]);
    if (!clash.length) break;
    delname = `${String(user.email).toLowerCase()}.${n + 1}`.replace(/[^a-z0-9_.@-]/g, '');
  }
  const [groups] = await conn.query<RowDataPacket[]>(`SELECT DISTINCT groupid FROM ${db.t('groups_members')} WHERE userid = ?`, [user.id]);
  await conn.query(`DELETE FROM ${db.t('role_assignments')} WHERE userid = ?`, [user.id]);
  await conn.query(`DELETE FROM ${db.t('groups_members')} WHERE userid = ?`, [user.id]);
  if (groups.length) await conn.query(`UPDATE ${db.t('groups')} SET timemodified = ? WHERE id IN (?)`, [now, groups.map((g) => g.groupid)]);
  await conn.query(`DELETE FROM ${db.t('user_enrolments')} WHERE userid = ?`, [user.id]);
  await conn.query(`DELETE FROM ${db.t('cohort_members')} WHERE userid = ?`, [user.id]);
  await conn.query(`DELETE FROM ${db.t('user_info_data')} WHERE userid = ?`, [user.id]);
  await conn.query(`DELETE FROM ${db.t('user_preferences')} WHERE userid = ?`, [user.id]);
  await conn.query(`UPDATE ${db.t('user')} SET deleted = 1, username = ?, idnumber = '', email = ?, timemodified = ? WHERE id = ?`,
    [delname, createHash('md5').update(user.username).digest('hex'), now, user.id]);
  await touchCacheFlags(conn, db, 'accesslib/dirtyusers', [String(user.id)], now, now + sessionTimeout);
  await conn.query<ResultSetHeader>(
    `INSERT INTO ${db.t('tool_dataprivacy_request')} (type, comments, commentsformat, userid, requestedby, status, dpo, dpocomment, dpocommentformat, systemapproved, usermodified, timecreated, timemodified, creationmethod)
     VALUES (2, 'Automatically created upon user deletion.', 0, ?, ?, 2, 0, NULL, 0, 0, ?, ?, ?, 1)`,
    [user.id, actingUserId, actingUserId, now, now]);
}
