import type { PoolConnection, RowDataPacket } from 'mysql2/promise';
import type { MoodleDb } from './db';
import { ACTING_USER, unassignAllRoles, unenrolUser } from './enrol';
import { logEvents, touchCacheFlags } from './deferred';
import {
  cohortDeleted, courseContext, enrolInstanceDeleted, groupMemberAdded, groupMemberRemoved, roleAssigned, roleUnassigned,
  userEnrolmentCreated, userEnrolmentUpdated,
} from './events';
import { eventContext } from './eventContexts';
import { syncMetaChildren } from './meta';
import { insertWithIds } from './rows';
import { COHORT_COMPONENT, instancesOfCohort, updateCohortInstance, type Cohort, type CohortEnrolSite, type CohortInstance } from './cohorts';

/**
 * What the cohort enrolment plugin writes when a cohort, its members or its instances change
 * (enrol_cohort_sync, enrol_cohort_handler's observers, enrol_plugin::delete_instance,
 * cohort_delete_cohort), with the events each step logs in Moodle's order (moodle-writes.md
 * "cohort enrolment", "remove a cohort member", "delete a cohort that courses use").
 */

export interface SyncCounts { enrolled: number; reactivated: number; redated: number; unenrolled: number; suspended: number; rolesAssigned: number; rolesRemoved: number; groupAdded: number; groupRemoved: number }

export const emptyCounts = (): SyncCounts => ({ enrolled: 0, reactivated: 0, redated: 0, unenrolled: 0, suspended: 0, rolesAssigned: 0, rolesRemoved: 0, groupAdded: 0, groupRemoved: 0 });

/** Adds `more` into `into`, instance by instance. */
export function addCounts(into: Map<number, SyncCounts>, more: Map<number, SyncCounts>): Map<number, SyncCounts> {
  for (const [id, n] of more) {
    const sum = into.get(id) ?? emptyCounts();
    for (const k of Object.keys(n) as (keyof SyncCounts)[]) sum[k] += n[k];
    into.set(id, sum);
  }
  return into;
}

const ids = (rows: RowDataPacket[], col = 'id'): number[] => rows.map((r) => Number(r[col]));

/** userid -> id of rows one multi-row INSERT made: every id of one statement is at least its first. */
async function newIdsByUser(conn: PoolConnection, db: MoodleDb, table: string, firstId: number, where: string, params: unknown[], users: number[]): Promise<Map<number, number>> {
  const [rows] = await conn.query<RowDataPacket[]>(`SELECT id, userid FROM ${db.t(table)} WHERE id >= ? AND ${where} AND userid IN (?)`, [firstId, ...params, users]);
  return new Map(rows.map((r) => [Number(r.userid), Number(r.id)]));
}

/**
 * What enrol_cohort_sync makes of these instances (and what its observers do when a member is
 * added or removed), for every user or only `users`, instance by instance:
 *  - enabled instances: members (not deleted) get an active enrolment, dated by the instance's
 *    enrolstartdate / enrolenddate (0 / 0 unless a bindings file set them): user_enrolment_created,
 *    or user_enrolment_updated for one reactivated or re-dated;
 *  - enrolments of users no longer in the cohort go as unenrolaction says: unenrolled (0,
 *    unenrol_user), suspended (2, user_enrolment_updated), suspended with the instance's roles of
 *    that user removed right after (3, user_enrolment_updated then role_unassigned);
 *  - active enrolments of enabled instances hold the instance's role (component enrol_cohort,
 *    itemid the instance: role_assigned), and nothing else holds such a role (role_unassigned);
 *  - with a group (customint2), enrolled users are in it (component enrol_cohort, itemid the
 *    instance: group_member_added), and in no other group through the instance.
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
    const course = courseContext(inst.course);
    const active = site.enabled && inst.status === 0;
    if (active) {
      const [missing] = await conn.query<RowDataPacket[]>(
        `SELECT cm.userid FROM ${t('cohort_members')} cm JOIN ${t('user')} u ON u.id = cm.userid AND u.deleted = 0
           LEFT JOIN ${t('user_enrolments')} ue ON ue.enrolid = ? AND ue.userid = cm.userid
          WHERE cm.cohortid = ? AND ue.id IS NULL${only('cm.userid')} ORDER BY cm.userid`, withUsers([inst.id, inst.cohortid]));
      if (missing.length) {
        const joined = ids(missing, 'userid');
        const ue = await insertWithIds(conn, `INSERT INTO ${t('user_enrolments')} (status, enrolid, userid, timestart, timeend, modifierid, timecreated, timemodified) VALUES ?`,
          [joined.map((u) => [0, inst.id, u, inst.enrolstartdate, inst.enrolenddate, ACTING_USER, now, now])], joined,
          (firstId) => newIdsByUser(conn, db, 'user_enrolments', firstId, 'enrolid = ?', [inst.id], joined));
        await logEvents(conn, db, now, joined.map((u) => userEnrolmentCreated(course, ue.get(u)!, u, inst.enrol)));
        joined.forEach((u) => dirty.add(u));
        n.enrolled = joined.length;
      }
      // Members whose enrolment was suspended (an earlier removal) come back; dates follow the instance.
      const [stale] = await conn.query<RowDataPacket[]>(
        `SELECT ue.id, ue.userid, ue.status FROM ${t('user_enrolments')} ue JOIN ${t('cohort_members')} cm ON cm.cohortid = ? AND cm.userid = ue.userid
           JOIN ${t('user')} u ON u.id = ue.userid AND u.deleted = 0
          WHERE ue.enrolid = ? AND (ue.status <> 0 OR ue.timestart <> ? OR ue.timeend <> ?)${only('ue.userid')} ORDER BY ue.userid`,
        withUsers([inst.cohortid, inst.id, inst.enrolstartdate, inst.enrolenddate]));
      if (stale.length) {
        await conn.query(`UPDATE ${t('user_enrolments')} SET status = 0, timestart = ?, timeend = ?, modifierid = ?, timemodified = ? WHERE id IN (?)`,
          [inst.enrolstartdate, inst.enrolenddate, ACTING_USER, now, ids(stale)]);
        await logEvents(conn, db, now, stale.map((r) => userEnrolmentUpdated(course, Number(r.id), Number(r.userid), inst.enrol)));
        ids(stale, 'userid').forEach((u) => dirty.add(u));
        n.reactivated = stale.filter((r) => Number(r.status) !== 0).length;
        n.redated = stale.length - n.reactivated;
      }
    }

    const [gone] = await conn.query<RowDataPacket[]>(
      `SELECT ue.id, ue.userid, ue.status FROM ${t('user_enrolments')} ue LEFT JOIN ${t('cohort_members')} cm ON cm.cohortid = ? AND cm.userid = ue.userid
        WHERE ue.enrolid = ? AND cm.id IS NULL${only('ue.userid')} ORDER BY ue.userid`, withUsers([inst.cohortid, inst.id]));
    if (site.unenrolAction === 0) {
      // unenrol_user takes the instance's group memberships and roles with the enrolment.
      for (const r of gone) await unenrolUser(conn, db, { id: inst.id, roleid: inst.roleid, status: inst.status, enrol: inst.enrol }, inst.course, Number(r.userid), now, site.sessionTimeout);
      n.unenrolled = gone.length;
    } else {
      const toSuspend = gone.filter((r) => Number(r.status) === 0);
      if (toSuspend.length) {
        await conn.query(`UPDATE ${t('user_enrolments')} SET status = 1, modifierid = ?, timemodified = ? WHERE id IN (?)`, [ACTING_USER, now, ids(toSuspend)]);
        ids(toSuspend, 'userid').forEach((u) => dirty.add(u));
        n.suspended = toSuspend.length;
        for (const r of toSuspend) {
          await logEvents(conn, db, now, [userEnrolmentUpdated(course, Number(r.id), Number(r.userid), inst.enrol)]);
          if (site.unenrolAction !== 3) continue;
          n.rolesRemoved += await unassignAllRoles(conn, db,
            { userid: Number(r.userid), contextid: inst.course.contextid, component: COHORT_COMPONENT, itemid: inst.id }, now, site.sessionTimeout);
        }
      }
    }
    if (active) {
      const [need] = await conn.query<RowDataPacket[]>(
        `SELECT ue.userid FROM ${t('user_enrolments')} ue JOIN ${t('role')} r ON r.id = ? JOIN ${t('user')} u ON u.id = ue.userid AND u.deleted = 0
           LEFT JOIN ${t('role_assignments')} ra ON ra.contextid = ? AND ra.userid = ue.userid AND ra.roleid = r.id AND ra.component = ? AND ra.itemid = ?
          WHERE ue.enrolid = ? AND ue.status = 0 AND ra.id IS NULL${only('ue.userid')} ORDER BY ue.userid`,
        withUsers([inst.roleid, inst.course.contextid, COHORT_COMPONENT, inst.id, inst.id]));
      if (need.length) {
        const holders = ids(need, 'userid');
        const ra = await insertWithIds(conn, `INSERT INTO ${t('role_assignments')} (roleid, contextid, userid, timemodified, modifierid, component, itemid, sortorder) VALUES ?`,
          [holders.map((u) => [inst.roleid, inst.course.contextid, u, now, ACTING_USER, COHORT_COMPONENT, inst.id, 0])], holders,
          (firstId) => newIdsByUser(conn, db, 'role_assignments', firstId, 'contextid = ? AND roleid = ? AND component = ? AND itemid = ?',
            [inst.course.contextid, inst.roleid, COHORT_COMPONENT, inst.id], holders));
        await logEvents(conn, db, now, holders.map((u) => roleAssigned(course, { id: ra.get(u)!, roleid: inst.roleid, userid: u, component: COHORT_COMPONENT, itemid: inst.id })));
        holders.forEach((u) => dirty.add(u));
        n.rolesAssigned = holders.length;
      }
    }
    // Roles the instance must not give: no enrolment, instance disabled, or a suspended one (kept with unenrolaction 2).
    const [unwanted] = await conn.query<RowDataPacket[]>(
      `SELECT ra.id, ra.roleid, ra.userid FROM ${t('role_assignments')} ra LEFT JOIN ${t('user_enrolments')} ue ON ue.enrolid = ? AND ue.userid = ra.userid
        WHERE ra.contextid = ? AND ra.component = ? AND ra.itemid = ? AND (ue.id IS NULL OR ? <> 0 OR (ue.status <> 0 AND ? <> 2))${only('ra.userid')} ORDER BY ra.id`,
      withUsers([inst.id, inst.course.contextid, COHORT_COMPONENT, inst.id, inst.status, site.unenrolAction]));
    if (unwanted.length) {
      await conn.query(`DELETE FROM ${t('role_assignments')} WHERE id IN (?)`, [ids(unwanted)]);
      await logEvents(conn, db, now, unwanted.map((r) => roleUnassigned(course, { id: Number(r.id), roleid: Number(r.roleid), userid: Number(r.userid), component: COHORT_COMPONENT, itemid: inst.id })));
      ids(unwanted, 'userid').forEach((u) => dirty.add(u));
      n.rolesRemoved += unwanted.length;
    }
    if (!site.enabled) continue; // the plugin adds nothing and syncs no groups while it is disabled
    n.groupRemoved = await removeInstanceGroupMemberships(conn, db, inst, now, users, true);
    if (inst.groupid > 0) {
      const [join] = await conn.query<RowDataPacket[]>(
        `SELECT ue.userid FROM ${t('user_enrolments')} ue JOIN ${t('groups')} g ON g.id = ? AND g.courseid = ? JOIN ${t('user')} u ON u.id = ue.userid AND u.deleted = 0
           LEFT JOIN ${t('groups_members')} gm ON gm.groupid = g.id AND gm.userid = ue.userid
          WHERE ue.enrolid = ? AND gm.id IS NULL${only('ue.userid')} ORDER BY ue.userid`, withUsers([inst.groupid, inst.course.id, inst.id]));
      if (join.length) {
        const members = ids(join, 'userid');
        await conn.query(`INSERT INTO ${t('groups_members')} (groupid, userid, timeadded, component, itemid) VALUES ?`,
          [members.map((u) => [inst.groupid, u, now, COHORT_COMPONENT, inst.id])]);
        await conn.query(`UPDATE ${t('groups')} SET timemodified = ? WHERE id = ?`, [now, inst.groupid]);
        await logEvents(conn, db, now, members.map((u) => groupMemberAdded(course, inst.groupid, u, COHORT_COMPONENT, inst.id)));
        n.groupAdded = members.length;
      }
    }
  }
  if (dirty.size) await touchCacheFlags(conn, db, 'accesslib/dirtyusers', [...dirty].map(String), now, now + site.sessionTimeout);
  // Courses whose enrolments changed pass them on to their meta courses, as enrol_meta's observers do.
  if (dirty.size) await syncMetaChildren(conn, db, [...new Set(instances.map((i) => i.course.id))], now);
  return out;
}

/**
 * groups_remove_member (group_member_removed each, by membership) of memberships the instance
 * made (component enrol_cohort, itemid the instance): of `users` or everyone; with
 * `otherGroupsOnly`, only those in a group other than the instance's (groups_sync_with_enrolment).
 * Touched groups get timemodified.
 */
async function removeInstanceGroupMemberships(conn: PoolConnection, db: MoodleDb, inst: CohortInstance, now: number, users?: number[], otherGroupsOnly = false): Promise<number> {
  const where = ['m.component = ?', 'm.itemid = ?', 'g.courseid = ?'];
  const params: unknown[] = [COHORT_COMPONENT, inst.id, inst.course.id];
  if (users) { where.push('m.userid IN (?)'); params.push(users); }
  if (otherGroupsOnly) { where.push('m.groupid <> ?'); params.push(inst.groupid); }
  const [rows] = await conn.query<RowDataPacket[]>(
    `SELECT m.id, m.groupid, m.userid FROM ${db.t('groups_members')} m JOIN ${db.t('groups')} g ON g.id = m.groupid WHERE ${where.join(' AND ')} ORDER BY m.id`, params);
  if (!rows.length) return 0;
  await conn.query(`DELETE FROM ${db.t('groups_members')} WHERE id IN (?)`, [ids(rows)]);
  await conn.query(`UPDATE ${db.t('groups')} SET timemodified = ? WHERE id IN (?)`, [now, [...new Set(ids(rows, 'groupid'))]]);
  const course = courseContext(inst.course);
  await logEvents(conn, db, now, rows.map((r) => groupMemberRemoved(course, Number(r.groupid), Number(r.userid))));
  return rows.length;
}

/**
 * enrol_plugin::delete_instance: every enrolment unenrolled as unenrol_user does (its events), by
 * enrolment; what is left of the instance's group memberships (group_member_removed), roles and
 * enrolments removed; the instance deleted (enrol_instance_deleted) and the course context marked
 * dirty. The instance's group stays (empty). Returns how many were enrolled.
 */
export async function deleteCohortInstance(conn: PoolConnection, db: MoodleDb, inst: CohortInstance, site: CohortEnrolSite, now: number): Promise<number> {
  const [ues] = await conn.query<RowDataPacket[]>(`SELECT userid FROM ${db.t('user_enrolments')} WHERE enrolid = ? ORDER BY id`, [inst.id]);
  for (const r of ues) {
    await unenrolUser(conn, db, { id: inst.id, roleid: inst.roleid, status: inst.status, enrol: inst.enrol }, inst.course, Number(r.userid), now, site.sessionTimeout);
  }
  await removeInstanceGroupMemberships(conn, db, inst, now);
  await conn.query(`DELETE FROM ${db.t('role_assignments')} WHERE component = ? AND itemid = ?`, [COHORT_COMPONENT, inst.id]);
  await conn.query(`DELETE FROM ${db.t('user_enrolments')} WHERE enrolid = ?`, [inst.id]);
  await conn.query(`DELETE FROM ${db.t('enrol')} WHERE id = ?`, [inst.id]);
  await logEvents(conn, db, now, [enrolInstanceDeleted(courseContext(inst.course), inst.id, inst.enrol)]);
  if (inst.course.path) await touchCacheFlags(conn, db, 'accesslib/dirtycontexts', [inst.course.path], now, now + site.sessionTimeout);
  return ues.length;
}

/** role_unassign_all of every role the instance gave in its course (role_unassigned each, by assignment). */
async function unassignInstanceRoles(conn: PoolConnection, db: MoodleDb, inst: CohortInstance, now: number, sessionTimeout: number): Promise<void> {
  // One role per user and instance: user by user in the order of their assignments is the order of the assignments.
  const [holders] = await conn.query<RowDataPacket[]>(
    `SELECT userid FROM ${db.t('role_assignments')} WHERE contextid = ? AND component = ? AND itemid = ? GROUP BY userid ORDER BY MIN(id)`,
    [inst.course.contextid, COHORT_COMPONENT, inst.id]);
  for (const h of holders) {
    await unassignAllRoles(conn, db, { userid: Number(h.userid), contextid: inst.course.contextid, component: COHORT_COMPONENT, itemid: inst.id }, now, sessionTimeout);
  }
}

/**
 * cohort_delete_cohort: members and cohort go (no cohort_member_removed), cohort_deleted; then, as
 * the cohort plugin's observer does, each instance that follows it is deleted (unenrolaction 0), or
 * disabled and synced, which suspends its enrolments (2; with 3 the instance's roles are removed
 * first). Returns what happened to the instances.
 */
export async function deleteCohort(conn: PoolConnection, db: MoodleDb, cohort: Cohort, site: CohortEnrolSite, now: number): Promise<{ deleted: CohortInstance[]; disabled: CohortInstance[] }> {
  const instances = await instancesOfCohort(conn, db, cohort.id);
  await conn.query(`DELETE FROM ${db.t('cohort_members')} WHERE cohortid = ?`, [cohort.id]);
  await conn.query(`DELETE FROM ${db.t('cohort')} WHERE id = ?`, [cohort.id]);
  await logEvents(conn, db, now, [cohortDeleted(await eventContext(conn, db, cohort.contextid), cohort.id)]);
  const result = { deleted: [] as CohortInstance[], disabled: [] as CohortInstance[] };
  for (const inst of instances) {
    if (site.unenrolAction === 0) {
      await deleteCohortInstance(conn, db, inst, site, now);
      result.deleted.push(inst);
    } else {
      if (site.unenrolAction === 3) await unassignInstanceRoles(conn, db, inst, now, site.sessionTimeout);
      await updateCohortInstance(conn, db, inst, { status: 1 }, now, site.sessionTimeout);
      await syncCohortEnrolments(conn, db, [inst], site, now);
      result.disabled.push(inst);
    }
  }
  return result;
}
