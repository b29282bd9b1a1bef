import type { RowDataPacket } from 'mysql2/promise';
import type { ChunkContext } from './types';
import type { RowPlan } from './enrols';
import { ACTING_USER, enrolmentChange, enrolResult, type EnrolInstance } from '../moodle/enrol';
import { touchCacheFlags } from '../moodle/users';

/**
 * Many independent `add` rows at once: what enrolUser does row by row (the user enrolment, created
 * or its dates changed, then the role in the course context, then dirtyusers), with one read and
 * one insert per table for the whole set. Each (user, course) appears once in `items`.
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
  }
  if (newEnrolments.length) {
    await conn.query(`INSERT INTO ${db.t('user_enrolments')} (status, enrolid, userid, timestart, timeend, modifierid, timecreated, timemodified) VALUES ?`, [newEnrolments]);
  }
  if (newRoles.length) {
    await conn.query(`INSERT INTO ${db.t('role_assignments')} (roleid, contextid, userid, timemodified, modifierid, component, itemid, sortorder) VALUES ?`, [newRoles]);
  }
  await touchCacheFlags(conn, db, 'accesslib/dirtyusers', dirty, now, now + sessionTimeout);
  return results;
}
