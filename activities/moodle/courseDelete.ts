import type { PoolConnection, RowDataPacket } from 'mysql2/promise';
import type { MoodleDb } from './db';
import { touchCacheFlags } from './users';
import { ACTING_USER, unenrolUser } from './enrol';
import { detachFromDeletedParents, type MetaSite } from './meta';
import { logEvents } from './deferred';
import {
  courseContentDeleted, courseContext, courseDeleted, enrolInstanceDeleted, gradeItemCreated, gradeItemDeleted, groupDeleted, groupingDeleted,
  roleUnassigned, type LogEvent,
} from './events';
import { fixCourseSortorder } from './sortorder';
import { siteConfig } from './rows';

/**
 * delete_course($id, false) followed by fix_course_sortorder(), as the original's delete file runs
 * them (moodle-writes.md "delete a course"). Deleted: the course, its context and every context
 * below it, sections, format options, course modules and forums, enrol instances (manual, guest,
 * self, cohort, meta...) with their user enrolments, every role assignment in those contexts,
 * groups, members, groupings; left behind as Moodle leaves them: the grade history rows of the
 * course grade category and item that delete_course creates and deletes, the dirtycontexts and
 * dirtyusers cache flags; then fix_course_sortorder: coursecount recounted, the category's courses
 * renumbered.
 *
 * The event log follows delete_course course by course (moodle-writes.md, 12 rows without the bin):
 * grade_item_created / grade_item_deleted, each enrolled user's unenrol_user events and
 * enrol_instance_deleted per instance of an enabled plugin (enrol_course_delete), role_unassigned
 * for the plain assignments left (role_unassign_all), grouping_deleted and group_deleted,
 * course_content_deleted, course_deleted; then enrol_meta's course_deleted observer on the links of
 * other courses to it.
 *
 * Not done: the category recycle-bin backup (backup_controllers, tool_recyclebin_category, a
 * backup.mbz in files, course_backup_created and category_bin_item_created in the log) that Moodle
 * keeps while tool_recyclebin categorybinenable is on: course backups are out of scope (spec
 * decision 20), so the course goes as with the bin off.
 */

export interface CourseToDelete { id: number; category: number; shortname: string; fullname: string; idnumber: string; contextid: number; path: string }

/** Module tables Moodle's forum_delete_instance empties that can hold rows without discussions. */
const FORUM_USER_TABLES: [table: string, column: string][] = [['forum_subscriptions', 'forum'], ['forum_digests', 'forum'], ['forum_track_prefs', 'forumid']];

/** Every context of the courses: their course contexts and all contexts below them. */
async function contextsOf(conn: PoolConnection, db: MoodleDb, courses: CourseToDelete[]): Promise<RowDataPacket[]> {
  const [rows] = await conn.query<RowDataPacket[]>(
    `SELECT id, path FROM ${db.t('context')} WHERE id IN (?)${' OR path LIKE ?'.repeat(courses.length)}`,
    [courses.map((c) => c.contextid), ...courses.map((c) => `${c.path}/%`)]);
  return rows;
}

/**
 * What each course holds that moodle-sync cannot delete the way Moodle would (activities other
 * than forums, forum discussions, files, blocks, grade items and grades): deleting only the rows
 * we know would orphan the rest, so such a course is refused with the reason, to be deleted in
 * Moodle. Returns the problems by course id (courses without any are absent).
 */
export async function undeletableContent(conn: PoolConnection, db: MoodleDb, courses: CourseToDelete[]): Promise<Map<number, string[]>> {
  const out = new Map<number, string[]>();
  if (!courses.length) return out;
  const t = (n: string) => db.t(n);
  const ids = courses.map((c) => c.id);
  const add = (courseid: number, problem: string) => out.set(courseid, [...(out.get(courseid) ?? []), problem]);
  // Contexts below a course context belong to that course: its path is their prefix.
  const owner = new Map((await contextsOf(conn, db, courses)).map((x) => [Number(x.id), courses.find((c) => x.path === c.path || String(x.path).startsWith(`${c.path}/`))!.id]));
  const perCourse = async (what: string, sql: string, params: unknown[], byContext = false) => {
    const [rows] = await conn.query<RowDataPacket[]>(sql, params);
    const counts = new Map<number, number>();
    for (const r of rows) {
      const courseid = byContext ? owner.get(Number(r.k))! : Number(r.k);
      counts.set(courseid, (counts.get(courseid) ?? 0) + Number(r.n));
    }
    for (const [courseid, n] of counts) add(courseid, `${n} ${what}`);
  };
  const [mods] = await conn.query<RowDataPacket[]>(
    `SELECT cm.course, m.name, COUNT(*) AS n FROM ${t('course_modules')} cm JOIN ${t('modules')} m ON m.id = cm.module
      WHERE cm.course IN (?) AND m.name <> 'forum' GROUP BY cm.course, m.name ORDER BY cm.course, m.name`, [ids]);
  for (const id of ids) {
    const mine = mods.filter((m) => Number(m.course) === id);
    if (mine.length) add(id, `activities ${mine.map((m) => `${m.name} ×${m.n}`).join(', ')}`);
  }
  const ctx = [...owner.keys()];
  await perCourse('forum discussion(s)', `SELECT course AS k, COUNT(*) AS n FROM ${t('forum_discussions')} WHERE course IN (?) GROUP BY course`, [ids]);
  await perCourse('file(s)', `SELECT contextid AS k, COUNT(*) AS n FROM ${t('files')} WHERE contextid IN (?) GROUP BY contextid`, [ctx], true);
  await perCourse('block(s)', `SELECT parentcontextid AS k, COUNT(*) AS n FROM ${t('block_instances')} WHERE parentcontextid IN (?) GROUP BY parentcontextid`, [ctx], true);
  await perCourse('grade item(s) besides the course total', `SELECT courseid AS k, COUNT(*) AS n FROM ${t('grade_items')} WHERE courseid IN (?) AND itemtype <> 'course' GROUP BY courseid`, [ids]);
  await perCourse('grade(s)', `SELECT i.courseid AS k, COUNT(*) AS n FROM ${t('grade_grades')} g JOIN ${t('grade_items')} i ON i.id = g.itemid WHERE i.courseid IN (?) GROUP BY i.courseid`, [ids]);
  return out;
}

interface GradeSite { history: boolean; defaults: Record<string, number> }

async function readGradeSite(conn: PoolConnection, db: MoodleDb): Promise<GradeSite> {
  const names = ['aggregation', 'keephigh', 'droplow', 'aggregateonlygraded', 'aggregateoutcomes'];
  const c = await siteConfig(conn, db, ['disablegradehistory', ...names.map((n) => `grade_${n}`)]);
  // grade_category::apply_default_settings: a site value of -1 keeps the class default.
  const classDefaults: Record<string, number> = { aggregation: 13, keephigh: 0, droplow: 0, aggregateonlygraded: 1, aggregateoutcomes: 0 };
  const defaults = Object.fromEntries(names.map((n) => {
    const v = c[`grade_${n}`];
    return [n, v !== undefined && v !== '' && Number(v) !== -1 && !Number.isNaN(Number(v)) ? Number(v) : classDefaults[n]];
  }));
  return { history: c.disablegradehistory !== '1', defaults };
}

const ITEM_COLUMNS = ['courseid', 'categoryid', 'itemname', 'itemtype', 'itemmodule', 'iteminstance', 'itemnumber', 'iteminfo', 'idnumber', 'calculation',
  'gradetype', 'grademax', 'grademin', 'scaleid', 'outcomeid', 'gradepass', 'multfactor', 'plusfactor', 'aggregationcoef', 'aggregationcoef2',
  'sortorder', 'hidden', 'locked', 'locktime', 'needsupdate', 'display', 'decimals', 'weightoverride'];
const CATEGORY_COLUMNS = ['courseid', 'parent', 'depth', 'path', 'fullname', 'aggregation', 'keephigh', 'droplow', 'aggregateonlygraded', 'aggregateoutcomes', 'hidden'];

/**
 * grade_object's history rows: a copy of the live rows (those of `where`, in id order) with
 * action (1 insert, 2 update, 3 delete), source and the acting user.
 */
async function gradeHistory(conn: PoolConnection, db: MoodleDb, site: GradeSite, table: 'grade_items' | 'grade_categories', where: string, params: unknown[], action: 1 | 2 | 3, source: string): Promise<void> {
  if (!site.history) return;
  const cols = (table === 'grade_items' ? ITEM_COLUMNS : CATEGORY_COLUMNS).join(', ');
  await conn.query(
    `INSERT INTO ${db.t(`${table}_history`)} (action, oldid, source, timemodified, loggeduser, ${cols})
     SELECT ?, id, ?, timemodified, ?, ${cols} FROM ${db.t(table)} WHERE ${where} ORDER BY id`, [action, source, ACTING_USER, ...params]);
}

/**
 * The gradebook part of delete_course: a course without a gradebook first gets its course grade
 * category and course item (grade_category::insert_course_category: inserted at depth 0, then
 * given its path and depth 1; history "system"), then every grade item and category of the
 * course is deleted with history "coursedelete". Only the history rows remain, and the ids are
 * used up, as in Moodle. Returns each course's grade_item_created (the course item made) and
 * grade_item_deleted events, by course id.
 */
async function deleteGradebooks(conn: PoolConnection, db: MoodleDb, site: GradeSite, courses: CourseToDelete[], now: number): Promise<Map<number, LogEvent[]>> {
  const courseids = courses.map((c) => c.id);
  const t = (n: string) => db.t(n);
  const [have] = await conn.query<RowDataPacket[]>(`SELECT DISTINCT courseid FROM ${t('grade_categories')} WHERE courseid IN (?)`, [courseids]);
  const without = courseids.filter((id) => !have.some((h) => Number(h.courseid) === id));
  if (without.length) {
    const d = site.defaults;
    await conn.query(
      `INSERT INTO ${t('grade_categories')} (courseid, parent, depth, path, fullname, aggregation, keephigh, droplow, aggregateonlygraded, aggregateoutcomes, timecreated, timemodified, hidden) VALUES ?`,
      [without.map((id) => [id, null, 0, null, '?', d.aggregation, d.keephigh, d.droplow, d.aggregateonlygraded, d.aggregateoutcomes, now, now, 0])]);
    await gradeHistory(conn, db, site, 'grade_categories', 'courseid IN (?)', [without], 1, 'system');
    await conn.query(`UPDATE ${t('grade_categories')} SET depth = 1, path = CONCAT('/', id, '/'), timemodified = ? WHERE courseid IN (?)`, [now, without]);
    await gradeHistory(conn, db, site, 'grade_categories', 'courseid IN (?)', [without], 2, 'system');
    await conn.query(
      `INSERT INTO ${t('grade_items')} (courseid, itemtype, iteminstance, gradetype, grademax, grademin, sortorder, needsupdate, timecreated, timemodified)
       SELECT courseid, 'course', id, 1, 100, 0, 1, 1, ?, ? FROM ${t('grade_categories')} WHERE courseid IN (?) ORDER BY id`, [now, now, without]);
    await gradeHistory(conn, db, site, 'grade_items', 'courseid IN (?)', [without], 1, 'system');
  }
  const [items] = await conn.query<RowDataPacket[]>(`SELECT id, courseid, itemname, itemtype, itemmodule FROM ${t('grade_items')} WHERE courseid IN (?) ORDER BY id`, [courseids]);
  const events = new Map(courses.map((c) => {
    const ctx = courseContext(c);
    const mine = items.filter((i) => Number(i.courseid) === c.id).map((i) => ({ id: Number(i.id), item: { itemname: i.itemname, itemtype: String(i.itemtype), itemmodule: i.itemmodule } }));
    const made = without.includes(c.id) ? mine.filter((i) => i.item.itemtype === 'course').map((i) => gradeItemCreated(ctx, i.id, i.item)) : [];
    return [c.id, [...made, ...mine.map((i) => gradeItemDeleted(ctx, i.id, i.item))]];
  }));
  await gradeHistory(conn, db, site, 'grade_items', 'courseid IN (?)', [courseids], 3, 'coursedelete');
  await conn.query(`DELETE FROM ${t('grade_items')} WHERE courseid IN (?)`, [courseids]);
  await gradeHistory(conn, db, site, 'grade_categories', 'courseid IN (?)', [courseids], 3, 'coursedelete');
  await conn.query(`DELETE FROM ${t('grade_categories')} WHERE courseid IN (?)`, [courseids]);
  return events;
}

/**
 * enrol_course_delete, role_unassign_all and groups_delete_groupings / _groups for one course, as
 * far as they log: its instances by sortorder; an enabled plugin's unenrols each user as
 * unenrol_user does (writes and events) then logs enrol_instance_deleted; a disabled plugin's
 * enrolments and roles just go. Then the events of what the bulk delete removes silently: the
 * plain role assignments left in the course context, the groupings and the groups. Returns those events.
 */
async function unenrolAll(conn: PoolConnection, db: MoodleDb, course: CourseToDelete, enabled: string[], now: number, sessionTimeout: number): Promise<LogEvent[]> {
  const t = (n: string) => db.t(n);
  const ctx = courseContext(course);
  const [instances] = await conn.query<RowDataPacket[]>(`SELECT id, enrol, roleid, status FROM ${t('enrol')} WHERE courseid = ? ORDER BY sortorder, id`, [course.id]);
  for (const i of instances) {
    const instance = { id: Number(i.id), enrol: String(i.enrol), roleid: Number(i.roleid), status: Number(i.status) };
    if (!enabled.includes(instance.enrol)) {
      await conn.query(`DELETE FROM ${t('role_assignments')} WHERE itemid = ? AND component = ?`, [instance.id, `enrol_${instance.enrol}`]);
      await conn.query(`DELETE FROM ${t('user_enrolments')} WHERE enrolid = ?`, [instance.id]);
      continue;
    }
    const [ues] = await conn.query<RowDataPacket[]>(`SELECT userid FROM ${t('user_enrolments')} WHERE enrolid = ? ORDER BY id`, [instance.id]);
    for (const ue of ues) await unenrolUser(conn, db, instance, course, Number(ue.userid), now, sessionTimeout);
    await logEvents(conn, db, now, [enrolInstanceDeleted(ctx, instance.id, instance.enrol)]);
  }
  const [plain] = await conn.query<RowDataPacket[]>(`SELECT id, roleid, userid FROM ${t('role_assignments')} WHERE contextid = ? AND component = '' ORDER BY id`, [course.contextid]);
  const [groupings] = await conn.query<RowDataPacket[]>(`SELECT id FROM ${t('groupings')} WHERE courseid = ? ORDER BY id`, [course.id]);
  const [groups] = await conn.query<RowDataPacket[]>(`SELECT id FROM ${t('groups')} WHERE courseid = ? ORDER BY id`, [course.id]);
  return [
    ...plain.map((r) => roleUnassigned(ctx, { id: Number(r.id), roleid: Number(r.roleid), userid: Number(r.userid), component: '', itemid: 0 })),
    ...groupings.map((g) => groupingDeleted(ctx, Number(g.id))),
    ...groups.map((g) => groupDeleted(ctx, Number(g.id))),
  ];
}

/**
 * Deletes the courses (already checked with undeletableContent) in one go, then runs
 * fix_course_sortorder. Returns notes for the report: meta links of other courses that used them as parent.
 */
export async function deleteCourses(conn: PoolConnection, db: MoodleDb, courses: CourseToDelete[], meta: MetaSite, now: number): Promise<{ parentid: number; note: string }[]> {
  if (!courses.length) return [];
  const t = (n: string) => db.t(n);
  const ids = courses.map((c) => c.id);
  const contexts = await contextsOf(conn, db, courses);
  const ctx = contexts.map((r) => Number(r.id));
  const expiry = now + meta.sessionTimeout;

  const [users] = await conn.query<RowDataPacket[]>(
    `SELECT userid FROM ${t('role_assignments')} WHERE contextid IN (?)
     UNION SELECT ue.userid FROM ${t('user_enrolments')} ue JOIN ${t('enrol')} e ON e.id = ue.enrolid WHERE e.courseid IN (?)`, [ctx, ids]);

  // The module contexts go first, with their role assignments and no event (remove_course_contents).
  const below = contexts.filter((r) => !courses.some((c) => c.contextid === Number(r.id))).map((r) => Number(r.id));
  if (below.length) await conn.query(`DELETE FROM ${t('role_assignments')} WHERE contextid IN (?)`, [below]);
  const grades = await deleteGradebooks(conn, db, await readGradeSite(conn, db), courses, now);
  // Course by course, as delete_course runs: the log follows the file.
  const notes: { parentid: number; note: string }[] = [];
  for (const course of courses) {
    const ctxEvent = courseContext(course);
    await logEvents(conn, db, now, grades.get(course.id) ?? []);
    const rest = await unenrolAll(conn, db, course, meta.enabledPlugins, now, meta.sessionTimeout);
    await logEvents(conn, db, now, [
      ...rest,
      courseContentDeleted(ctxEvent, course),
      courseDeleted(ctxEvent, course),
    ]);
    // enrol_meta's observer runs once course_deleted is logged; its parent's enrolments are gone.
    notes.push(...await detachFromDeletedParents(conn, db, [course.id], ids, meta, now));
  }

  await conn.query(`DELETE FROM ${t('role_assignments')} WHERE contextid IN (?)`, [ctx]);
  await conn.query(`DELETE FROM ${t('role_capabilities')} WHERE contextid IN (?)`, [ctx]);
  await conn.query(`DELETE FROM ${t('role_names')} WHERE contextid IN (?)`, [ctx]);
  await conn.query(`DELETE FROM ${t('favourite')} WHERE contextid IN (?)`, [ctx]);
  await conn.query(`DELETE ue FROM ${t('user_enrolments')} ue JOIN ${t('enrol')} e ON e.id = ue.enrolid WHERE e.courseid IN (?)`, [ids]);
  await conn.query(`DELETE FROM ${t('enrol')} WHERE courseid IN (?)`, [ids]);
  await conn.query(`DELETE gg FROM ${t('groupings_groups')} gg JOIN ${t('groupings')} g ON g.id = gg.groupingid WHERE g.courseid IN (?)`, [ids]);
  await conn.query(`DELETE gg FROM ${t('groupings_groups')} gg JOIN ${t('groups')} g ON g.id = gg.groupid WHERE g.courseid IN (?)`, [ids]);
  await conn.query(`DELETE FROM ${t('groupings')} WHERE courseid IN (?)`, [ids]);
  await conn.query(`DELETE m FROM ${t('groups_members')} m JOIN ${t('groups')} g ON g.id = m.groupid WHERE g.courseid IN (?)`, [ids]);
  await conn.query(`DELETE FROM ${t('groups')} WHERE courseid IN (?)`, [ids]);
  for (const [table, column] of FORUM_USER_TABLES) {
    await conn.query(`DELETE x FROM ${t(table)} x JOIN ${t('forum')} f ON f.id = x.${column} WHERE f.course IN (?)`, [ids]);
  }
  await conn.query(`DELETE FROM ${t('forum')} WHERE course IN (?)`, [ids]);
  await conn.query(`DELETE FROM ${t('course_modules')} WHERE course IN (?)`, [ids]);
  await conn.query(`DELETE FROM ${t('course_sections')} WHERE course IN (?)`, [ids]);
  await conn.query(`DELETE FROM ${t('course_format_options')} WHERE courseid IN (?)`, [ids]);
  await conn.query(`DELETE FROM ${t('user_lastaccess')} WHERE courseid IN (?)`, [ids]);
  await conn.query(`DELETE FROM ${t('context')} WHERE id IN (?)`, [ctx]);
  await conn.query(`DELETE FROM ${t('course')} WHERE id IN (?)`, [ids]);

  await touchCacheFlags(conn, db, 'accesslib/dirtycontexts', courses.map((c) => c.path), now, expiry);
  await touchCacheFlags(conn, db, 'accesslib/dirtyusers', users.map((u) => String(u.userid)), now, expiry);
  // course_categories.coursecount is left to fix_course_sortorder, as delete_course leaves it (the original runs it after its deletions).
  await fixCourseSortorder(conn, db);
  return notes;
}
