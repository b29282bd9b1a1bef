import type { PoolConnection, RowDataPacket } from 'mysql2/promise';
import type { MoodleDb } from './db';
import { logEvents } from './deferred';
import { insertRowsWithIds, insertWithIds } from './rows';
import { CONTEXT_USER, userContext, userPasswordUpdated, userUpdated } from './events';

// Cache flags and the batch that defers them live in ./deferred; re-exported for the modules that take them from here.
export { touchCacheFlags } from './deferred';

/**
 * Write primitives for users, matching what Moodle 5.1.3's own API writes
 * (../shared/spec/moodle-writes.md: create / update / delete a user, preferences, cache flags).
 * Multi-row statements: a chunk of users costs a handful of round trips, not several per user.
 */

export { CONTEXT_USER };

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
  /** The user's context (level 30), when it exists. */
  contextid?: number | null;
  [column: string]: unknown;
}

/** Users of a host matching any of the given usernames, idnumbers, emails or ids, with their contexts, in one query. */
export async function findUsers(conn: PoolConnection, db: MoodleDb, mnethostid: number, keys: { usernames: string[]; idnumbers: string[]; emails: string[]; ids: number[] }): Promise<ExistingUser[]> {
  const clauses: string[] = [];
  const params: unknown[] = [mnethostid];
  const add = (column: string, values: unknown[]) => {
    if (!values.length) return;
    clauses.push(`u.${column} IN (?)`);
    params.push(values);
  };
  add('username', keys.usernames);
  add('idnumber', keys.idnumbers);
  add('email', keys.emails);
  add('id', keys.ids);
  if (!clauses.length) return [];
  const [rows] = await conn.query<RowDataPacket[]>(
    `SELECT u.*, x.id AS contextid FROM ${db.t('user')} u LEFT JOIN ${db.t('context')} x ON x.contextlevel = ${CONTEXT_USER} AND x.instanceid = u.id
      WHERE u.mnethostid = ? AND (${clauses.join(' OR ')})`, params);
  return rows as ExistingUser[];
}

/** Inserts users (one statement) and returns their ids by username. */
export async function insertUsers(conn: PoolConnection, db: MoodleDb, users: Record<string, unknown>[], mnethostid: number): Promise<Map<string, number>> {
  const usernames = users.map((u) => String(u.username));
  return insertRowsWithIds(conn, db, 'user', users, usernames, async () => {
    const [rows] = await conn.query<RowDataPacket[]>(`SELECT id, username FROM ${db.t('user')} WHERE mnethostid = ? AND username IN (?)`, [mnethostid, usernames]);
    return new Map(rows.map((r) => [String(r.username), Number(r.id)]));
  });
}

/** The user contexts (level 30, path /1/<id>, depth 2), as context_user::instance creates them; their ids by user id. */
export async function insertUserContexts(conn: PoolConnection, db: MoodleDb, userIds: number[]): Promise<Map<number, number>> {
  if (!userIds.length) return new Map();
  const ids = await insertWithIds(conn, `INSERT INTO ${db.t('context')} (contextlevel, instanceid, depth, path, locked) VALUES ?`,
    [userIds.map((id) => [CONTEXT_USER, id, 2, null, 0])], userIds, async () => userContextIds(conn, db, userIds));
  // The path holds the context's own id: known only once inserted.
  await conn.query(`UPDATE ${db.t('context')} SET path = CONCAT('/1/', id) WHERE id IN (?)`, [[...ids.values()]]);
  return ids;
}

async function userContextIds(conn: PoolConnection, db: MoodleDb, userIds: number[]): Promise<Map<number, number>> {
  const [rows] = await conn.query<RowDataPacket[]>(`SELECT id, instanceid FROM ${db.t('context')} WHERE contextlevel = ? AND instanceid IN (?)`, [CONTEXT_USER, userIds]);
  return new Map(rows.map((r) => [Number(r.instanceid), Number(r.id)]));
}

/** The users' contexts by user id, created first where missing (context_user::instance). */
export async function userContexts(conn: PoolConnection, db: MoodleDb, userIds: number[]): Promise<Map<number, number>> {
  if (!userIds.length) return new Map();
  const found = await userContextIds(conn, db, userIds);
  const missing = userIds.filter((id) => !found.has(id));
  for (const [u, x] of await insertUserContexts(conn, db, missing)) found.set(u, x);
  return found;
}

/** Sets preferences (insert, or update in place), as set_user_preference does. */
export async function setPreferences(conn: PoolConnection, db: MoodleDb, prefs: { userid: number; name: string; value: string }[]): Promise<void> {
  if (!prefs.length) return;
  await conn.query(`INSERT INTO ${db.t('user_preferences')} (userid, name, value) VALUES ? ON DUPLICATE KEY UPDATE value = VALUES(value)`,
    [prefs.map((p) => [p.userid, p.name, p.value])]);
}

/**
 * user_update_user: the changed columns of one user, with timemodified, and its events: with a new
 * password (`passwordUpdated`), user_password_updated first, as update_internal_user_password logs it.
 */
export async function updateUser(conn: PoolConnection, db: MoodleDb, user: { id: number; contextid?: number | null }, changes: Record<string, unknown>, now: number,
  passwordUpdated = false): Promise<void> {
  const cols = Object.keys(changes);
  await conn.query(`UPDATE ${db.t('user')} SET ${[...cols.map((c) => `\`${c}\` = ?`), 'timemodified = ?'].join(', ')} WHERE id = ?`, [...cols.map((c) => changes[c]), now, user.id]);
  const ctx = userContext(user.contextid ?? (await userContexts(conn, db, [user.id])).get(user.id)!, user.id);
  await logEvents(conn, db, now, passwordUpdated ? [userPasswordUpdated(ctx), userUpdated(ctx)] : [userUpdated(ctx)]);
}
