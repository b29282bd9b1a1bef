import type { PoolConnection, ResultSetHeader, RowDataPacket } from 'mysql2/promise';
import type { MoodleDb } from './db';
import { touchCacheFlags } from './users';
import { logEvents } from './deferred';
import {
  ACTING_USER, cohortCreated, cohortMemberAdded, courseContext, enrolInstanceUpdated, roleAssigned, roleUnassigned, systemContext,
  userEnrolmentCreated, userEnrolmentDeleted, userEnrolmentUpdated, type UserEnrolmentRow,
} from './events';
import { courseEventContext, eventContext, eventContexts } from './eventContexts';
import { removeGroupMemberships } from './groups';

// Group primitives live in ./groups; re-exported for the tools that take them from here.
export { addGroupMember, findGroup, findOrCreateGroup, removeGroupMemberships } from './groups';

/**
 * Enrolments, role assignments, groups and cohorts as Moodle's API writes them
 * (moodle-writes.md: enrol a user with the manual plugin, role_assign, groups_create_group,
 * groups_add_member, cohort_add_cohort, cohort_add_member).
 */

export const CONTEXT_COURSE = 50;
// The acting user of our writes (modifierid, the log's userid) is defined with the events.
export { ACTING_USER };

export interface CourseRef { id: number; contextid: number; shortname: string }

/** A course and its context, by id, idnumber or shortname (never the site course). */
export async function findCourse(conn: PoolConnection, db: MoodleDb, field: string, value: string): Promise<CourseRef | undefined> {
  const column = field === 'id' ? 'c.id' : field === 'idnumber' ? 'c.idnumber' : 'c.shortname';
  const [rows] = await conn.query<RowDataPacket[]>(
    `SELECT c.id, c.shortname, x.id AS contextid FROM ${db.t('course')} c JOIN ${db.t('context')} x ON x.contextlevel = ? AND x.instanceid = c.id
      WHERE ${column} = ? AND c.id <> 1 LIMIT 2`, [CONTEXT_COURSE, value]);
  if (rows.length !== 1) return undefined;
  return { id: Number(rows[0].id), contextid: Number(rows[0].contextid), shortname: String(rows[0].shortname) };
}

export async function findRole(conn: PoolConnection, db: MoodleDb, shortname: string): Promise<number | undefined> {
  const [rows] = await conn.query<RowDataPacket[]>(`SELECT id FROM ${db.t('role')} WHERE shortname = ?`, [shortname]);
  return rows.length ? Number(rows[0].id) : undefined;
}

/** The first enabled instance of an enrol plugin in a course, by sortorder. */
export async function findEnrolInstance(conn: PoolConnection, db: MoodleDb, courseid: number, plugin: string): Promise<{ id: number; roleid: number } | undefined> {
  const [rows] = await conn.query<RowDataPacket[]>(
    `SELECT id, roleid FROM ${db.t('enrol')} WHERE courseid = ? AND enrol = ? AND status = 0 ORDER BY sortorder, id LIMIT 1`, [courseid, plugin]);
  return rows.length ? { id: Number(rows[0].id), roleid: Number(rows[0].roleid) } : undefined;
}

/** role_assign with component '' and itemid 0, unless the same assignment exists; marks the user dirty; role_assigned. */
export async function assignRole(conn: PoolConnection, db: MoodleDb, roleid: number, contextid: number, userid: number, now: number, sessionTimeout: number): Promise<boolean> {
  const [have] = await conn.query<RowDataPacket[]>(
    `SELECT id FROM ${db.t('role_assignments')} WHERE roleid = ? AND contextid = ? AND userid = ? AND component = '' AND itemid = 0`, [roleid, contextid, userid]);
  if (have.length) return false;
  const [res] = await conn.query<ResultSetHeader>(
    `INSERT INTO ${db.t('role_assignments')} (roleid, contextid, userid, timemodified, modifierid, component, itemid, sortorder) VALUES (?, ?, ?, ?, ?, '', 0, 0)`,
    [roleid, contextid, userid, now, ACTING_USER]);
  await touchCacheFlags(conn, db, 'accesslib/dirtyusers', [String(userid)], now, now + sessionTimeout);
  await logEvents(conn, db, now, [roleAssigned(await eventContext(conn, db, contextid), { id: res.insertId, roleid, userid, component: '', itemid: 0 })]);
  return true;
}

export interface EnrolmentChange { action: 'insert' | 'update' | 'none'; timestart: number; timeend: number }

/** What enrol_user does to a user enrolment: create it, change its dates, or nothing. An undefined date keeps the enrolment's own (new: now, no end). */
export function enrolmentChange(have: { timestart: number; timeend: number } | undefined, start: number | undefined, end: number | undefined, now: number): EnrolmentChange {
  const timestart = start ?? (have ? have.timestart : now);
  const timeend = end ?? (have ? have.timeend : 0);
  if (!have) return { action: 'insert', timestart, timeend };
  return { action: have.timestart !== timestart || have.timeend !== timeend ? 'update' : 'none', timestart, timeend };
}

/** enrol_user's outcome as a word: a role added to an unchanged enrolment counts as updated. */
export const enrolResult = (action: EnrolmentChange['action'], roleAssigned: boolean): 'enrolled' | 'updated' | 'unchanged' =>
  action === 'insert' ? 'enrolled' : action === 'update' || roleAssigned ? 'updated' : 'unchanged';

/**
 * enrol_plugin::enrol_user: the user enrolment (created: user_enrolment_created, or its dates
 * updated: user_enrolment_updated), then the role assignment in the course context.
 */
export async function enrolUser(conn: PoolConnection, db: MoodleDb, enrolid: number, course: CourseRef, userid: number, roleid: number | undefined, start: number | undefined, end: number | undefined, now: number, sessionTimeout: number): Promise<'enrolled' | 'updated' | 'unchanged'> {
  const [found] = await conn.query<RowDataPacket[]>(
    `SELECT e.enrol, ue.id, ue.timestart, ue.timeend FROM ${db.t('enrol')} e LEFT JOIN ${db.t('user_enrolments')} ue ON ue.enrolid = e.id AND ue.userid = ? WHERE e.id = ?`,
    [userid, enrolid]);
  if (!found.length) throw new Error(`enrol instance ${enrolid} does not exist`);
  const plugin = String(found[0].enrol);
  const have = found[0].id === null ? undefined : { id: Number(found[0].id), timestart: Number(found[0].timestart), timeend: Number(found[0].timeend) };
  const change = enrolmentChange(have, start, end, now);
  if (change.action === 'insert') {
    const [res] = await conn.query<ResultSetHeader>(
      `INSERT INTO ${db.t('user_enrolments')} (status, enrolid, userid, timestart, timeend, modifierid, timecreated, timemodified) VALUES (0, ?, ?, ?, ?, ?, ?, ?)`,
      [enrolid, userid, change.timestart, change.timeend, ACTING_USER, now, now]);
    await logEvents(conn, db, now, [userEnrolmentCreated(courseContext(course), res.insertId, userid, plugin)]);
  } else if (change.action === 'update') {
    await conn.query(`UPDATE ${db.t('user_enrolments')} SET timestart = ?, timeend = ?, modifierid = ?, timemodified = ? WHERE id = ?`, [change.timestart, change.timeend, ACTING_USER, now, have!.id]);
    await logEvents(conn, db, now, [userEnrolmentUpdated(courseContext(course), have!.id, userid, plugin)]);
  }
  const assigned = roleid ? await assignRole(conn, db, roleid, course.contextid, userid, now, sessionTimeout) : false;
  if (change.action !== 'none' && !assigned) await touchCacheFlags(conn, db, 'accesslib/dirtyusers', [String(userid)], now, now + sessionTimeout);
  return enrolResult(change.action, assigned);
}

export async function hasRoleInContext(conn: PoolConnection, db: MoodleDb, contextid: number, userid: number): Promise<boolean> {
  const [rows] = await conn.query<RowDataPacket[]>(`SELECT 1 FROM ${db.t('role_assignments')} WHERE contextid = ? AND userid = ? LIMIT 1`, [contextid, userid]);
  return rows.length > 0;
}

/** A system cohort by name, created as cohort_add_cohort makes it when missing (cohort_created). */
export async function findOrCreateCohort(conn: PoolConnection, db: MoodleDb, name: string, idnumber: string | undefined, now: number): Promise<{ id: number; created: boolean }> {
  const [rows] = await conn.query<RowDataPacket[]>(`SELECT id FROM ${db.t('cohort')} WHERE name = ? ORDER BY id LIMIT 1`, [name]);
  if (rows.length) return { id: Number(rows[0].id), created: false };
  const [res] = await conn.query<ResultSetHeader>(
    `INSERT INTO ${db.t('cohort')} (contextid, name, idnumber, description, descriptionformat, visible, component, timecreated, timemodified, theme)
     VALUES (1, ?, ?, NULL, 1, 1, '', ?, ?, '')`, [name, idnumber || null, now, now]);
  await logEvents(conn, db, now, [cohortCreated(systemContext(), res.insertId)]);
  return { id: res.insertId, created: true };
}

/** cohort_add_member, unless already a member: the membership and cohort_member_added in the cohort's context. */
export async function addCohortMember(conn: PoolConnection, db: MoodleDb, cohortid: number, userid: number, now: number): Promise<boolean> {
  const [have] = await conn.query<RowDataPacket[]>(
    `SELECT c.contextid, m.id AS member FROM ${db.t('cohort')} c LEFT JOIN ${db.t('cohort_members')} m ON m.cohortid = c.id AND m.userid = ? WHERE c.id = ?`, [userid, cohortid]);
  if (!have.length) throw new Error(`cohort ${cohortid} does not exist`);
  if (have[0].member !== null) return false;
  await conn.query(`INSERT INTO ${db.t('cohort_members')} (cohortid, userid, timeadded) VALUES (?, ?, ?)`, [cohortid, userid, now]);
  await logEvents(conn, db, now, [cohortMemberAdded(await eventContext(conn, db, Number(have[0].contextid)), cohortid, userid)]);
  return true;
}

export interface EnrolInstance { id: number; roleid: number; status: number; enrol: string }

/** Every instance of an enrol plugin in a course (enabled or not), by sortorder. */
export async function findEnrolInstances(conn: PoolConnection, db: MoodleDb, courseid: number, plugin?: string): Promise<EnrolInstance[]> {
  const [rows] = await conn.query<RowDataPacket[]>(
    `SELECT id, roleid, status, enrol FROM ${db.t('enrol')} WHERE courseid = ?${plugin === undefined ? '' : ' AND enrol = ?'} ORDER BY sortorder, id`,
    plugin === undefined ? [courseid] : [courseid, plugin]);
  return rows.map((r) => ({ id: Number(r.id), roleid: Number(r.roleid), status: Number(r.status), enrol: String(r.enrol) }));
}

/**
 * Enables a disabled enrol instance as the enrolment methods page does (update_status): status 0,
 * timemodified, enrol_instance_updated, dirtycontexts for the course.
 */
export async function enableEnrolInstance(conn: PoolConnection, db: MoodleDb, instance: { id: number; enrol: string }, course: CourseRef, now: number, sessionTimeout: number): Promise<void> {
  await conn.query(`UPDATE ${db.t('enrol')} SET status = 0, timemodified = ? WHERE id = ?`, [now, instance.id]);
  await logEvents(conn, db, now, [enrolInstanceUpdated(courseContext(course), instance.id, instance.enrol)]);
  const [ctx] = await conn.query<RowDataPacket[]>(`SELECT path FROM ${db.t('context')} WHERE id = ?`, [course.contextid]);
  if (ctx.length && ctx[0].path) await touchCacheFlags(conn, db, 'accesslib/dirtycontexts', [String(ctx[0].path)], now, now + sessionTimeout);
}

/** Which of a user's role assignments role_unassign_all removes. */
export interface RoleFilter {
  userid: number;
  /** One context; with `subcontexts`, that context and every context below it. */
  contextid?: number;
  subcontexts?: boolean;
  roleid?: number;
  exceptRoleid?: number;
  component?: string;
  itemid?: number;
}

/**
 * role_unassign_all: the matching assignments go, each with role_unassigned (from the deleted row),
 * in the given context first, then below it by context, each by id; dirtyusers when something went.
 * Returns how many went.
 */
export async function unassignAllRoles(conn: PoolConnection, db: MoodleDb, f: RoleFilter, now: number, sessionTimeout: number): Promise<number> {
  const where = ['ra.userid = ?'];
  const params: unknown[] = [f.userid];
  let order = 'ra.id';
  const orderParams: unknown[] = [];
  if (f.contextid !== undefined) {
    const [ctx] = f.subcontexts ? await conn.query<RowDataPacket[]>(`SELECT path FROM ${db.t('context')} WHERE id = ?`, [f.contextid]) : [[]];
    if (ctx.length && ctx[0].path) {
      where.push('(ra.contextid = ? OR x.path LIKE ?)');
      params.push(f.contextid, `${String(ctx[0].path)}/%`);
      order = 'ra.contextid <> ?, ra.contextid, ra.id';
      orderParams.push(f.contextid);
    } else {
      where.push('ra.contextid = ?');
      params.push(f.contextid);
    }
  }
  const add = (sql: string, v: unknown) => { where.push(sql); params.push(v); };
  if (f.roleid !== undefined) add('ra.roleid = ?', f.roleid);
  if (f.exceptRoleid !== undefined) add('ra.roleid <> ?', f.exceptRoleid);
  if (f.component !== undefined) add('ra.component = ?', f.component);
  if (f.itemid !== undefined) add('ra.itemid = ?', f.itemid);
  const [rows] = await conn.query<RowDataPacket[]>(
    `SELECT ra.id, ra.roleid, ra.contextid, ra.userid, ra.component, ra.itemid FROM ${db.t('role_assignments')} ra
       LEFT JOIN ${db.t('context')} x ON x.id = ra.contextid WHERE ${where.join(' AND ')} ORDER BY ${order}`, [...params, ...orderParams]);
  if (!rows.length) return 0;
  await conn.query(`DELETE FROM ${db.t('role_assignments')} WHERE id IN (?)`, [rows.map((r) => r.id)]);
  await touchCacheFlags(conn, db, 'accesslib/dirtyusers', [String(f.userid)], now, now + sessionTimeout);
  // An assignment whose context is gone is removed without an event, as Moodle does.
  const contexts = await eventContexts(conn, db, rows.map((r) => Number(r.contextid)));
  await logEvents(conn, db, now, rows.filter((r) => contexts.has(Number(r.contextid))).map((r) => roleUnassigned(contexts.get(Number(r.contextid))!, {
    id: Number(r.id), roleid: Number(r.roleid), userid: Number(r.userid), component: String(r.component), itemid: Number(r.itemid),
  })));
  return rows.length;
}

/**
 * role_unassign of the user's assignments in a context: one role (`roleid`), or all but `exceptRoleid`,
 * limited to a component/itemid when given. Returns the count.
 */
export async function unassignRoles(conn: PoolConnection, db: MoodleDb, contextid: number, userid: number, now: number, sessionTimeout: number,
  opts: { roleid?: number; exceptRoleid?: number; component?: string; itemid?: number } = {}): Promise<number> {
  return unassignAllRoles(conn, db, { userid, contextid, ...opts }, now, sessionTimeout);
}

const userEnrolmentRow = (r: RowDataPacket): UserEnrolmentRow => ({
  id: Number(r.id), status: Number(r.status), enrolid: Number(r.enrolid), userid: Number(r.userid), timestart: Number(r.timestart),
  timeend: Number(r.timeend), modifierid: Number(r.modifierid), timecreated: Number(r.timecreated), timemodified: Number(r.timemodified),
});

/**
 * enrol_plugin::unenrol_user: the user's group memberships and role assignments that belong to the
 * instance (component enrol_<plugin>, its itemid) go; then the user enrolment row; when it was the
 * user's last enrolment in the course, every role assignment of the user in the course context and
 * below, and the user's memberships in the course's groups, go too; user_enrolment_deleted with the
 * deleted row; dirtyusers. False when the user was not enrolled there.
 */
export async function unenrolUser(conn: PoolConnection, db: MoodleDb, instance: EnrolInstance, course: CourseRef, userid: number, now: number, sessionTimeout: number): Promise<boolean> {
  const [ue] = await conn.query<RowDataPacket[]>(`SELECT * FROM ${db.t('user_enrolments')} WHERE enrolid = ? AND userid = ?`, [instance.id, userid]);
  if (!ue.length) return false;
  const component = `enrol_${instance.enrol}`;
  await removeGroupMemberships(conn, db, course.id, userid, now, { component, itemid: instance.id });
  await unassignAllRoles(conn, db, { userid, contextid: course.contextid, component, itemid: instance.id }, now, sessionTimeout);
  await conn.query(`DELETE FROM ${db.t('user_enrolments')} WHERE id = ?`, [ue[0].id]);
  const [others] = await conn.query<RowDataPacket[]>(
    `SELECT 1 FROM ${db.t('user_enrolments')} ue JOIN ${db.t('enrol')} e ON e.id = ue.enrolid WHERE e.courseid = ? AND ue.userid = ? LIMIT 1`, [course.id, userid]);
  const last = !others.length;
  if (last) {
    await unassignAllRoles(conn, db, { userid, contextid: course.contextid, subcontexts: true }, now, sessionTimeout);
    await removeGroupMemberships(conn, db, course.id, userid, now);
  }
  await logEvents(conn, db, now, [userEnrolmentDeleted(courseContext(course), userEnrolmentRow(ue[0]), instance.enrol, last)]);
  await touchCacheFlags(conn, db, 'accesslib/dirtyusers', [String(userid)], now, now + sessionTimeout);
  return true;
}

/**
 * update_user_enrol: the status (0 active, 1 suspended) of the user's enrolments in the given
 * instances, with timemodified; dates too when given; user_enrolment_updated for each changed row.
 * dirtyusers. Returns how many rows changed.
 */
export async function setUserEnrolmentStatus(conn: PoolConnection, db: MoodleDb, enrolids: number[], userid: number, status: 0 | 1, start: number | undefined, end: number | undefined, now: number, sessionTimeout: number): Promise<{ found: number; changed: number }> {
  if (!enrolids.length) return { found: 0, changed: 0 };
  const [have] = await conn.query<RowDataPacket[]>(
    `SELECT ue.id, ue.enrolid, ue.status, ue.timestart, ue.timeend, e.enrol, e.courseid FROM ${db.t('user_enrolments')} ue JOIN ${db.t('enrol')} e ON e.id = ue.enrolid
      WHERE ue.enrolid IN (?) AND ue.userid = ?`, [enrolids, userid]);
  // In the order of the instances given, as the tool walks them.
  have.sort((a, b) => enrolids.indexOf(Number(a.enrolid)) - enrolids.indexOf(Number(b.enrolid)));
  let changed = 0;
  for (const ue of have) {
    const sets: string[] = [];
    const params: unknown[] = [];
    if (Number(ue.status) !== status) { sets.push('status = ?'); params.push(status); }
    if (start !== undefined && Number(ue.timestart) !== start) { sets.push('timestart = ?'); params.push(start); }
    if (end !== undefined && Number(ue.timeend) !== end) { sets.push('timeend = ?'); params.push(end); }
    if (!sets.length) continue;
    await conn.query(`UPDATE ${db.t('user_enrolments')} SET ${sets.join(', ')}, modifierid = ?, timemodified = ? WHERE id = ?`, [...params, ACTING_USER, now, ue.id]);
    await logEvents(conn, db, now, [userEnrolmentUpdated(await courseEventContext(conn, db, Number(ue.courseid)), Number(ue.id), userid, String(ue.enrol))]);
    changed++;
  }
  if (changed) await touchCacheFlags(conn, db, 'accesslib/dirtyusers', [String(userid)], now, now + sessionTimeout);
  return { found: have.length, changed };
}

