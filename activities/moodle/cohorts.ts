import type { PoolConnection, ResultSetHeader, RowDataPacket } from 'mysql2/promise';
import type { MoodleDb } from './db';
import { touchCacheFlags } from './users';
import { CONTEXT_COURSE } from './enrol';
import { createGroup } from './groups';
import { logEvents } from './deferred';
import { cohortCreated, cohortMemberRemoved, cohortUpdated, courseContext, enrolInstanceCreated, enrolInstanceUpdated } from './events';
import { courseEventContext, eventContext } from './eventContexts';

/**
 * Cohorts and the cohort enrolment method as Moodle 5.1's API writes them (moodle-writes.md:
 * create a cohort, add / remove a cohort member, cohort enrolment, delete a cohort that courses
 * use). Moodle's cohort plugin reacts to member changes in the same request (event observers);
 * here the same effects are written in the same transaction by `syncCohortEnrolments` (./cohortSync).
 */

export const COHORT_ENROL = 'cohort';
export const COHORT_COMPONENT = 'enrol_cohort';
const CONTEXT_COURSECAT = 40;
/** FORMAT_MOODLE, as the original tool_sync creates cohort descriptions. */
const FORMAT_MOODLE = 0;

export type CohortField = 'id' | 'idnumber' | 'name';

export interface Cohort { id: number; contextid: number; name: string; idnumber: string | null; description: string | null; component: string }

const cohortRow = (r: RowDataPacket): Cohort => ({
  id: Number(r.id), contextid: Number(r.contextid), name: String(r.name), idnumber: r.idnumber === null ? null : String(r.idnumber),
  description: r.description === null ? null : String(r.description), component: String(r.component),
});

/** Cohorts whose `field` equals `value` (at most two: none, one, or ambiguous). */
export async function findCohorts(conn: PoolConnection, db: MoodleDb, field: CohortField, value: string): Promise<Cohort[]> {
  const column = field === 'id' ? 'id' : field === 'idnumber' ? 'idnumber' : 'name';
  const [rows] = await conn.query<RowDataPacket[]>(
    `SELECT id, contextid, name, idnumber, description, component FROM ${db.t('cohort')} WHERE ${column} = ? ORDER BY id LIMIT 2`, [value]);
  return rows.map(cohortRow);
}

/** The context of a course category given by id or idnumber. */
export async function categoryContext(conn: PoolConnection, db: MoodleDb, field: 'id' | 'idnumber', value: string): Promise<number | undefined> {
  const [rows] = await conn.query<RowDataPacket[]>(
    `SELECT x.id FROM ${db.t('course_categories')} c JOIN ${db.t('context')} x ON x.contextlevel = ? AND x.instanceid = c.id
      WHERE c.${field === 'id' ? 'id' : 'idnumber'} = ? LIMIT 2`, [CONTEXT_COURSECAT, value]);
  return rows.length === 1 ? Number(rows[0].id) : undefined;
}

export interface NewCohort { contextid: number; name: string; idnumber: string | null; description: string; component: string }

/** cohort_add_cohort: visible, no theme, created and modified now; cohort_created in its context. */
export async function createCohort(conn: PoolConnection, db: MoodleDb, c: NewCohort, now: number): Promise<number> {
  const [res] = await conn.query<ResultSetHeader>(
    `INSERT INTO ${db.t('cohort')} (contextid, name, idnumber, description, descriptionformat, visible, component, timecreated, timemodified, theme)
     VALUES (?, ?, ?, ?, ?, 1, ?, ?, ?, '')`, [c.contextid, c.name, c.idnumber, c.description, FORMAT_MOODLE, c.component, now, now]);
  await logEvents(conn, db, now, [cohortCreated(await eventContext(conn, db, c.contextid), res.insertId)]);
  return res.insertId;
}

export type CohortChanges = Partial<Pick<Cohort, 'contextid' | 'name' | 'idnumber' | 'description'>>;

/**
 * cohort_update_cohort: the columns that differ, and timemodified; cohort_updated in the cohort's
 * (new) context. Returns the columns changed.
 */
export async function updateCohort(conn: PoolConnection, db: MoodleDb, current: Cohort, changes: CohortChanges, now: number): Promise<string[]> {
  const changed = (Object.keys(changes) as (keyof CohortChanges)[]).filter((k) => changes[k] !== undefined && changes[k] !== current[k]);
  if (!changed.length) return [];
  await conn.query(`UPDATE ${db.t('cohort')} SET ${changed.map((c) => `${c} = ?`).join(', ')}, timemodified = ? WHERE id = ?`,
    [...changed.map((c) => changes[c]), now, current.id]);
  await logEvents(conn, db, now, [cohortUpdated(await eventContext(conn, db, changes.contextid ?? current.contextid), current.id)]);
  return changed;
}

/** The cohort's members, in the order they joined (cohort_members ids). */
export async function cohortMembers(conn: PoolConnection, db: MoodleDb, cohortid: number): Promise<number[]> {
  const [rows] = await conn.query<RowDataPacket[]>(`SELECT userid FROM ${db.t('cohort_members')} WHERE cohortid = ? ORDER BY id`, [cohortid]);
  return rows.map((r) => Number(r.userid));
}

/** cohort_remove_member: the membership and cohort_member_removed in the cohort's context. False when the user was not a member. */
export async function removeCohortMember(conn: PoolConnection, db: MoodleDb, cohort: Pick<Cohort, 'id' | 'contextid'>, userid: number, now: number): Promise<boolean> {
  const [res] = await conn.query<ResultSetHeader>(`DELETE FROM ${db.t('cohort_members')} WHERE cohortid = ? AND userid = ?`, [cohort.id, userid]);
  if (!res.affectedRows) return false;
  await logEvents(conn, db, now, [cohortMemberRemoved(await eventContext(conn, db, cohort.contextid), cohort.id, userid)]);
  return true;
}

/** What the cohort enrolment plugin does on this site. */
export interface CohortEnrolSite {
  /** `cohort` is in enrol_plugins_enabled. */
  enabled: boolean;
  /** enrol_cohort/unenrolaction: 0 unenrol, 2 suspend, 3 suspend and remove roles. */
  unenrolAction: number;
  sessionTimeout: number;
}

export async function readCohortEnrolSite(conn: PoolConnection, db: MoodleDb): Promise<CohortEnrolSite> {
  const [cfg] = await conn.query<RowDataPacket[]>(`SELECT name, value FROM ${db.t('config')} WHERE name IN ('enrol_plugins_enabled', 'sessiontimeout')`);
  const c = Object.fromEntries(cfg.map((r) => [String(r.name), String(r.value)]));
  const [plugin] = await conn.query<RowDataPacket[]>(`SELECT value FROM ${db.t('config_plugins')} WHERE plugin = 'enrol_cohort' AND name = 'unenrolaction'`);
  const timeout = Number(c.sessiontimeout);
  return {
    enabled: (c.enrol_plugins_enabled ?? '').split(',').map((s) => s.trim()).includes(COHORT_ENROL),
    unenrolAction: plugin.length && /^\d+$/.test(String(plugin[0].value)) ? Number(plugin[0].value) : 0,
    sessionTimeout: Number.isFinite(timeout) && timeout > 0 ? timeout : 28800,
  };
}

/** An enrol_cohort instance with its course. */
export interface CohortInstance {
  id: number;
  enrol: string;
  status: number;
  roleid: number;
  cohortid: number;
  /** customint2: the group members join, 0 for none. */
  groupid: number;
  enrolstartdate: number;
  enrolenddate: number;
  course: { id: number; contextid: number; shortname: string; path: string | null };
}

const INSTANCE_SELECT = (db: MoodleDb) =>
  `SELECT e.id, e.enrol, e.status, e.roleid, e.customint1, e.customint2, e.enrolstartdate, e.enrolenddate, c.id AS courseid, c.shortname, x.id AS contextid, x.path
     FROM ${db.t('enrol')} e JOIN ${db.t('course')} c ON c.id = e.courseid JOIN ${db.t('context')} x ON x.contextlevel = ${CONTEXT_COURSE} AND x.instanceid = c.id`;

const instanceRow = (r: RowDataPacket): CohortInstance => ({
  id: Number(r.id), enrol: String(r.enrol), status: Number(r.status), roleid: Number(r.roleid ?? 0), cohortid: Number(r.customint1),
  groupid: Number(r.customint2 ?? 0), enrolstartdate: Number(r.enrolstartdate ?? 0), enrolenddate: Number(r.enrolenddate ?? 0),
  course: { id: Number(r.courseid), contextid: Number(r.contextid), shortname: String(r.shortname), path: r.path === null ? null : String(r.path) },
});

/** Every cohort enrolment that follows this cohort, in any course, enabled or not, by id. */
export async function instancesOfCohort(conn: PoolConnection, db: MoodleDb, cohortid: number): Promise<CohortInstance[]> {
  const [rows] = await conn.query<RowDataPacket[]>(`${INSTANCE_SELECT(db)} WHERE e.enrol = ? AND e.customint1 = ? ORDER BY e.id`, [COHORT_ENROL, cohortid]);
  return rows.map(instanceRow);
}

/** The cohort enrolments binding a cohort to a course: with one role, or every role (roleid undefined). */
export async function findBindings(conn: PoolConnection, db: MoodleDb, courseid: number, cohortid: number, roleid: number | undefined): Promise<CohortInstance[]> {
  const [rows] = await conn.query<RowDataPacket[]>(
    `${INSTANCE_SELECT(db)} WHERE e.enrol = ? AND e.courseid = ? AND e.customint1 = ?${roleid === undefined ? '' : ' AND e.roleid = ?'} ORDER BY e.id`,
    roleid === undefined ? [COHORT_ENROL, courseid, cohortid] : [COHORT_ENROL, courseid, cohortid, roleid]);
  return rows.map(instanceRow);
}

export async function instanceById(conn: PoolConnection, db: MoodleDb, id: number): Promise<CohortInstance> {
  const [rows] = await conn.query<RowDataPacket[]>(`${INSTANCE_SELECT(db)} WHERE e.id = ?`, [id]);
  return instanceRow(rows[0]);
}

/**
 * enrol_cohort_create_new_group: a group named "<cohort name> cohort", or "<name> cohort (2)",
 * "(3)"... when the course already has a group of that name.
 */
export async function createCohortGroup(conn: PoolConnection, db: MoodleDb, courseid: number, cohortName: string, now: number): Promise<{ id: number; name: string }> {
  const base = `${cohortName} cohort`;
  const [taken] = await conn.query<RowDataPacket[]>(`SELECT name FROM ${db.t('groups')} WHERE courseid = ? AND name LIKE ?`, [courseid, `${base.replace(/[\\%_]/g, '\\$&')}%`]);
  const names = new Set(taken.map((r) => String(r.name)));
  let name = base;
  for (let n = 2; names.has(name); n++) name = `${base} (${n})`;
  return { id: await createGroup(conn, db, { courseid, name }, now), name };
}

export interface NewCohortInstance { courseid: number; cohortid: number; roleid: number; groupid: number; enrolstartdate: number; enrolenddate: number }

/** enrol_plugin::add_instance for the cohort plugin: enabled, after the course's other instances; enrol_instance_created. */
export async function createCohortInstance(conn: PoolConnection, db: MoodleDb, i: NewCohortInstance, now: number): Promise<number> {
  const [max] = await conn.query<RowDataPacket[]>(`SELECT COALESCE(MAX(sortorder), -1) + 1 AS next FROM ${db.t('enrol')} WHERE courseid = ?`, [i.courseid]);
  const [res] = await conn.query<ResultSetHeader>(
    `INSERT INTO ${db.t('enrol')} (enrol, status, courseid, sortorder, name, enrolperiod, enrolstartdate, enrolenddate, expirynotify, expirythreshold, notifyall,
       password, cost, currency, roleid, customint1, customint2, timecreated, timemodified)
     VALUES (?, 0, ?, ?, NULL, 0, ?, ?, 0, 0, 0, NULL, NULL, NULL, ?, ?, ?, ?, ?)`,
    [COHORT_ENROL, i.courseid, Number(max[0].next), i.enrolstartdate, i.enrolenddate, i.roleid, i.cohortid, i.groupid, now, now]);
  await logEvents(conn, db, now, [enrolInstanceCreated(await courseEventContext(conn, db, i.courseid), res.insertId, COHORT_ENROL)]);
  return res.insertId;
}

/**
 * enrol_plugin::update_instance (or update_status) for the columns given, with timemodified and
 * enrol_instance_updated; the caller syncs after.
 */
export async function updateCohortInstance(conn: PoolConnection, db: MoodleDb, instance: CohortInstance,
  changes: Partial<Pick<CohortInstance, 'status' | 'groupid' | 'enrolstartdate' | 'enrolenddate'>>, now: number, sessionTimeout: number): Promise<string[]> {
  const column = { status: 'status', groupid: 'customint2', enrolstartdate: 'enrolstartdate', enrolenddate: 'enrolenddate' } as const;
  const changed = (Object.keys(changes) as (keyof typeof column)[]).filter((k) => changes[k] !== undefined && changes[k] !== instance[k]);
  if (!changed.length) return [];
  await conn.query(`UPDATE ${db.t('enrol')} SET ${changed.map((k) => `${column[k]} = ?`).join(', ')}, timemodified = ? WHERE id = ?`,
    [...changed.map((k) => changes[k]), now, instance.id]);
  await logEvents(conn, db, now, [enrolInstanceUpdated(courseContext(instance.course), instance.id, instance.enrol)]);
  // update_status marks the course context dirty.
  if (changed.includes('status') && instance.course.path) await touchCacheFlags(conn, db, 'accesslib/dirtycontexts', [instance.course.path], now, now + sessionTimeout);
  for (const k of changed) instance[k] = changes[k]!;
  return changed;
}
