import type { RowDataPacket } from 'mysql2/promise';
import type { ChunkContext } from './types';
import type { RowPlan } from './enrols';
import { ACTING_USER, enrolmentChange, enrolResult, type EnrolInstance } from '../moodle/enrol';
import { logEvents, touchCacheFlags } from '../moodle/deferred';
import { insertWithIds } from '../moodle/rows';
import { courseContext, roleAssigned, userEnrolmentCreated, userEnrolmentUpdated, type LogEvent } from '../moodle/events';

/**
 * Many independent `add` rows at once: what enrolUser does row by row (the user enrolment, created
 * or its dates changed, then the role in the course context, then dirtyusers, and their events in
 * row order), with one read and one insert per table for the whole set.
 * Each (user, course) appears once in `items`.
 */
export async function addEnrolments(ctx: ChunkContext, items: { p: RowPlan; instance: EnrolInstance }[], sessionTimeout: number): Promise<('enrolled' | 'updated' | 'unchanged')[]> {
  if (!items.length) return [];
  const { conn, db, now } = ctx;
  const userIds = [...new Set(items.map((x) => x.p.user.id))];
  const [ues] = await conn.query<RowDataPacket[]>(
    `SELECT id, enrolid, userid, timestart, timeend FROM ${db.t('user_enrolments')} WHERE enrolid IN (?) AND userid IN (?)`,
    [[...new Set(items.map((x) => x.instance.id))], userIds]);
  const ueOf = new Map(ues.map((r) => [`${r.enrolid}:${r.userid}`, r]));
  const [ras] = await conn.query<RowDataPacket[]>(
    `SELECT roleid, contextid, userid FROM ${db.t('role_assignments')} WHERE contextid IN (?) AND userid IN (?) AND component = '' AND itemid = 0`,
    [[...new Set(items.map((x) => x.p.course.contextid))], userIds]);
  const hasRole = new Set(ras.map((r) => `${r.roleid}:${r.contextid}:${r.userid}`));

  const newEnrolments: unknown[][] = [];
  const newRoles: unknown[][] = [];
  const dirty: string[] = [];
  const results: ('enrolled' | 'updated' | 'unchanged')[] = [];
  /** What each row did, for its events once the new rows have ids. */
  const done: { p: RowPlan; instance: EnrolInstance; action: 'insert' | 'update' | 'none'; ueid?: number; assigned: boolean }[] = [];
  for (const { p, instance } of items) {
    const have = ueOf.get(`${instance.id}:${p.user.id}`);
    const change = enrolmentChange(have ? { timestart: Number(have.timestart), timeend: Number(have.timeend) } : undefined, p.start, p.end, now);
    if (change.action === 'insert') newEnrolments.push([0, instance.id, p.user.id, change.timestart, change.timeend, ACTING_USER, now, now]);
    if (change.action === 'update') {
      await conn.query(`UPDATE ${db.t('user_enrolments')} SET timestart = ?, timeend = ?, modifierid = ?, timemodified = ? WHERE id = ?`,
        [change.timestart, change.timeend, ACTING_USER, now, have!.id]);
    }
    const roleKey = `${p.roleid}:${p.course.contextid}:${p.user.id}`;
    const assigned = p.roleid !== undefined && !hasRole.has(roleKey);
    if (assigned) {
      newRoles.push([p.roleid, p.course.contextid, p.user.id, now, ACTING_USER, '', 0, 0]);
      hasRole.add(roleKey);
    }
    if (change.action !== 'none' || assigned) dirty.push(String(p.user.id));
    results.push(enrolResult(change.action, assigned));
    done.push({ p, instance, action: change.action, ueid: have ? Number(have.id) : undefined, assigned });
  }
  // The new rows' ids by key; read back, if need be, as every id of one statement is at least its first.
  const ueIds = await insertWithIds(conn, `INSERT INTO ${db.t('user_enrolments')} (status, enrolid, userid, timestart, timeend, modifierid, timecreated, timemodified) VALUES ?`,
    [newEnrolments], newEnrolments.map((e) => `${e[1]}:${e[2]}`), async (firstId) => {
      const [rows] = await conn.query<RowDataPacket[]>(`SELECT id, enrolid, userid FROM ${db.t('user_enrolments')} WHERE id >= ? AND enrolid IN (?) AND userid IN (?)`,
        [firstId, [...new Set(newEnrolments.map((e) => e[1]))], [...new Set(newEnrolments.map((e) => e[2]))]]);
      return new Map(rows.map((r) => [`${r.enrolid}:${r.userid}`, Number(r.id)]));
    });
  const raIds = await insertWithIds(conn, `INSERT INTO ${db.t('role_assignments')} (roleid, contextid, userid, timemodified, modifierid, component, itemid, sortorder) VALUES ?`,
    [newRoles], newRoles.map((r) => `${r[0]}:${r[1]}:${r[2]}`), async (firstId) => {
      const [rows] = await conn.query<RowDataPacket[]>(
        `SELECT id, roleid, contextid, userid FROM ${db.t('role_assignments')} WHERE id >= ? AND contextid IN (?) AND userid IN (?) AND component = '' AND itemid = 0`,
        [firstId, [...new Set(newRoles.map((r) => r[1]))], [...new Set(newRoles.map((r) => r[2]))]]);
      return new Map(rows.map((r) => [`${r.roleid}:${r.contextid}:${r.userid}`, Number(r.id)]));
    });
  await touchCacheFlags(conn, db, 'accesslib/dirtyusers', dirty, now, now + sessionTimeout);
  await logEvents(conn, db, now, done.flatMap(({ p, instance, action, ueid, assigned }) => {
    const course = courseContext(p.course);
    const events: LogEvent[] = [];
    if (action === 'insert') events.push(userEnrolmentCreated(course, ueIds.get(`${instance.id}:${p.user.id}`)!, p.user.id, instance.enrol));
    if (action === 'update') events.push(userEnrolmentUpdated(course, ueid!, p.user.id, instance.enrol));
    if (assigned) events.push(roleAssigned(course, { id: raIds.get(`${p.roleid}:${p.course.contextid}:${p.user.id}`)!, roleid: p.roleid!, userid: p.user.id, component: '', itemid: 0 }));
    return events;
  }));
  return results;
}
