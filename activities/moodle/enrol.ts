import type { PoolConnection, RowDataPacket } from 'mysql2/promise';
import type { MoodleDb } from './db';
import { touchCacheFlags } from './users';

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

/**
 * enrol_plugin::enrol_user: the user enrolment (created, or its dates updated), then the role
 * assignment in the course context. An undefined date keeps the enrolment's own (new: now, no end).
 */
export async function enrolUser(conn: PoolConnection, db: MoodleDb, enrolid: number, course: CourseRef, userid: number, roleid: number | undefined, start: number | undefined, end: number | undefined, now: number, sessionTimeout: number): Promise<'enrolled' | 'updated' | 'unchanged'> {
  const [have] = await conn.query<RowDataPacket[]>(`SELECT id, timestart, timeend FROM ${db.t('user_enrolments')} WHERE enrolid = ? AND userid = ?`, [enrolid, userid]);
  let result: 'enrolled' | 'updated' | 'unchanged' = 'unchanged';
  const timestart = start ?? (have.length ? Number(have[0].timestart) : now);
  const timeend = end ?? (have.length ? Number(have[0].timeend) : 0);
  if (!have.length) {
    await conn.query(`INSERT INTO ${db.t('user_enrolments')} (status, enrolid, userid, timestart, timeend, modifierid, timecreated, timemodified) VALUES (0, ?, ?, ?, ?, ?, ?, ?)`,
      [enrolid, userid, timestart, timeend, ACTING_USER, now, now]);
    result = 'enrolled';
  } else if (Number(have[0].timestart) !== timestart || Number(have[0].timeend) !== timeend) {
    await conn.query(`UPDATE ${db.t('user_enrolments')} SET timestart = ?, timeend = ?, modifierid = ?, timemodified = ? WHERE id = ?`, [timestart, timeend, ACTING_USER, now, have[0].id]);
    result = 'updated';
  }
  const assigned = roleid ? await assignRole(conn, db, roleid, course.contextid, userid, now, sessionTimeout) : false;
  if (result !== 'unchanged' && !assigned) await touchCacheFlags(conn, db, 'accesslib/dirtyusers', [String(userid)], now, now + sessionTimeout);
  return assigned && result === 'unchanged' ? 'updated' : result;
}

export async function hasRoleInContext(conn: PoolConnection, db: MoodleDb, contextid: number, userid: number): Promise<boolean> {
  const [rows] = await conn.query<RowDataPacket[]>(`SELECT 1 FROM ${db.t('role_assignments')} WHERE contextid = ? AND userid = ? LIMIT 1`, [contextid, userid]);
  return rows.length > 0;
}

/** The group of that name in the course, created as groups_create_group makes it when missing. */
export async function findOrCreateGroup(conn: PoolConnection, db: MoodleDb, courseid: number, name: string, now: number): Promise<{ id: number; created: boolean }> {
  const [rows] = await conn.query<RowDataPacket[]>(`SELECT id FROM ${db.t('groups')} WHERE courseid = ? AND name = ? ORDER BY id LIMIT 1`, [courseid, name]);
  if (rows.length) return { id: Number(rows[0].id), created: false };
  const [res] = await conn.query<import('mysql2').ResultSetHeader>(
    `INSERT INTO ${db.t('groups')} (courseid, idnumber, name, description, descriptionformat, enrolmentkey, picture, visibility, participation, timecreated, timemodified)
     VALUES (?, '', ?, NULL, 1, NULL, 0, 0, 1, ?, ?)`, [courseid, name, now, now]);
  return { id: res.insertId, created: true };
}

/** groups_add_member: the membership, and the group's timemodified. */
export async function addGroupMember(conn: PoolConnection, db: MoodleDb, groupid: number, userid: number, now: number, component = '', itemid = 0): Promise<boolean> {
  const [have] = await conn.query<RowDataPacket[]>(`SELECT 1 FROM ${db.t('groups_members')} WHERE groupid = ? AND userid = ?`, [groupid, userid]);
  if (have.length) return false;
  await conn.query(`INSERT INTO ${db.t('groups_members')} (groupid, userid, timeadded, component, itemid) VALUES (?, ?, ?, ?, ?)`, [groupid, userid, now, component, itemid]);
  await conn.query(`UPDATE ${db.t('groups')} SET timemodified = ? WHERE id = ?`, [now, groupid]);
  return true;
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
