import type { RowDataPacket } from 'mysql2/promise';
import type { ChunkContext, DataRow, RowOutcome, Tool, ToolOperation, HeaderSpec } from './types';
import type { MoodleDb } from '../moodle/db';
import {
  findUsers, insertUsers, readUserSiteConfig, setPreferences, touchCacheFlags, updateUser, userContexts, type ExistingUser, type UserSiteConfig,
} from '../moodle/users';
import { softDeleteUser } from '../moodle/userDelete';
import { logEvents, withDeferredWrites } from '../moodle/deferred';
import { userContext, userCreated, userPasswordUpdated } from '../moodle/events';
import { hashPassword } from '../moodle/password';
import { siteIdentity } from '../moodle/site';
import { ENROLMENT_COLUMN, applyCohortColumns, applyEnrolmentColumns } from './userEnrolments';
import { accountKeys } from './usersKeys';

/**
 * The users tool (reference 5.2 under the spec's decisions): add/update, suspend, delete, restore.
 */

/** Columns that go straight to the user table, with how a value is checked. */
const USER_COLUMNS: Record<string, (v: string) => string | undefined> = {
  username: (v) => (/^[a-z0-9_.@-]{1,100}$/.test(v) ? undefined : 'use lowercase letters, digits and _ - . @ (100 at most)'),
  firstname: maxLength(100),
  lastname: maxLength(100),
  idnumber: maxLength(255),
  email: (v) => (v === '' || /^[^\s@]+@[^\s@]+$/.test(v) ? maxLength(100)(v) : 'not an e-mail address'),
  auth: (v) => (/^[a-z0-9_]{1,20}$/.test(v) ? undefined : 'not an authentication plugin name'),
  institution: maxLength(255),
  department: maxLength(255),
  city: maxLength(120),
  country: (v) => (v === '' || /^[A-Z]{2}$/.test(v) ? undefined : 'a two-letter country code such as FR'),
  lang: (v) => (/^[a-z]{2,3}(_[a-z0-9]+)*$/.test(v) ? undefined : 'a language code such as en or fr_ca'),
  timezone: maxLength(100),
  calendartype: maxLength(30),
  theme: maxLength(50),
  phone1: maxLength(20),
  phone2: maxLength(20),
  address: maxLength(255),
  description: () => undefined,
  middlename: maxLength(255),
  alternatename: maxLength(255),
  firstnamephonetic: maxLength(255),
  lastnamephonetic: maxLength(255),
  imagealt: maxLength(255),
  maildisplay: intIn(0, 2),
  mailformat: intIn(0, 1),
  maildigest: intIn(0, 2),
  autosubscribe: intIn(0, 1),
  trackforums: intIn(0, 1),
  emailstop: intIn(0, 1),
  suspended: intIn(0, 1),
  mnethostid: (v) => (/^\d+$/.test(v) ? undefined : 'a host id'),
};
/** Columns of the original that Moodle 5.1 no longer has: accepted, ignored. */
const GONE_COLUMNS = ['icq', 'url', 'htmleditor', 'aim', 'yahoo', 'msn', 'skype'];
const INT_COLUMNS = new Set(['maildisplay', 'mailformat', 'maildigest', 'autosubscribe', 'trackforums', 'emailstop', 'suspended', 'mnethostid']);

function maxLength(n: number) {
  return (v: string) => (v.length <= n ? undefined : `longer than ${n} characters`);
}
function intIn(min: number, max: number) {
  return (v: string) => (/^\d+$/.test(v) && Number(v) >= min && Number(v) <= max ? undefined : `a number from ${min} to ${max}`);
}

const PROFILE_FIELD = /^profile_field_(.+)$/;

async function profileFields(db: MoodleDb, q: { query: ChunkContext['conn']['query'] }): Promise<Map<string, number>> {
  const [rows] = await q.query<RowDataPacket[]>(`SELECT id, shortname FROM ${db.t('user_info_field')}`);
  return new Map(rows.map((r) => [String(r.shortname), Number(r.id)]));
}

const addHeader: HeaderSpec = {
  required: ['username', 'firstname', 'lastname'],
  optional: [...Object.keys(USER_COLUMNS).filter((c) => !['username', 'firstname', 'lastname'].includes(c)), 'password', 'deleted', 'oldusername', 'cohort', 'cohortid', ...GONE_COLUMNS],
  patterns: [PROFILE_FIELD, ENROLMENT_COLUMN],
  async check(header, db) {
    const wanted = header.map((h) => PROFILE_FIELD.exec(h)?.[1]).filter((s): s is string => !!s);
    if (!wanted.length) return [];
    const known = await profileFields(db, db.pool);
    const unknown = wanted.filter((s) => !known.has(s));
    return unknown.length ? [`no custom profile field ${unknown.map((u) => `"${u}"`).join(', ')} exists in Moodle (columns profile_field_<shortname>); known: ${[...known.keys()].join(', ') || 'none'}`] : [];
  },
};

type Key = 'id' | 'username' | 'idnumber' | 'email';
const KEYS: Key[] = ['id', 'username', 'idnumber', 'email'];

/** The accounts a chunk may touch, indexed by every identity (a chunk asks thousands of times). */
class AccountPool {
  private readonly index = new Map<Key, Map<string, ExistingUser[]>>(KEYS.map((k) => [k, new Map()]));

  constructor(users: ExistingUser[]) {
    users.forEach((u) => this.add(u));
  }

  add(u: ExistingUser): void {
    for (const k of KEYS) {
      const m = this.index.get(k)!;
      const key = String(u[k] ?? '');
      m.set(key, [...(m.get(key) ?? []), u]);
    }
  }

  /** Accounts whose `field` is `value`, in the order they were added. */
  with(field: string, value: unknown): ExistingUser[] {
    return this.index.get(field as Key)?.get(String(value ?? '')) ?? [];
  }

  /** Applies changes to an account and re-indexes it. */
  update(u: ExistingUser, changes: Record<string, unknown>): void {
    for (const k of KEYS) {
      const m = this.index.get(k)!;
      const key = String(u[k] ?? '');
      m.set(key, (m.get(key) ?? []).filter((x) => x !== u));
    }
    Object.assign(u, changes);
    this.add(u);
  }
}

/** Finds the account a row means, by the primary identity, else by username (reference 5.2.1 step 9). */
function locate(row: Record<string, string>, identity: string, pool: AccountPool): ExistingUser | undefined {
  const v = row[identity]?.trim();
  if (['id', 'idnumber', 'email'].includes(identity) && v) return pool.with(identity, v)[0];
  return pool.with('username', row.username)[0];
}

interface Prepared {
  row: DataRow;
  values: Record<string, string>;
  error?: string;
}

function normalise(row: DataRow, header: string[]): Prepared {
  const values: Record<string, string> = {};
  for (const h of header) values[h] = (row.values[h] ?? '').trim();
  if (values.username) values.username = values.username.toLowerCase();
  if (values.country) values.country = values.country.toUpperCase();
  if (values.lang) values.lang = values.lang.toLowerCase().replace('_utf8', '');
  for (const r of ['username', 'firstname', 'lastname']) {
    if (!values[r]) return { row, values, error: `column ${r} is empty` };
  }
  for (const [col, check] of Object.entries(USER_COLUMNS)) {
    if (!(col in values) || (values[col] === '' && col !== 'username')) continue;
    const why = check(values[col]);
    if (why) return { row, values, error: `column ${col}: "${values[col].slice(0, 60)}" is not accepted (${why})` };
  }
  if ('deleted' in values && !['', '0', '1'].includes(values.deleted)) return { row, values, error: `column deleted: "${values.deleted}" must be 1 (delete) or 0` };
  return { row, values };
}

/** The user-table columns a row sets (absent or empty optional columns set nothing). */
function userFields(values: Record<string, string>): Record<string, string | number> {
  const out: Record<string, string | number> = {};
  for (const col of Object.keys(USER_COLUMNS)) {
    if (!(col in values)) continue;
    if (values[col] === '' && !['email', 'idnumber'].includes(col)) continue;
    out[col] = INT_COLUMNS.has(col) ? Number(values[col]) : values[col];
  }
  return out;
}

const who = (u: { username: string; id?: number }) => `${u.username}${u.id ? ` (id ${u.id})` : ''}`;

async function applyAdd(ctx: ChunkContext, rows: DataRow[]): Promise<RowOutcome[]> {
  const { conn, db, settings, now } = ctx;
  const site = await readUserSiteConfig(conn, db);
  const identity = settings.users_primaryidentity || 'idnumber';
  const prepared = rows.map((r) => normalise(r, ctx.header));
  const live = prepared.filter((p) => !p.error);
  const pool = new AccountPool(await findUsers(conn, db, site.mnethostid, {
    usernames: live.flatMap((p) => [p.values.username, p.values.oldusername?.toLowerCase()].filter((s): s is string => !!s)),
    idnumbers: live.map((p) => p.values.idnumber).filter(Boolean),
    emails: live.map((p) => p.values.email).filter(Boolean),
    ids: identity === 'id' ? live.map((p) => Number(p.values.id)).filter((n) => n > 0) : [],
  }));
  const fieldIds = ctx.header.some((h) => PROFILE_FIELD.test(h)) ? await profileFields(db, conn) : new Map<string, number>();
  // Passwords are hashed together, on every core, before any write.
  const hashes = new Map<Prepared, string>();
  await Promise.all(live.map(async (p) => {
    const pw = p.values.password;
    if (pw && pw !== '*NOPASS*') hashes.set(p, await hashPassword(pw));
  }));

  const outcomes = new Map<Prepared, RowOutcome>();
  const accounts = new Map<Prepared, number>(); // rows applied to an account: their extra columns run next
  const creations: { p: Prepared; fields: Record<string, unknown> }[] = [];
  for (const p of prepared) {
    if (p.error) { outcomes.set(p, { status: 'failed', message: p.error }); continue; }
    const v = p.values;
    const existing = locate(v, identity, pool);
    // An account created earlier in this batch has no id yet: the batch is retried row by row (the pipeline's fallback), where this row sees it.
    if (rows.length > 1 && (existing?.id === 0 || (!!v.oldusername && pool.with('username', v.oldusername.toLowerCase()).some((u) => u.id === 0)))) throw new Error('a row names an account created earlier in the same batch');
    if (v.deleted === '1') {
      if (!existing || existing.deleted) { outcomes.set(p, { status: 'skipped', message: `no account ${v.username} to delete` }); continue; }
      await softDeleteUser(conn, db, existing, now, site.sessionTimeout, 2);
      existing.deleted = 1;
      outcomes.set(p, { status: 'applied', message: `user ${who(existing)} deleted` });
      continue;
    }
    let target = existing;
    if (settings.users_allowrename === '1' && v.oldusername) {
      const old = pool.with('username', v.oldusername.toLowerCase()).find((u) => !u.deleted);
      if (!old) { outcomes.set(p, { status: 'failed', message: `cannot rename ${v.oldusername} to ${v.username}: no account ${v.oldusername}` }); continue; }
      target = old;
    }
    const clash = collision(v, target, pool, identity)
      // The identity found an account under another username: a clash (reference 5.2.5 b), as renaming goes only through oldusername.
      ?? (target && target.username !== v.username && !(settings.users_allowrename === '1' && v.oldusername) ? `${identity} ${v[identity]} belongs to account ${target.username}, not ${v.username}` : undefined);
    if (clash) { outcomes.set(p, { status: 'failed', message: clash }); continue; }
    const fields = userFields(v);
    const hash = hashes.get(p);
    if (target) {
      const changes: Record<string, unknown> = {};
      for (const [k, val] of Object.entries(fields)) {
        if (k === 'email' && settings.users_protectemails === '1') continue;
        if (String(target[k] ?? '') !== String(val)) changes[k] = val;
      }
      if (target.deleted) changes.deleted = 0;
      if (v.password === '*NOPASS*') changes.password = '*NOPASS*';
      if (hash) changes.password = hash;
      if (Object.keys(changes).length) await updateUser(conn, db, target, changes, now, !!hash);
      if (hash) await passwordChanged(ctx, target.id, String(changes.auth ?? target.auth), site);
      if (v.password === '') await setPreferences(conn, db, [{ userid: target.id, name: 'create_password', value: '1' }]);
      await saveProfile(ctx, target.id, v, fieldIds);
      const what = [changes.deleted === 0 ? 'revived' : '', changes.username !== undefined ? `renamed from ${target.username}` : ''].filter(Boolean).join(', ');
      pool.update(target, changes);
      accounts.set(p, target.id);
      outcomes.set(p, { status: 'applied', message: `user ${who(target)} updated${what ? ` (${what})` : ''}${Object.keys(changes).length ? '' : ' (nothing changed)'}` });
    } else {
      const row: Record<string, unknown> = {
        auth: 'manual', confirmed: 1, mnethostid: site.mnethostid, city: site.city, country: site.country, lang: site.lang,
        timezone: '99', calendartype: 'gregorian', maildisplay: site.maildisplay, mailformat: site.mailformat, maildigest: site.maildigest,
        autosubscribe: site.autosubscribe, trackforums: site.trackforums, descriptionformat: 1, idnumber: '', email: '', password: '',
        ...fields, timecreated: now, timemodified: now,
      };
      if (hash) row.password = hash;
      else if (v.password === '*NOPASS*') row.password = '*NOPASS*';
      else if (v.password === '') row.password = 'to be generated';
      creations.push({ p, fields: row });
      // Later rows of this chunk see the new account (a file may name a user twice).
      pool.add({ id: 0, username: String(row.username), idnumber: String(row.idnumber), email: String(row.email), deleted: 0, suspended: Number(row.suspended ?? 0), auth: String(row.auth), mnethostid: site.mnethostid });
    }
  }

  if (creations.length) {
    const ids = await insertUsers(conn, db, creations.map((c) => c.fields), site.mnethostid);
    const newIds = creations.map((c) => ids.get(String(c.fields.username))!);
    const contextOf = await userContexts(conn, db, newIds);
    // user_create_user: a password set through the auth plugin logs user_password_updated before user_created.
    await logEvents(conn, db, now, creations.flatMap((c, i) => {
      const uctx = userContext(contextOf.get(newIds[i])!, newIds[i]);
      return hashes.has(c.p) ? [userPasswordUpdated(uctx), userCreated(uctx)] : [userCreated(uctx)];
    }));
    const prefs: { userid: number; name: string; value: string }[] = [];
    const prefUsers: number[] = [];
    creations.forEach((c, i) => {
      const id = newIds[i];
      const pw = c.p.values.password;
      if (hashes.has(c.p) && c.fields.auth === 'manual') { prefs.push({ userid: id, name: 'auth_manual_passwordupdatetime', value: String(now) }); prefUsers.push(id); }
      if (pw === '') prefs.push({ userid: id, name: 'create_password', value: '1' });
      else if (!('password' in c.p.values) && settings.users_createpasswords === '1') {
        prefs.push({ userid: id, name: 'create_password', value: '1' }, { userid: id, name: 'auth_forcepasswordchange', value: '1' });
      }
      const entry = pool.with('username', c.fields.username).find((u) => u.id === 0);
      if (entry) pool.update(entry, { id, contextid: contextOf.get(id) });
      outcomes.set(c.p, { status: 'applied', message: `user ${who({ username: String(c.fields.username), id })} created` });
      accounts.set(c.p, id);
    });
    await setPreferences(conn, db, prefs);
    await touchCacheFlags(conn, db, 'userpreferenceschanged', prefUsers.map(String), now, now + site.sessionTimeout);
    for (const [i, c] of creations.entries()) await saveProfile(ctx, newIds[i], c.p.values, fieldIds);
  }
  let siteName: Promise<string> | undefined; // read once per chunk, when the first mail needs it
  for (const [p, userid] of accounts) {
    const extras = [await applyCohortColumns(ctx, userid, p.values), await applyEnrolmentColumns(ctx, userid, p.values, site.sessionTimeout)];
    const done = extras.flatMap((e) => e.done);
    const errors = extras.flatMap((e) => e.errors);
    const o = outcomes.get(p)!;
    if (done.length) o.message += `; ${done.join('; ')}`;
    // The account is there; a failed enrolment sends the line to the tryback, whose replay is harmless.
    if (errors.length) outcomes.set(p, { status: 'failed', message: `${o.message}; NOT DONE: ${errors.join('; ')}` });
    if (hashes.has(p) && settings.users_sendpasswordtousers === '1') {
      siteName ??= siteIdentity(db).then((site) => site.fullname);
      mailPassword(ctx, p.values, await siteName);
    }
  }
  return prepared.map((p) => outcomes.get(p)!);
}

/** The original's password notification, sent only once the account is committed. */
function mailPassword(ctx: ChunkContext, v: Record<string, string>, site: string): void {
  if (!v.email || /NO ?MAIL/i.test(v.email)) return;
  ctx.sendMail(v.email, `Your credentials on ${site}`,
    `Hello ${v.firstname} ${v.lastname},\n\nAn account has been set for you on ${site}.\n\nUsername: ${v.username}\nPassword: ${v.password}\n\nPlease change your password when you first log in.\n`);
}

/**
 * A genuine clash with another account (spec decision 5): the username, or the primary identity
 * value, belongs to an account other than the one the row updates. E-mail changes and shared
 * e-mails are not clashes (the original's sample files rely on that).
 */
function collision(v: Record<string, string>, target: ExistingUser | undefined, pool: AccountPool, identity: string): string | undefined {
  const other = (u: ExistingUser) => u !== target && !u.deleted;
  const sameName = pool.with('username', v.username).find(other);
  if (sameName) return `username ${v.username} is already used by another account (${sameName.id ? `id ${sameName.id}` : 'created earlier in this file'})`;
  const key = v[identity];
  if (identity !== 'username' && key) {
    const sameKey = pool.with(identity, key).find(other);
    if (sameKey) return `${identity} ${key} already belongs to account ${sameKey.username}`;
  }
  return undefined;
}

async function passwordChanged(ctx: ChunkContext, userid: number, auth: string, site: UserSiteConfig): Promise<void> {
  if (auth !== 'manual') return;
  await setPreferences(ctx.conn, ctx.db, [{ userid, name: 'auth_manual_passwordupdatetime', value: String(ctx.now) }]);
  await touchCacheFlags(ctx.conn, ctx.db, 'userpreferenceschanged', [String(userid)], ctx.now, ctx.now + site.sessionTimeout);
}

async function saveProfile(ctx: ChunkContext, userid: number, values: Record<string, string>, fieldIds: Map<string, number>): Promise<void> {
  const data = Object.entries(values).flatMap(([k, v]) => {
    const shortname = PROFILE_FIELD.exec(k)?.[1];
    return shortname && fieldIds.has(shortname) ? [[userid, fieldIds.get(shortname)!, v, 0]] : [];
  });
  if (!data.length) return;
  await ctx.conn.query(`INSERT INTO ${ctx.db.t('user_info_data')} (userid, fieldid, data, dataformat) VALUES ? ON DUPLICATE KEY UPDATE data = VALUES(data)`, [data]);
}

// ---- suspend, restore, delete files: one column names the user (users_primaryidentity) ----

const listHeader: HeaderSpec = { required: [], optional: ['username', 'idnumber', 'email', 'id'] };

function identityColumn(settings: Record<string, string>, header: string[]): string {
  const identity = settings.users_primaryidentity || 'idnumber';
  return header.includes(identity) ? identity : 'username';
}

async function locateListed(ctx: ChunkContext, rows: DataRow[]) {
  const site = await readUserSiteConfig(ctx.conn, ctx.db);
  const column = identityColumn(ctx.settings, ctx.header);
  const keys = rows.map((r) => (r.values[column] ?? '').trim()).map((k) => (column === 'username' ? k.toLowerCase() : k));
  const pool = new AccountPool(await findUsers(ctx.conn, ctx.db, site.mnethostid, {
    usernames: column === 'username' ? keys.filter(Boolean) : [],
    idnumbers: column === 'idnumber' ? keys.filter(Boolean) : [],
    emails: column === 'email' ? keys.filter(Boolean) : [],
    ids: column === 'id' ? keys.map(Number).filter((n) => n > 0) : [],
  }));
  return { site, column, found: keys.map((k) => (k ? pool.with(column, k).find((u) => !u.deleted) : undefined)), keys };
}

function listOperation(op: string, locationSetting: string, summary: string, act: (ctx: ChunkContext, user: ExistingUser, site: UserSiteConfig) => Promise<string>): ToolOperation {
  return {
    tool: 'users', op, summary, locationSetting,
    header: { ...listHeader, check: async (header, _db, settings) => (header.includes(identityColumn(settings, header)) ? [] : [`a column "${settings.users_primaryidentity || 'idnumber'}" (users_primaryidentity) or "username" is required`]) },
    apply: (ctx, rows) => withDeferredWrites(ctx.conn, ctx.db, async () => {
      const { site, column, found, keys } = await locateListed(ctx, rows);
      const out: RowOutcome[] = [];
      for (const [i, user] of found.entries()) {
        if (!keys[i]) out.push({ status: 'failed', message: `column ${column} is empty` });
        else if (!user) out.push({ status: 'skipped', message: `no account with ${column} ${keys[i]}` });
        else out.push({ status: 'applied', message: await act(ctx, user, site) });
      }
      return out;
    }),
  };
}

export const usersTool: Tool = {
  name: 'users',
  defaultOp: 'add',
  syncAll: ['add', 'suspend', 'delete'],
  operations: [
    {
      tool: 'users', op: 'add', summary: 'create or update users', locationSetting: 'users_filelocation', header: addHeader, chunkSize: 1000, secretColumns: ['password'],
      // Cache flags and event log rows of the whole chunk are written together at its end.
      apply: (ctx, rows) => withDeferredWrites(ctx.conn, ctx.db, () => applyAdd(ctx, rows)),
      rowKeys: accountKeys,
    },
    listOperation('suspend', 'users_suspendfilelocation', 'suspend users', async (ctx, u) => {
      if (u.suspended) return `user ${who(u)} already suspended`;
      await updateUser(ctx.conn, ctx.db, u, { suspended: 1 }, ctx.now);
      return `user ${who(u)} suspended`;
    }),
    listOperation('restore', 'users_restorefilelocation', 'unsuspend users', async (ctx, u) => {
      if (!u.suspended) return `user ${who(u)} was not suspended`;
      await updateUser(ctx.conn, ctx.db, u, { suspended: 0 }, ctx.now);
      return `user ${who(u)} restored (unsuspended)`;
    }),
    listOperation('delete', 'users_deletefilelocation', 'delete users (Moodle soft delete)', async (ctx, u, site) => {
      await softDeleteUser(ctx.conn, ctx.db, u, ctx.now, site.sessionTimeout, 2);
      return `user ${who(u)} deleted`;
    }),
  ],
};
