import type { PoolConnection, RowDataPacket } from 'mysql2/promise';
import type { MoodleDb } from './db';
import { touchCacheFlags } from './users';
import { removeGroupMemberships } from './groups';

// Group primitives live in ./groups; re-exported for the tools that take them from here.
export { addGroupMember, findGroup, findOrCreateGroup, removeGroupMemberships } from './groups';

/**
 * Enrolments, role assignments, groups and cohorts as Moodle's API writes them
 * (moodle-writes.md: enrol a user with the manual plugin, role_assign, groups_create_group,
 * groups_add_member, cohort_add_cohort, cohort_add_member).
 */

export const CONTEXT_COURSE = 50;
/** The acting user of our writes (modifierid): the main admin, as the original's tasks ran. */
export const ACTING_USER = 2;

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

/** role_assign with component '' and itemid 0, unless the same assignment exists; marks the user dirty. */
export async function assignRole(conn: PoolConnection, db: MoodleDb, roleid: number, contextid: number, userid: number, now: number, sessionTimeout: number): Promise<boolean> {
  const [have] = await conn.query<RowDataPacket[]>(
    `SELECT id FROM ${db.t('role_assignments')} WHERE roleid = ? AND contextid = ? AND userid = ? AND component = '' AND itemid = 0`, [roleid, contextid, userid]);
  if (have.length) return false;
  await conn.query(`INSERT INTO ${db.t('role_assignments')} (roleid, contextid, userid, timemodified, modifierid, component, itemid, sortorder) VALUES (?, ?, ?, ?, ?, '', 0, 0)`,
    [roleid, contextid, userid, now, ACTING_USER]);
  await touchCacheFlags(conn, db, 'accesslib/dirtyusers', [String(userid)], now, now + sessionTimeout);
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
 * enrol_plugin::enrol_user: the user enrolment (created, or its dates updated), then the role
 * assignment in the course context.
 */
export async function enrolUser(conn: PoolConnection, db: MoodleDb, enrolid: number, course: CourseRef, userid: number, roleid: number | undefined, start: number | undefined, end: number | undefined, now: number, sessionTimeout: number): Promise<'enrolled' | 'updated' | 'unchanged'> {
  const [have] = await conn.query<RowDataPacket[]>(`SELECT id, timestart, timeend FROM ${db.t('user_enrolments')} WHERE enrolid = ? AND userid = ?`, [enrolid, userid]);
  const change = enrolmentChange(have.length ? { timestart: Number(have[0].timestart), timeend: Number(have[0].timeend) } : undefined, start, end, now);
  if (change.action === 'insert') {
    await conn.query(`INSERT INTO ${db.t('user_enrolments')} (status, enrolid, userid, timestart, timeend, modifierid, timecreated, timemodified) VALUES (0, ?, ?, ?, ?, ?, ?, ?)`,
      [enrolid, userid, change.timestart, change.timeend, ACTING_USER, now, now]);
  } else if (change.action === 'update') {
    await conn.query(`UPDATE ${db.t('user_enrolments')} SET timestart = ?, timeend = ?, modifierid = ?, timemodified = ? WHERE id = ?`, [change.timestart, change.timeend, ACTING_USER, now, have[0].id]);
  }
  const assigned = roleid ? await assignRole(conn, db, roleid, course.contextid, userid, now, sessionTimeout) : false;
  if (change.action !== 'none' && !assigned) await touchCacheFlags(conn, db, 'accesslib/dirtyusers', [String(userid)], now, now + sessionTimeout);
  return enrolResult(change.action, assigned);
}

export async function hasRoleInContext(conn: PoolConnection, db: MoodleDb, contextid: number, userid: number): Promise<boolean> {
  const [rows] = await conn.query<RowDataPacket[]>(`SELECT 1 FROM ${db.t('role_assignments')} WHERE contextid = ? AND userid = ? LIMIT 1`, [contextid, userid]);
  return rows.length > 0;
}

/** A system cohort by name, created as cohort_add_cohort makes it when missing. */
export async function findOrCreateCohort(conn: PoolConnection, db: MoodleDb, name: string, idnumber: string | undefined, now: number): Promise<{ id: number; created: boolean }> {
  const [rows] = await conn.query<RowDataPacket[]>(`SELECT id FROM ${db.t('cohort')} WHERE name = ? ORDER BY id LIMIT 1`, [name]);
  if (rows.length) return { id: Number(rows[0].id), created: false };
  const [res] = await conn.query<import('mysql2').ResultSetHeader>(
    `INSERT INTO ${db.t('cohort')} (contextid, name, idnumber, description, descriptionformat, visible, component, timecreated, timemodified, theme)
     VALUES (1, ?, ?, NULL, 1, 1, '', ?, ?, '')`, [name, idnumber || null, now, now]);
  return { id: res.insertId, created: true };
}

/** cohort_add_member, unless already a member. */
export async function addCohortMember(conn: PoolConnection, db: MoodleDb, cohortid: number, userid: number, now: number): Promise<boolean> {
  const [have] = await conn.query<RowDataPacket[]>(`SELECT 1 FROM ${db.t('cohort_members')} WHERE cohortid = ? AND userid = ?`, [cohortid, userid]);
  if (have.length) return false;
  await conn.query(`INSERT INTO ${db.t('cohort_members')} (cohortid, userid, timeadded) VALUES (?, ?, ?)`, [cohortid, userid, now]);
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

/** Enables a disabled enrol instance as the enrolment methods page does: status 0, timemodified, dirtycontexts for the course. */
export async function enableEnrolInstance(conn: PoolConnection, db: MoodleDb, enrolid: number, course: CourseRef, now: number, sessionTimeout: number): Promise<void> {
  await conn.query(`UPDATE ${db.t('enrol')} SET status = 0, timemodified = ? WHERE id = ?`, [now, enrolid]);
  const [ctx] = await conn.query<RowDataPacket[]>(`SELECT path FROM ${db.t('context')} WHERE id = ?`, [course.contextid]);
  if (ctx.length && ctx[0].path) await touchCacheFlags(conn, db, 'accesslib/dirtycontexts', [String(ctx[0].path)], now, now + sessionTimeout);
}

/**
 * role_unassign of the user's assignments in a context: one role (`roleid`), or all but `exceptRoleid`,
 * limited to a component/itemid when given. Marks the user dirty when something went. Returns the count.
 */
export async function unassignRoles(conn: PoolConnection, db: MoodleDb, contextid: number, userid: number, now: number, sessionTimeout: number,
  opts: { roleid?: number; exceptRoleid?: number; component?: string; itemid?: number } = {}): Promise<number> {
  const where = ['contextid = ?', 'userid = ?'];
  const params: unknown[] = [contextid, userid];
  if (opts.roleid !== undefined) { where.push('roleid = ?'); params.push(opts.roleid); }
  if (opts.exceptRoleid !== undefined) { where.push('roleid <> ?'); params.push(opts.exceptRoleid); }
  if (opts.component !== undefined) { where.push('component = ?'); params.push(opts.component); }
  if (opts.itemid !== undefined) { where.push('itemid = ?'); params.push(opts.itemid); }
  const [res] = await conn.query<import('mysql2').ResultSetHeader>(`DELETE FROM ${db.t('role_assignments')} WHERE ${where.join(' AND ')}`, params);
  if (res.affectedRows) await touchCacheFlags(conn, db, 'accesslib/dirtyusers', [String(userid)], now, now + sessionTimeout);
  return res.affectedRows;
}

/**
 * enrol_plugin::unenrol_user: the instance's role assignments (component enrol_<plugin>, its itemid)
 * go; when it was the user's last enrolment in the course, every role assignment of the user in the
 * course context and below, and the user's memberships in the course's groups (groups touched),
 * go too; then the user enrolment row. dirtyusers. False when the user was not enrolled there.
 */
export async function unenrolUser(conn: PoolConnection, db: MoodleDb, instance: EnrolInstance, course: CourseRef, userid: number, now: number, sessionTimeout: number): Promise<boolean> {
  const [ue] = await conn.query<RowDataPacket[]>(`SELECT id FROM ${db.t('user_enrolments')} WHERE enrolid = ? AND userid = ?`, [instance.id, userid]);
  if (!ue.length) return false;
  await conn.query(`DELETE FROM ${db.t('role_assignments')} WHERE contextid = ? AND userid = ? AND component = ? AND itemid = ?`,
    [course.contextid, userid, `enrol_${instance.enrol}`, instance.id]);
  const [others] = await conn.query<RowDataPacket[]>(
    `SELECT 1 FROM ${db.t('user_enrolments')} ue JOIN ${db.t('enrol')} e ON e.id = ue.enrolid WHERE e.courseid = ? AND ue.userid = ? AND ue.enrolid <> ? LIMIT 1`,
    [course.id, userid, instance.id]);
  if (!others.length) {
    const [ctx] = await conn.query<RowDataPacket[]>(`SELECT path FROM ${db.t('context')} WHERE id = ?`, [course.contextid]);
    const path = ctx.length && ctx[0].path ? String(ctx[0].path) : undefined;
    if (path) {
      await conn.query(`DELETE ra FROM ${db.t('role_assignments')} ra JOIN ${db.t('context')} x ON x.id = ra.contextid WHERE ra.userid = ? AND (x.id = ? OR x.path LIKE ?)`,
        [userid, course.contextid, `${path}/%`]);
    } else {
      await conn.query(`DELETE FROM ${db.t('role_assignments')} WHERE contextid = ? AND userid = ?`, [course.contextid, userid]);
    }
    await removeGroupMemberships(conn, db, course.id, userid, now);
  }
  await conn.query(`DELETE FROM ${db.t('user_enrolments')} WHERE id = ?`, [ue[0].id]);
  await touchCacheFlags(conn, db, 'accesslib/dirtyusers', [String(userid)], now, now + sessionTimeout);
  return true;
}

/**
 * update_user_enrol: the status (0 active, 1 suspended) of the user's enrolments in the given
 * instances, with timemodified; dates too when given. dirtyusers. Returns how many rows changed.
 */
export async function setUserEnrolmentStatus(conn: PoolConnection, db: MoodleDb, enrolids: number[], userid: number, status: 0 | 1, start: number | undefined, end: number | undefined, now: number, sessionTimeout: number): Promise<{ found: number; changed: number }> {
  if (!enrolids.length) return { found: 0, changed: 0 };
  const [have] = await conn.query<RowDataPacket[]>(`SELECT id, status, timestart, timeend FROM ${db.t('user_enrolments')} WHERE enrolid IN (?) AND userid = ?`, [enrolids, userid]);
  let changed = 0;
  for (const ue of have) {
    const sets: string[] = [];
    const params: unknown[] = [];
    if (Number(ue.status) !== status) { sets.push('status = ?'); params.push(status); }
    if (start !== undefined && Number(ue.timestart) !== start) { sets.push('timestart = ?'); params.push(start); }
    if (end !== undefined && Number(ue.timeend) !== end) { sets.push('timeend = ?'); params.push(end); }
    if (!sets.length) continue;
    await conn.query(`UPDATE ${db.t('user_enrolments')} SET ${sets.join(', ')}, modifierid = ?, timemodified = ? WHERE id = ?`, [...params, ACTING_USER, now, ue.id]);
    changed++;
  }
  if (changed) await touchCacheFlags(conn, db, 'accesslib/dirtyusers', [String(userid)], now, now + sessionTimeout);
  return { found: have.length, changed };
}

