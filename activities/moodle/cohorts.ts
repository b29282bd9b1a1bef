import type { PoolConnection, ResultSetHeader, RowDataPacket } from 'mysql2/promise';
import type { MoodleDb } from './db';
import { touchCacheFlags } from './users';
import { ACTING_USER, CONTEXT_COURSE, unenrolUser } from './enrol';
import { createGroup } from './groups';
import { logEvents } from './deferred';
import { cohortCreated } from './events';
import { eventContext } from './eventContexts';
import { syncMetaChildren } from './meta';

/**
 * Cohorts and the cohort enrolment method as Moodle 5.1's API writes them (moodle-writes.md:
 * create a cohort, add / remove a cohort member, cohort enrolment, delete a cohort that courses
 * use). Moodle's cohort plugin reacts to member changes in the same request (event observers);
 * here the same effects are written in the same transaction by `syncCohortEnrolments`.
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

/** cohort_update_cohort: the columns that differ, and timemodified. Returns the columns changed. */
export async function updateCohort(conn: PoolConnection, db: MoodleDb, current: Cohort, changes: CohortChanges, now: number): Promise<string[]> {
  const changed = (Object.keys(changes) as (keyof CohortChanges)[]).filter((k) => changes[k] !== undefined && changes[k] !== current[k]);
  if (!changed.length) return [];
  await conn.query(`UPDATE ${db.t('cohort')} SET ${changed.map((c) => `${c} = ?`).join(', ')}, timemodified = ? WHERE id = ?`,
    [...changed.map((c) => changes[c]), now, current.id]);
  return changed;
}

export async function isCohortMember(conn: PoolConnection, db: MoodleDb, cohortid: number, userid: number): Promise<boolean> {
  const [rows] = await conn.query<RowDataPacket[]>(`SELECT 1 FROM ${db.t('cohort_members')} WHERE cohortid = ? AND userid = ?`, [cohortid, userid]);
  return rows.length > 0;
}

/** cohort_remove_member, or every member with `userid` undefined. Returns how many left. */
export async function removeMembers(conn: PoolConnection, db: MoodleDb, cohortid: number, userid?: number): Promise<number> {
  const [res] = await conn.query<ResultSetHeader>(
    `DELETE FROM ${db.t('cohort_members')} WHERE cohortid = ?${userid === undefined ? '' : ' AND userid = ?'}`, userid === undefined ? [cohortid] : [cohortid, userid]);
  return res.affectedRows;
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

/** enrol_plugin::add_instance for the cohort plugin: enabled, after the course's other instances. */
export async function createCohortInstance(conn: PoolConnection, db: MoodleDb, i: NewCohortInstance, now: number): Promise<number> {
  const [max] = await conn.query<RowDataPacket[]>(`SELECT COALESCE(MAX(sortorder), -1) + 1 AS next FROM ${db.t('enrol')} WHERE courseid = ?`, [i.courseid]);
  const [res] = await conn.query<ResultSetHeader>(
    `INSERT INTO ${db.t('enrol')} (enrol, status, courseid, sortorder, name, enrolperiod, enrolstartdate, enrolenddate, expirynotify, expirythreshold, notifyall,
       password, cost, currency, roleid, customint1, customint2, timecreated, timemodified)
     VALUES (?, 0, ?, ?, NULL, 0, ?, ?, 0, 0, 0, NULL, NULL, NULL, ?, ?, ?, ?, ?)`,
    [COHORT_ENROL, i.courseid, Number(max[0].next), i.enrolstartdate, i.enrolenddate, i.roleid, i.cohortid, i.groupid, now, now]);
  return res.insertId;
}

/** enrol_plugin::update_instance for the columns given (with timemodified); the caller syncs after. */
export async function updateCohortInstance(conn: PoolConnection, db: MoodleDb, instance: CohortInstance,
  changes: Partial<Pick<CohortInstance, 'status' | 'groupid' | 'enrolstartdate' | 'enrolenddate'>>, now: number, sessionTimeout: number): Promise<string[]> {
  const column = { status: 'status', groupid: 'customint2', enrolstartdate: 'enrolstartdate', enrolenddate: 'enrolenddate' } as const;
  const changed = (Object.keys(changes) as (keyof typeof column)[]).filter((k) => changes[k] !== undefined && changes[k] !== instance[k]);
  if (!changed.length) return [];
  await conn.query(`UPDATE ${db.t('enrol')} SET ${changed.map((k) => `${column[k]} = ?`).join(', ')}, timemodified = ? WHERE id = ?`,
    [...changed.map((k) => changes[k]), now, instance.id]);
  // update_status marks the course context dirty.
  if (changed.includes('status') && instance.course.path) await touchCacheFlags(conn, db, 'accesslib/dirtycontexts', [instance.course.path], now, now + sessionTimeout);
  Object.assign(instance, changes);
  return changed;
}

export interface SyncCounts { enrolled: number; reactivated: number; redated: number; unenrolled: number; suspended: number; rolesAssigned: number; rolesRemoved: number; groupAdded: number; groupRemoved: number }

export const emptyCounts = (): SyncCounts => ({ enrolled: 0, reactivated: 0, redated: 0, unenrolled: 0, suspended: 0, rolesAssigned: 0, rolesRemoved: 0, groupAdded: 0, groupRemoved: 0 });

const ids = (rows: RowDataPacket[], col = 'id'): number[] => rows.map((r) => Number(r[col]));

/**
 * What enrol_cohort_sync makes of these instances (and what its observers do when a member is
 * added or removed), for every user or only `users`:
 *  - enabled instances: members (not deleted) get an active enrolment, dated by the instance's
 *    enrolstartdate / enrolenddate (0 / 0 unless a bindings file set them);
 *  - enrolments of users no longer in the cohort go as unenrolaction says: unenrolled (0),
 *    suspended (2), suspended with the instance's roles removed (3);
 *  - active enrolments of enabled instances hold the instance's role (component enrol_cohort,
 *    itemid the instance), and nothing else holds such a role;
 *  - with a group (customint2), enrolled users are in it (component enrol_cohort, itemid the
 *    instance), and in no other group through the instance.
 * Users whose enrolments or roles change are marked dirty.
 */
export async function syncCohortEnrolments(conn: PoolConnection, db: MoodleDb, instances: CohortInstance[], site: CohortEnrolSite, now: number, users?: number[]): Promise<Map<number, SyncCounts>> {
  const out = new Map<number, SyncCounts>();
  if (users && !users.length) return out;
  const dirty = new Set<number>();
  const only = (col: string) => (users ? ` AND ${col} IN (?)` : '');
  const withUsers = (params: unknown[]) => (users ? [...params, users] : params);
  const t = (n: string) => db.t(n);
  for (const inst of instances) {
    const n = emptyCounts();
    out.set(inst.id, n);
    const active = site.enabled && inst.status === 0;
    if (active) {
      const [missing] = await conn.query<RowDataPacket[]>(
        `SELECT cm.userid FROM ${t('cohort_members')} cm JOIN ${t('user')} u ON u.id = cm.userid AND u.deleted = 0
           LEFT JOIN ${t('user_enrolments')} ue ON ue.enrolid = ? AND ue.userid = cm.userid
          WHERE cm.cohortid = ? AND ue.id IS NULL${only('cm.userid')} ORDER BY cm.userid`, withUsers([inst.id, inst.cohortid]));
      if (missing.length) {
        await conn.query(`INSERT INTO ${t('user_enrolments')} (status, enrolid, userid, timestart, timeend, modifierid, timecreated, timemodified) VALUES ?`,
          [missing.map((r) => [0, inst.id, r.userid, inst.enrolstartdate, inst.enrolenddate, ACTING_USER, now, now])]);
        ids(missing, 'userid').forEach((u) => dirty.add(u));
        n.enrolled = missing.length;
      }
      // Members whose enrolment was suspended (an earlier removal) come back; dates follow the instance.
      const [stale] = await conn.query<RowDataPacket[]>(
        `SELECT ue.id, ue.userid, ue.status FROM ${t('user_enrolments')} ue JOIN ${t('cohort_members')} cm ON cm.cohortid = ? AND cm.userid = ue.userid
           JOIN ${t('user')} u ON u.id = ue.userid AND u.deleted = 0
          WHERE ue.enrolid = ? AND (ue.status <> 0 OR ue.timestart <> ? OR ue.timeend <> ?)${only('ue.userid')}`,
        withUsers([inst.cohortid, inst.id, inst.enrolstartdate, inst.enrolenddate]));
      if (stale.length) {
        await conn.query(`UPDATE ${t('user_enrolments')} SET status = 0, timestart = ?, timeend = ?, modifierid = ?, timemodified = ? WHERE id IN (?)`,
          [inst.enrolstartdate, inst.enrolenddate, ACTING_USER, now, ids(stale)]);
        ids(stale, 'userid').forEach((u) => dirty.add(u));
        n.reactivated = stale.filter((r) => Number(r.status) !== 0).length;
        n.redated = stale.length - n.reactivated;
      }
    }

    const [gone] = await conn.query<RowDataPacket[]>(
      `SELECT ue.id, ue.userid, ue.status FROM ${t('user_enrolments')} ue LEFT JOIN ${t('cohort_members')} cm ON cm.cohortid = ? AND cm.userid = ue.userid
        WHERE ue.enrolid = ? AND cm.id IS NULL${only('ue.userid')}`, withUsers([inst.cohortid, inst.id]));
    if (site.unenrolAction === 0) {
      for (const r of gone) {
        await removeInstanceGroupMemberships(conn, db, inst, now, Number(r.userid));
        await unenrolUser(conn, db, { id: inst.id, roleid: inst.roleid, status: inst.status, enrol: inst.enrol }, inst.course, Number(r.userid), now, site.sessionTimeout);
      }
      n.unenrolled = gone.length;
    } else {
      const toSuspend = gone.filter((r) => Number(r.status) === 0);
      if (toSuspend.length) {
        await conn.query(`UPDATE ${t('user_enrolments')} SET status = 1, modifierid = ?, timemodified = ? WHERE id IN (?)`, [ACTING_USER, now, ids(toSuspend)]);
        ids(toSuspend, 'userid').forEach((u) => dirty.add(u));
        n.suspended = toSuspend.length;
      }
    }
    if (active) {
      const [need] = await conn.query<RowDataPacket[]>(
        `SELECT ue.userid FROM ${t('user_enrolments')} ue JOIN ${t('role')} r ON r.id = ? JOIN ${t('user')} u ON u.id = ue.userid AND u.deleted = 0
           LEFT JOIN ${t('role_assignments')} ra ON ra.contextid = ? AND ra.userid = ue.userid AND ra.roleid = r.id AND ra.component = ? AND ra.itemid = ?
          WHERE ue.enrolid = ? AND ue.status = 0 AND ra.id IS NULL${only('ue.userid')} ORDER BY ue.userid`,
        withUsers([inst.roleid, inst.course.contextid, COHORT_COMPONENT, inst.id, inst.id]));
      if (need.length) {
        await conn.query(`INSERT INTO ${t('role_assignments')} (roleid, contextid, userid, timemodified, modifierid, component, itemid, sortorder) VALUES ?`,
          [need.map((r) => [inst.roleid, inst.course.contextid, r.userid, now, ACTING_USER, COHORT_COMPONENT, inst.id, 0])]);
        ids(need, 'userid').forEach((u) => dirty.add(u));
        n.rolesAssigned = need.length;
      }
    }
    // Roles the instance must not give: no enrolment, instance disabled, or a suspended one (kept with unenrolaction 2).
    const [unwanted] = await conn.query<RowDataPacket[]>(
      `SELECT ra.id, ra.userid FROM ${t('role_assignments')} ra LEFT JOIN ${t('user_enrolments')} ue ON ue.enrolid = ? AND ue.userid = ra.userid
        WHERE ra.contextid = ? AND ra.component = ? AND ra.itemid = ? AND (ue.id IS NULL OR ? <> 0 OR (ue.status <> 0 AND ? <> 2))${only('ra.userid')}`,
      withUsers([inst.id, inst.course.contextid, COHORT_COMPONENT, inst.id, inst.status, site.unenrolAction]));
    if (unwanted.length) {
      await conn.query(`DELETE FROM ${t('role_assignments')} WHERE id IN (?)`, [ids(unwanted)]);
      ids(unwanted, 'userid').forEach((u) => dirty.add(u));
      n.rolesRemoved = unwanted.length;
    }
    if (!site.enabled) continue; // the plugin adds nothing and syncs no groups while it is disabled
    n.groupRemoved = await removeInstanceGroupMemberships(conn, db, inst, now, undefined, users, true);
    if (inst.groupid > 0) {
      const [join] = await conn.query<RowDataPacket[]>(
        `SELECT ue.userid FROM ${t('user_enrolments')} ue JOIN ${t('groups')} g ON g.id = ? AND g.courseid = ? JOIN ${t('user')} u ON u.id = ue.userid AND u.deleted = 0
           LEFT JOIN ${t('groups_members')} gm ON gm.groupid = g.id AND gm.userid = ue.userid
          WHERE ue.enrolid = ? AND gm.id IS NULL${only('ue.userid')} ORDER BY ue.userid`, withUsers([inst.groupid, inst.course.id, inst.id]));
      if (join.length) {
        await conn.query(`INSERT INTO ${t('groups_members')} (groupid, userid, timeadded, component, itemid) VALUES ?`,
          [join.map((r) => [inst.groupid, r.userid, now, COHORT_COMPONENT, inst.id])]);
        await conn.query(`UPDATE ${t('groups')} SET timemodified = ? WHERE id = ?`, [now, inst.groupid]);
        n.groupAdded = join.length;
      }
    }
  }
  if (dirty.size) await touchCacheFlags(conn, db, 'accesslib/dirtyusers', [...dirty].map(String), now, now + site.sessionTimeout);
  // Courses whose enrolments changed pass them on to their meta courses, as enrol_meta's observers do.
  if (dirty.size) await syncMetaChildren(conn, db, [...new Set(instances.map((i) => i.course.id))], now);
  return out;
}

/**
 * groups_remove_member of memberships the instance made (component enrol_cohort, itemid the
 * instance): of one user, or of `users` / everyone; with `otherGroupsOnly`, only those in a group
 * other than the instance's (groups_sync_with_enrolment). Touched groups get timemodified.
 */
async function removeInstanceGroupMemberships(conn: PoolConnection, db: MoodleDb, inst: CohortInstance, now: number, userid?: number, users?: number[], otherGroupsOnly = false): Promise<number> {
  const where = ['m.component = ?', 'm.itemid = ?', 'g.courseid = ?'];
  const params: unknown[] = [COHORT_COMPONENT, inst.id, inst.course.id];
  if (userid !== undefined) { where.push('m.userid = ?'); params.push(userid); }
  if (users) { where.push('m.userid IN (?)'); params.push(users); }
  if (otherGroupsOnly) { where.push('m.groupid <> ?'); params.push(inst.groupid); }
  const [rows] = await conn.query<RowDataPacket[]>(
    `SELECT m.id, m.groupid FROM ${db.t('groups_members')} m JOIN ${db.t('groups')} g ON g.id = m.groupid WHERE ${where.join(' AND ')}`, params);
  if (!rows.length) return 0;
  await conn.query(`DELETE FROM ${db.t('groups_members')} WHERE id IN (?)`, [ids(rows)]);
  await conn.query(`UPDATE ${db.t('groups')} SET timemodified = ? WHERE id IN (?)`, [now, [...new Set(ids(rows, 'groupid'))]]);
  return rows.length;
}

/**
 * enrol_plugin::delete_instance: every enrolment unenrolled as unenrol_user does, what is left of
 * the instance's group memberships, roles and enrolments removed, the instance deleted and the
 * course context marked dirty. The instance's group stays (empty).
 */
export async function deleteCohortInstance(conn: PoolConnection, db: MoodleDb, inst: CohortInstance, site: CohortEnrolSite, now: number): Promise<number> {
  const [ues] = await conn.query<RowDataPacket[]>(`SELECT userid FROM ${db.t('user_enrolments')} WHERE enrolid = ? ORDER BY userid`, [inst.id]);
  for (const r of ues) {
    await removeInstanceGroupMemberships(conn, db, inst, now, Number(r.userid));
    await unenrolUser(conn, db, { id: inst.id, roleid: inst.roleid, status: inst.status, enrol: inst.enrol }, inst.course, Number(r.userid), now, site.sessionTimeout);
  }
  await removeInstanceGroupMemberships(conn, db, inst, now);
  await conn.query(`DELETE FROM ${db.t('role_assignments')} WHERE component = ? AND itemid = ?`, [COHORT_COMPONENT, inst.id]);
  await conn.query(`DELETE FROM ${db.t('user_enrolments')} WHERE enrolid = ?`, [inst.id]);
  await conn.query(`DELETE FROM ${db.t('enrol')} WHERE id = ?`, [inst.id]);
  if (inst.course.path) await touchCacheFlags(conn, db, 'accesslib/dirtycontexts', [inst.course.path], now, now + site.sessionTimeout);
  return ues.length;
}

/**
 * cohort_delete_cohort: members and cohort go; then, as the cohort plugin's observer does, each
 * instance that follows it is deleted (unenrolaction 0), or disabled with its enrolments suspended
 * and its roles removed (2 and 3). Returns what happened to the instances.
 */
export async function deleteCohort(conn: PoolConnection, db: MoodleDb, cohort: Cohort, site: CohortEnrolSite, now: number): Promise<{ deleted: CohortInstance[]; disabled: CohortInstance[] }> {
  const instances = await instancesOfCohort(conn, db, cohort.id);
  await removeMembers(conn, db, cohort.id);
  await conn.query(`DELETE FROM ${db.t('cohort')} WHERE id = ?`, [cohort.id]);
  const result = { deleted: [] as CohortInstance[], disabled: [] as CohortInstance[] };
  for (const inst of instances) {
    if (site.unenrolAction === 0) {
      await deleteCohortInstance(conn, db, inst, site, now);
      result.deleted.push(inst);
    } else {
      await updateCohortInstance(conn, db, inst, { status: 1 }, now, site.sessionTimeout);
      await syncCohortEnrolments(conn, db, [inst], site, now);
      result.disabled.push(inst);
    }
  }
  return result;
}
