import { createHash } from 'node:crypto';
import type { PoolConnection, RowDataPacket } from 'mysql2/promise';
import type { MoodleDb } from './db';
import { logEvents, touchCacheFlags } from './deferred';
import { unassignAllRoles, unenrolUser, CONTEXT_COURSE } from './enrol';
import { userContext, userDeleted } from './events';
import { userContexts, type ExistingUser } from './users';

/**
 * Moodle's soft delete (delete_user): the account row is kept with deleted = 1 and its username,
 * idnumber and email rewritten. First every enrolment of an enabled plugin is unenrolled as the
 * plugin does it (enrol_user_delete: plugins in enrol_plugins_enabled order), then every role
 * assignment left goes (role_unassign_all), both with their events; then, without events, the
 * remaining enrolments, memberships, cohort memberships, profile data and preferences. user_deleted
 * carries the old identity; a data privacy deletion request is recorded.
 */
export async function softDeleteUser(conn: PoolConnection, db: MoodleDb, user: ExistingUser, now: number, sessionTimeout: number, actingUserId: number): Promise<void> {
  let delname = `${String(user.email).toLowerCase()}.${now}`.replace(/[^a-z0-9_.@-]/g, '');
  for (let n = now; ; n++) {
    const [clash] = await conn.query<RowDataPacket[]>(`SELECT 1 FROM ${db.t('user')} WHERE username = ? AND mnethostid = ?`, [delname, user.mnethostid]);
    if (!clash.length) break;
    delname = `${String(user.email).toLowerCase()}.${n + 1}`.replace(/[^a-z0-9_.@-]/g, '');
  }
  const [cfg] = await conn.query<RowDataPacket[]>(`SELECT value FROM ${db.t('config')} WHERE name = 'enrol_plugins_enabled'`);
  const enabled = String(cfg[0]?.value ?? '').split(',').map((p) => p.trim()).filter(Boolean);
  const [enrolments] = await conn.query<RowDataPacket[]>(
    `SELECT e.id, e.enrol, e.roleid, e.status, c.id AS courseid, c.shortname, x.id AS contextid FROM ${db.t('user_enrolments')} ue
       JOIN ${db.t('enrol')} e ON e.id = ue.enrolid JOIN ${db.t('course')} c ON c.id = e.courseid JOIN ${db.t('context')} x ON x.contextlevel = ? AND x.instanceid = c.id
      WHERE ue.userid = ? ORDER BY e.id`, [CONTEXT_COURSE, user.id]);
  for (const plugin of enabled) {
    for (const e of enrolments.filter((r) => r.enrol === plugin)) {
      await unenrolUser(conn, db, { id: Number(e.id), enrol: plugin, roleid: Number(e.roleid), status: Number(e.status) },
        { id: Number(e.courseid), contextid: Number(e.contextid), shortname: String(e.shortname) }, user.id, now, sessionTimeout);
    }
  }
  await unassignAllRoles(conn, db, { userid: user.id }, now, sessionTimeout);
  await conn.query(`DELETE FROM ${db.t('cohort_members')} WHERE userid = ?`, [user.id]);
  await conn.query(`DELETE FROM ${db.t('groups_members')} WHERE userid = ?`, [user.id]);
  await conn.query(`DELETE FROM ${db.t('user_enrolments')} WHERE userid = ?`, [user.id]);
  await conn.query(`DELETE FROM ${db.t('user_info_data')} WHERE userid = ?`, [user.id]);
  await conn.query(`DELETE FROM ${db.t('user_preferences')} WHERE userid = ?`, [user.id]);
  await conn.query(`UPDATE ${db.t('user')} SET deleted = 1, username = ?, idnumber = '', email = ?, timemodified = ? WHERE id = ?`,
    [delname, createHash('md5').update(user.username).digest('hex'), now, user.id]);
  await touchCacheFlags(conn, db, 'accesslib/dirtyusers', [String(user.id)], now, now + sessionTimeout);
  const contextid = user.contextid ?? (await userContexts(conn, db, [user.id])).get(user.id)!;
  await logEvents(conn, db, now, [userDeleted(userContext(contextid, user.id), {
    username: user.username, email: String(user.email), idnumber: String(user.idnumber), picture: String(user.picture ?? 0), mnethostid: String(user.mnethostid),
  })]);
  await conn.query(
    `INSERT INTO ${db.t('tool_dataprivacy_request')} (type, comments, commentsformat, userid, requestedby, status, dpo, dpocomment, dpocommentformat, systemapproved, usermodified, timecreated, timemodified, creationmethod)
     VALUES (2, 'Automatically created upon user deletion.', 0, ?, ?, 2, 0, NULL, 0, 0, ?, ?, ?, 1)`,
    [user.id, actingUserId, actingUserId, now, now]);
}
