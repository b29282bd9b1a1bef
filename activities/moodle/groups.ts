import type { PoolConnection, ResultSetHeader, RowDataPacket } from 'mysql2/promise';
import type { MoodleDb } from './db';
import { logEvents } from './deferred';
import {
  groupCreated, groupDeleted, groupingCreated, groupingDeleted, groupingGroupAssigned, groupingUpdated, groupMemberAdded, groupMemberRemoved,
  groupUpdated, type EventContext, type LogEvent,
} from './events';
import { courseEventContext } from './eventContexts';

/**
 * Groups and groupings as Moodle's group API writes them (moodle-writes.md: create a group, add a
 * group member, groupings, removing a group member, deleting a group). None of these writes
 * cache_flags or course.cacherev. Events (logstore) are logged in the course context.
 */

export type GroupTable = 'groups' | 'groupings';
/** How a file names a group or grouping (groups_groupidentifier, groups_groupingidentifier). */
export type GroupField = 'id' | 'idnumber' | 'name';

export interface GroupRecord { id: number; courseid: number; name: string; idnumber: string; description: string | null }

const COLUMN: Record<GroupField, string> = { id: 'id', idnumber: 'idnumber', name: 'name' };

const record = (r: RowDataPacket): GroupRecord =>
  ({ id: Number(r.id), courseid: Number(r.courseid), name: String(r.name), idnumber: String(r.idnumber), description: r.description === null ? null : String(r.description) });

/**
 * Groups (or groupings) whose `field` equals `value`, in one course or (courseid undefined) any
 * course; at most two, so a caller can tell "none", "one" and "ambiguous" apart.
 */
export async function findInCourse(conn: PoolConnection, db: MoodleDb, table: GroupTable, courseid: number | undefined, field: GroupField, value: string): Promise<GroupRecord[]> {
  const where = [`${COLUMN[field]} = ?`];
  const params: unknown[] = [value];
  if (courseid !== undefined) { where.push('courseid = ?'); params.push(courseid); }
  const [rows] = await conn.query<RowDataPacket[]>(
    `SELECT id, courseid, name, idnumber, description FROM ${db.t(table)} WHERE ${where.join(' AND ')} ORDER BY id LIMIT 2`, params);
  return rows.map(record);
}

/** The group of that name in the course, if any. */
export async function findGroup(conn: PoolConnection, db: MoodleDb, courseid: number, name: string): Promise<number | undefined> {
  const [g] = await findInCourse(conn, db, 'groups', courseid, 'name', name);
  return g?.id;
}

export interface NewGroup { courseid: number; name: string; idnumber?: string; description?: string | null; descriptionformat?: number }

/**
 * groups_create_group: what the caller gives, the table's defaults for the rest (idnumber '',
 * description NULL, descriptionformat 0), visibility 0, participation 1, no enrolment key.
 */
export async function createGroup(conn: PoolConnection, db: MoodleDb, g: NewGroup, now: number): Promise<number> {
  const [res] = await conn.query<ResultSetHeader>(
    `INSERT INTO ${db.t('groups')} (courseid, idnumber, name, description, descriptionformat, enrolmentkey, picture, visibility, participation, timecreated, timemodified)
     VALUES (?, ?, ?, ?, ?, NULL, 0, 0, 1, ?, ?)`,
    [g.courseid, g.idnumber ?? '', g.name, g.description ?? null, g.descriptionformat ?? 0, now, now]);
  await logEvents(conn, db, now, [groupCreated(await courseEventContext(conn, db, g.courseid), res.insertId)]);
  return res.insertId;
}

/** The group of that name in the course, created as groups_create_group({name, courseid}) makes it when missing. */
export async function findOrCreateGroup(conn: PoolConnection, db: MoodleDb, courseid: number, name: string, now: number): Promise<{ id: number; created: boolean }> {
  const id = await findGroup(conn, db, courseid, name);
  if (id !== undefined) return { id, created: false };
  return { id: await createGroup(conn, db, { courseid, name }, now), created: true };
}

export interface NewGrouping { courseid: number; name: string; idnumber: string; description: string }

/** groups_create_grouping: descriptionformat 1 (HTML), configdata NULL. */
export async function createGrouping(conn: PoolConnection, db: MoodleDb, g: NewGrouping, now: number): Promise<number> {
  const [res] = await conn.query<ResultSetHeader>(
    `INSERT INTO ${db.t('groupings')} (courseid, name, idnumber, description, descriptionformat, configdata, timecreated, timemodified)
     VALUES (?, ?, ?, ?, 1, NULL, ?, ?)`, [g.courseid, g.name, g.idnumber, g.description, now, now]);
  await logEvents(conn, db, now, [groupingCreated(await courseEventContext(conn, db, g.courseid), res.insertId)]);
  return res.insertId;
}

export type GroupChanges = Partial<Pick<GroupRecord, 'name' | 'idnumber' | 'description'>>;

const UPDATED: Record<GroupTable, (course: EventContext, id: number) => LogEvent> = { groups: groupUpdated, groupings: groupingUpdated };
const DELETED: Record<GroupTable, (course: EventContext, id: number) => LogEvent> = { groups: groupDeleted, groupings: groupingDeleted };

/**
 * groups_update_group / groups_update_grouping: the given columns and timemodified, group_updated /
 * grouping_updated. Values equal to the stored ones are no change; with nothing to change the row
 * is left alone (and nothing logged). Returns the columns changed.
 */
export async function updateInCourse(conn: PoolConnection, db: MoodleDb, table: GroupTable, current: GroupRecord, changes: GroupChanges, now: number): Promise<string[]> {
  const changed = (Object.keys(changes) as (keyof GroupChanges)[]).filter((k) => changes[k] !== undefined && changes[k] !== current[k]);
  if (!changed.length) return [];
  await conn.query(`UPDATE ${db.t(table)} SET ${changed.map((c) => `${c} = ?`).join(', ')}, timemodified = ? WHERE id = ?`,
    [...changed.map((c) => changes[c]), now, current.id]);
  await logEvents(conn, db, now, [UPDATED[table](await courseEventContext(conn, db, current.courseid), current.id)]);
  return changed;
}

/** group_deleted / grouping_deleted for each of `ids` (read before they go), in that order, in its course's context. */
async function deletionEvents(conn: PoolConnection, db: MoodleDb, table: GroupTable, ids: number[]): Promise<LogEvent[]> {
  const [rows] = await conn.query<RowDataPacket[]>(`SELECT id, courseid FROM ${db.t(table)} WHERE id IN (?)`, [ids]);
  const courseOf = new Map(rows.map((r) => [Number(r.id), Number(r.courseid)]));
  const events: LogEvent[] = [];
  for (const id of ids.filter((i) => courseOf.has(i))) events.push(DELETED[table](await courseEventContext(conn, db, courseOf.get(id)!), id));
  return events;
}

/** groups_assign_grouping: the link, unless present; the group and grouping rows are not touched. */
export async function assignGrouping(conn: PoolConnection, db: MoodleDb, groupingid: number, groupid: number, now: number): Promise<boolean> {
  const [have] = await conn.query<RowDataPacket[]>(`SELECT 1 FROM ${db.t('groupings_groups')} WHERE groupingid = ? AND groupid = ? LIMIT 1`, [groupingid, groupid]);
  if (have.length) return false;
  await conn.query(`INSERT INTO ${db.t('groupings_groups')} (groupingid, groupid, timeadded) VALUES (?, ?, ?)`, [groupingid, groupid, now]);
  const [g] = await conn.query<RowDataPacket[]>(`SELECT courseid FROM ${db.t('groupings')} WHERE id = ?`, [groupingid]);
  await logEvents(conn, db, now, [groupingGroupAssigned(await courseEventContext(conn, db, Number(g[0].courseid)), groupingid, groupid)]);
  return true;
}

/** The user's membership of a group, if any. */
export async function findMembership(conn: PoolConnection, db: MoodleDb, groupid: number, userid: number): Promise<{ id: number; component: string } | undefined> {
  const [rows] = await conn.query<RowDataPacket[]>(`SELECT id, component FROM ${db.t('groups_members')} WHERE groupid = ? AND userid = ?`, [groupid, userid]);
  return rows.length ? { id: Number(rows[0].id), component: String(rows[0].component) } : undefined;
}

/** groups_add_member: the membership, the group's timemodified, group_member_added. */
export async function addGroupMember(conn: PoolConnection, db: MoodleDb, groupid: number, userid: number, now: number, component = '', itemid = 0): Promise<boolean> {
  if (await findMembership(conn, db, groupid, userid)) return false;
  await conn.query(`INSERT INTO ${db.t('groups_members')} (groupid, userid, timeadded, component, itemid) VALUES (?, ?, ?, ?, ?)`, [groupid, userid, now, component, itemid]);
  await conn.query(`UPDATE ${db.t('groups')} SET timemodified = ? WHERE id = ?`, [now, groupid]);
  const [g] = await conn.query<RowDataPacket[]>(`SELECT courseid FROM ${db.t('groups')} WHERE id = ?`, [groupid]);
  await logEvents(conn, db, now, [groupMemberAdded(await courseEventContext(conn, db, Number(g[0].courseid)), groupid, userid, component, itemid)]);
  return true;
}

/**
 * groups_remove_member for the user's memberships in the course's groups: only the groups listed
 * (`only`), or all but `except`, and with `component` (and `itemid`) only memberships of that
 * component. Each group left gets timemodified = now and a group_member_removed, by membership id.
 * Returns the ids of the groups left.
 */
export async function removeGroupMemberships(conn: PoolConnection, db: MoodleDb, courseid: number, userid: number, now: number,
  opts: { only?: number[]; except?: number[]; component?: string; itemid?: number } = {}): Promise<number[]> {
  if (opts.only && !opts.only.length) return [];
  const where = ['g.courseid = ?', 'm.userid = ?'];
  const params: unknown[] = [courseid, userid];
  if (opts.only) { where.push('g.id IN (?)'); params.push(opts.only); }
  if (opts.except?.length) { where.push('g.id NOT IN (?)'); params.push(opts.except); }
  if (opts.component !== undefined) { where.push('m.component = ?'); params.push(opts.component); }
  if (opts.itemid !== undefined) { where.push('m.itemid = ?'); params.push(opts.itemid); }
  const [rows] = await conn.query<RowDataPacket[]>(
    `SELECT m.id, m.groupid FROM ${db.t('groups_members')} m JOIN ${db.t('groups')} g ON g.id = m.groupid WHERE ${where.join(' AND ')} ORDER BY m.id`, params);
  if (!rows.length) return [];
  await conn.query(`DELETE FROM ${db.t('groups_members')} WHERE id IN (?)`, [rows.map((r) => r.id)]);
  const groups = [...new Set(rows.map((r) => Number(r.groupid)))];
  await conn.query(`UPDATE ${db.t('groups')} SET timemodified = ? WHERE id IN (?)`, [now, groups]);
  const course = await courseEventContext(conn, db, courseid);
  await logEvents(conn, db, now, rows.map((r) => groupMemberRemoved(course, Number(r.groupid), userid)));
  return groups;
}

/** The groups of these courses that have no member, by course then name. */
export async function emptyGroups(conn: PoolConnection, db: MoodleDb, courseids: number[]): Promise<GroupRecord[]> {
  if (!courseids.length) return [];
  const [rows] = await conn.query<RowDataPacket[]>(
    `SELECT g.id, g.courseid, g.name, g.idnumber, g.description FROM ${db.t('groups')} g
      WHERE g.courseid IN (?) AND NOT EXISTS (SELECT 1 FROM ${db.t('groups_members')} m WHERE m.groupid = g.id) ORDER BY g.courseid, g.name, g.id`, [courseids]);
  return rows.map(record);
}

/** The groupings of these courses that hold no group, by course then name. */
export async function emptyGroupings(conn: PoolConnection, db: MoodleDb, courseids: number[]): Promise<GroupRecord[]> {
  if (!courseids.length) return [];
  const [rows] = await conn.query<RowDataPacket[]>(
    `SELECT g.id, g.courseid, g.name, g.idnumber, g.description FROM ${db.t('groupings')} g
      WHERE g.courseid IN (?) AND NOT EXISTS (SELECT 1 FROM ${db.t('groupings_groups')} gg WHERE gg.groupingid = g.id) ORDER BY g.courseid, g.name, g.id`, [courseids]);
  return rows.map(record);
}

/**
 * groups_delete_group: the groups' calendar events, grouping links and memberships (no per-member
 * event), then the groups, group_deleted each; their groupings stay unchanged.
 */
export async function deleteGroups(conn: PoolConnection, db: MoodleDb, ids: number[], now: number): Promise<void> {
  if (!ids.length) return;
  const events = await deletionEvents(conn, db, 'groups', ids);
  await conn.query(`DELETE FROM ${db.t('event')} WHERE groupid IN (?)`, [ids]);
  await conn.query(`DELETE FROM ${db.t('groupings_groups')} WHERE groupid IN (?)`, [ids]);
  await conn.query(`DELETE FROM ${db.t('groups_members')} WHERE groupid IN (?)`, [ids]);
  await conn.query(`DELETE FROM ${db.t('groups')} WHERE id IN (?)`, [ids]);
  await logEvents(conn, db, now, events);
}

/**
 * groups_delete_grouping: activities and courses that used a grouping fall back to none
 * (groupingid / defaultgroupingid 0), then its group links and the grouping go, grouping_deleted each.
 */
export async function deleteGroupings(conn: PoolConnection, db: MoodleDb, ids: number[], now: number): Promise<void> {
  if (!ids.length) return;
  const events = await deletionEvents(conn, db, 'groupings', ids);
  await conn.query(`UPDATE ${db.t('course_modules')} SET groupingid = 0 WHERE groupingid IN (?)`, [ids]);
  await conn.query(`UPDATE ${db.t('course')} SET defaultgroupingid = 0 WHERE defaultgroupingid IN (?)`, [ids]);
  await conn.query(`DELETE FROM ${db.t('groupings_groups')} WHERE groupingid IN (?)`, [ids]);
  await conn.query(`DELETE FROM ${db.t('groupings')} WHERE id IN (?)`, [ids]);
  await logEvents(conn, db, now, events);
}
