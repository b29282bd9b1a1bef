import type { RowDataPacket } from 'mysql2/promise';
import type { ChunkContext, DataRow, HeaderSpec, RowOutcome, Tool } from './types';
import {
  categoryContext, cohortMembers, createCohort, findCohorts, instancesOfCohort, readCohortEnrolSite, removeCohortMember, updateCohort,
  type Cohort, type CohortChanges, type CohortEnrolSite, type CohortInstance,
} from '../moodle/cohorts';
import { addCounts, deleteCohort, syncCohortEnrolments, type SyncCounts } from '../moodle/cohortSync';
import { addCohortMember } from '../moodle/enrol';
import { readUserSiteConfig } from '../moodle/users';
import { RowError, cohortField, cohortLabel, describeInstanceSync, describeMemberEffects, eachRow, instanceLabel, lookupCohort } from './cohortCommon';
import { bindingsOperation, roleNames } from './cohortBindings';

/**
 * The cohorts tool (reference 5.5 under the spec's decisions): `members` creates, updates, fills,
 * empties and deletes cohorts (cmd add / del / free); `bindings` binds cohorts to courses through
 * the cohort enrolment method. Every membership change enrols or unenrols in the courses that
 * follow the cohort, in the same transaction, as Moodle's cohort plugin does when it hears of it.
 */

const COMMANDS = ['add', 'del', 'free'] as const;
type Command = (typeof COMMANDS)[number];
const COLUMNS = ['cmd', 'cid', 'cname', 'cidnumber', 'userid', 'cdescription', 'ccatcontext', 'ccatcontextidnumber', 'component'];

/**
 * The column naming the cohort: c<identifier> (cid, cidnumber, cname). A file without it may carry
 * the identifier's value in `cid`, as the original's cohort_delete_sample.csv does with names.
 */
export function keyColumn(header: string[], settings: Record<string, string>): string | undefined {
  const own = `c${cohortField(settings)}`;
  if (header.includes(own)) return own;
  return header.includes('cid') ? 'cid' : undefined;
}

const header: HeaderSpec = {
  required: [],
  optional: COLUMNS,
  async check(h, _db, settings) {
    if (keyColumn(h, settings)) return [];
    const field = cohortField(settings);
    return [`no cohort key column: cohorts_cohortidentifier is ${field}, so cohorts are named in column "c${field}" (or "cid")`];
  },
};

interface Chunk { ctx: ChunkContext; site: CohortEnrolSite; mnethostid: number; roles: Map<number, string>; key: string }

const USER_COLUMNS: Record<string, string> = { id: 'id', idnumber: 'idnumber', username: 'username', email: 'email' };

async function findUser(c: Chunk, value: string): Promise<{ id: number; username: string } | undefined> {
  const field = USER_COLUMNS[c.ctx.settings.cohorts_useridentifier] ?? 'idnumber';
  if (field === 'id' && !/^\d+$/.test(value)) throw new RowError(`userid: "${value}" is not a user id (cohorts_useridentifier is id)`);
  const [rows] = await c.ctx.conn.query<RowDataPacket[]>(
    `SELECT id, username FROM ${c.ctx.db.t('user')} WHERE \`${field}\` = ? AND deleted = 0 AND mnethostid = ? ORDER BY id LIMIT 2`, [value, c.mnethostid]);
  if (rows.length > 1) throw new RowError(`userid: more than one user has ${field} "${value}"`);
  return rows.length ? { id: Number(rows[0].id), username: String(rows[0].username) } : undefined;
}

const userField = (c: Chunk) => USER_COLUMNS[c.ctx.settings.cohorts_useridentifier] ?? 'idnumber';

/** The cohort's context from ccatcontext (category id) or ccatcontextidnumber; undefined when neither is given. */
async function contextFromRow(c: Chunk, v: (col: string) => string): Promise<number | undefined> {
  for (const [col, field] of [['ccatcontext', 'id'], ['ccatcontextidnumber', 'idnumber']] as const) {
    const value = v(col);
    if (!value) continue;
    if (field === 'id' && !/^\d+$/.test(value)) throw new RowError(`${col}: "${value}" is not a course category id`);
    const id = await categoryContext(c.ctx.conn, c.ctx.db, field, value);
    if (id === undefined) throw new RowError(`${col}: no course category with ${field} "${value}"`);
    return id;
  }
  return undefined;
}

/** A name or idnumber another cohort already has is a conflict (reference: cohortconflict). */
async function checkConflicts(c: Chunk, name: string | undefined, idnumber: string | null | undefined, self?: number): Promise<void> {
  const by = cohortField(c.ctx.settings);
  for (const [field, col, value] of [['name', 'cname', name], ['idnumber', 'cidnumber', idnumber]] as const) {
    if (!value) continue;
    const other = (await findCohorts(c.ctx.conn, c.ctx.db, field, value)).find((o) => o.id !== self);
    if (other) throw new RowError(`${col}: conflict: cohort ${other.id} ${cohortLabel(other)} already has ${field} "${value}" (cohorts are identified by ${by})`);
  }
}

async function createFromRow(c: Chunk, key: string, v: (col: string) => string): Promise<Cohort> {
  const field = cohortField(c.ctx.settings);
  if (c.ctx.settings.cohorts_autocreate === '0') throw new RowError(`${c.key}: no cohort with ${field} "${key}" (cohorts_autocreate is off)`);
  if (field === 'id') throw new RowError(`${c.key}: no cohort with id ${key}; cohorts named by id cannot be created (Moodle gives the id)`);
  const name = field === 'name' ? key : v('cname');
  if (!name) throw new RowError(`cname: empty; the new cohort ${field} "${key}" needs a name`);
  const idnumber = field === 'idnumber' ? key : v('cidnumber') || null;
  await checkConflicts(c, name, idnumber);
  const contextid = (await contextFromRow(c, v)) ?? 1;
  const cohort = { contextid, name, idnumber, description: v('cdescription'), component: v('component') };
  return { ...cohort, id: await createCohort(c.ctx.conn, c.ctx.db, cohort, c.ctx.now) };
}

/** Updates of an existing cohort: description, name and idnumber (other than the key), category. Returns the columns changed. */
async function updateFromRow(c: Chunk, cohort: Cohort, v: (col: string) => string): Promise<{ changed: string[]; cohort: Cohort }> {
  const field = cohortField(c.ctx.settings);
  const changes: CohortChanges = {};
  if (v('cdescription')) changes.description = v('cdescription');
  if (field !== 'name' && v('cname')) changes.name = v('cname');
  if (field !== 'idnumber' && v('cidnumber')) changes.idnumber = v('cidnumber');
  const contextid = await contextFromRow(c, v);
  if (contextid !== undefined) changes.contextid = contextid;
  await checkConflicts(c, changes.name !== cohort.name ? changes.name : undefined, changes.idnumber !== cohort.idnumber ? changes.idnumber : undefined, cohort.id);
  const changed = await updateCohort(c.ctx.conn, c.ctx.db, cohort, changes, c.ctx.now);
  return { changed, cohort: { ...cohort, ...changes } };
}

/** The membership of `userid` changed: the cohort's courses follow at once, as enrol_cohort's observers do. */
async function follow(c: Chunk, cohortid: number, userid: number): Promise<string[]> {
  const instances = await instancesOfCohort(c.ctx.conn, c.ctx.db, cohortid);
  if (!instances.length) return [];
  return describeMemberEffects(instances, await syncCohortEnrolments(c.ctx.conn, c.ctx.db, instances, c.site, c.ctx.now, [userid]), c.roles);
}

async function applyAdd(c: Chunk, key: string, v: (col: string) => string): Promise<RowOutcome> {
  const notes: string[] = [];
  let cohort = await lookupCohort(c.ctx, c.key, key);
  if (!cohort) {
    cohort = await createFromRow(c, key, v);
    notes.push(`cohort ${cohortLabel(cohort)} created`);
  } else {
    let changed: string[];
    ({ changed, cohort } = await updateFromRow(c, cohort, v));
    notes.push(`cohort ${cohortLabel(cohort)} ${changed.length ? `updated (${changed.join(', ')})` : 'exists'}`);
  }
  const uid = v('userid');
  if (!uid) return { status: 'applied', message: notes.join('; ') };
  const user = await findUser(c, uid);
  // The cohort stands (reference: the cohort is still created or updated); the line goes to the tryback for the member.
  if (!user) return { status: 'failed', message: `${notes.join('; ')}; NOT DONE: userid: no user with ${userField(c)} "${uid}"` };
  if (!(await addCohortMember(c.ctx.conn, c.ctx.db, cohort.id, user.id, c.ctx.now))) {
    notes.push(`user ${user.username} already a member`);
  } else {
    notes.push(`user ${user.username} added`, ...(await follow(c, cohort.id, user.id)));
  }
  return { status: 'applied', message: notes.join('; ') };
}

async function applyDel(c: Chunk, cohort: Cohort, v: (col: string) => string): Promise<RowOutcome> {
  const uid = v('userid');
  if (uid) {
    // Decision 13: an unknown user is a row error, never a reason to delete the cohort.
    const user = await findUser(c, uid);
    if (!user) throw new RowError(`userid: no user with ${userField(c)} "${uid}"; the cohort is kept (leave userid empty to delete the cohort)`);
    if (!(await removeCohortMember(c.ctx.conn, c.ctx.db, cohort, user.id, c.ctx.now))) {
      return { status: 'applied', message: `cohort ${cohortLabel(cohort)}: user ${user.username} was not a member, nothing to do` };
    }
    const effects = await follow(c, cohort.id, user.id);
    return { status: 'applied', message: [`cohort ${cohortLabel(cohort)}: user ${user.username} removed`, ...effects].join('; ') };
  }
  const r = await deleteCohort(c.ctx.conn, c.ctx.db, cohort, c.site, c.ctx.now);
  const notes = [`cohort ${cohortLabel(cohort)} deleted`];
  const where = (list: CohortInstance[]) => list.map((i) => instanceLabel(i, c.roles)).join(', ');
  if (r.deleted.length) notes.push(`its enrolments in ${where(r.deleted)} deleted`);
  if (r.disabled.length) notes.push(`its enrolments in ${where(r.disabled)} disabled (enrol_cohort unenrolaction ${c.site.unenrolAction})`);
  return { status: 'applied', message: notes.join('; ') };
}

/** cohort_remove_member for every member in turn, each followed by its courses as its own removal would be. */
async function applyFree(c: Chunk, cohort: Cohort): Promise<RowOutcome> {
  const members = await cohortMembers(c.ctx.conn, c.ctx.db, cohort.id);
  const instances = members.length ? await instancesOfCohort(c.ctx.conn, c.ctx.db, cohort.id) : [];
  const counts = new Map<number, SyncCounts>();
  for (const userid of members) {
    await removeCohortMember(c.ctx.conn, c.ctx.db, cohort, userid, c.ctx.now);
    if (instances.length) addCounts(counts, await syncCohortEnrolments(c.ctx.conn, c.ctx.db, instances, c.site, c.ctx.now, [userid]));
  }
  const n = members.length;
  const effects = instances.map((i) => `${instanceLabel(i, c.roles)}: ${describeInstanceSync(counts.get(i.id))}`);
  return { status: 'applied', message: [`cohort ${cohortLabel(cohort)} freed: ${n} member${n === 1 ? '' : 's'} removed`, ...effects].join('; ') };
}

async function applyRow(c: Chunk, row: DataRow): Promise<RowOutcome> {
  const v = (col: string) => (row.values[col] ?? '').trim();
  const cmd = (v('cmd').toLowerCase() || 'add') as Command;
  if (!COMMANDS.includes(cmd)) throw new RowError(`cmd: "${v('cmd')}" is not a command; use ${COMMANDS.join(', ')}`);
  const key = v(c.key);
  if (!key) throw new RowError(`${c.key}: empty (cohorts are found by ${cohortField(c.ctx.settings)})`);
  if (cmd === 'add') return applyAdd(c, key, v);
  const cohort = await lookupCohort(c.ctx, c.key, key);
  if (!cohort) throw new RowError(`${c.key}: no cohort with ${cohortField(c.ctx.settings)} "${key}"`);
  return cmd === 'del' ? applyDel(c, cohort, v) : applyFree(c, cohort);
}

async function applyMembers(ctx: ChunkContext, rows: DataRow[]): Promise<RowOutcome[]> {
  const c: Chunk = {
    ctx,
    site: await readCohortEnrolSite(ctx.conn, ctx.db),
    mnethostid: (await readUserSiteConfig(ctx.conn, ctx.db)).mnethostid,
    roles: await roleNames(ctx),
    key: keyColumn(ctx.header, ctx.settings)!,
  };
  return eachRow(ctx, rows, 'msync_cohorts_row', (row) => applyRow(c, row));
}

export const cohortsTool: Tool = {
  name: 'cohorts',
  defaultOp: 'members',
  syncAll: ['members', 'bindings'],
  operations: [
    { tool: 'cohorts', op: 'members', summary: 'create, update, fill, empty and delete cohorts; enrolments follow', locationSetting: 'cohorts_filelocation', header, chunkSize: 500, apply: applyMembers },
    bindingsOperation,
  ],
};
