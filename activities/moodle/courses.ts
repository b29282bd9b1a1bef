import { randomInt } from 'node:crypto';
import type { PoolConnection, ResultSetHeader, RowDataPacket } from 'mysql2/promise';
import type { MoodleDb } from './db';
import type { Category } from './categories';
import { insertRows, pluginConfig, siteConfig, updateById, updateColumnById } from './rows';
import { siteTimeZone } from './time';
import { makeRoomForCourses } from './sortorder';
import { touchCacheFlags } from './users';
import { CONTEXT_COURSE, enrolUser, findEnrolInstances, type CourseRef } from './enrol';
import { logEvents } from './deferred';
import {
  courseContext, courseCreated, courseSectionCreated, courseSectionUpdated, courseUpdated, enrolInstanceCreated, enrolInstanceUpdated,
  type Json, type LogEvent,
} from './events';

/**
 * Courses as Moodle 5.1.3's create_course / update_course write them (moodle-writes.md: create a
 * course, with the moodlecourse defaults, in a sub-category, update a course, numsections then
 * named sections, enrol a teacher): the course row, its context, sections 0..n, format options,
 * the default enrol instances in enrol_plugins_enabled order, the Announcements forum and its
 * course module when newsitems > 0. Creation is batched: a chunk of courses costs a dozen
 * statements. New courses are numbered as fix_course_sortorder numbers them; coursecount and any
 * other repair come from fixCourseSortorder, run once per chunk.
 */

/** Course formats whose options we write as Moodle does (format_topics, format_weeks). */
export const WRITABLE_FORMATS = ['topics', 'weeks'] as const;
const ONE_WEEK = 604800;

export interface CourseSite {
  /** moodlecourse settings: the defaults of Moodle's new-course form. */
  defaults: Record<string, string>;
  completionEnabled: boolean;
  /** enrol_plugins_enabled, in order. */
  enrolEnabled: string[];
  enrolConfig: Map<string, Record<string, string>>;
  /** The forum module and the announcements forum settings; undefined when mod_forum is missing. */
  forum?: { module: number; maxbytes: number; maxattachments: number; forcesubscribe: number };
  /** Installed, enabled formats we can write. */
  formats: string[];
  timeZone: string;
  sessionTimeout: number;
  /** $CFG->maxbytes (0: no site limit). */
  maxbytes: number;
}

/** A numeric setting, or `dflt` when unset or not a number. */
export const num = (v: string | undefined, dflt: number): number => (v !== undefined && v !== '' && !Number.isNaN(Number(v)) ? Number(v) : dflt);
const numOrNull = (v: string | undefined): number | null => (v !== undefined && v !== '' && !Number.isNaN(Number(v)) ? Number(v) : null);

export async function readCourseSite(conn: PoolConnection, db: MoodleDb): Promise<CourseSite> {
  const cfg = await siteConfig(conn, db, ['enrol_plugins_enabled', 'enablecompletion', 'timezone', 'forcetimezone', 'sessiontimeout', 'maxbytes',
    'forum_announcementmaxbytes', 'forum_announcementmaxattachments', 'forum_announcementsubscription']);
  const enrolEnabled = (cfg.enrol_plugins_enabled ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  const [formatRows] = await conn.query<RowDataPacket[]>(
    `SELECT plugin, MAX(name = 'disabled' AND value = '1') AS disabled FROM ${db.t('config_plugins')} WHERE plugin IN (?) GROUP BY plugin HAVING MAX(name = 'version') = 1`,
    [WRITABLE_FORMATS.map((f) => `format_${f}`)]);
  const [forum] = await conn.query<RowDataPacket[]>(`SELECT id FROM ${db.t('modules')} WHERE name = 'forum'`);
  const plugins = await pluginConfig(conn, db, ['moodlecourse', ...enrolEnabled.map((p) => `enrol_${p}`)]);
  return {
    defaults: plugins.get('moodlecourse')!,
    completionEnabled: cfg.enablecompletion === '1',
    enrolEnabled,
    enrolConfig: new Map(enrolEnabled.map((p) => [p, plugins.get(`enrol_${p}`)!])),
    forum: forum.length ? {
      module: Number(forum[0].id),
      maxbytes: num(cfg.forum_announcementmaxbytes, 0),
      maxattachments: num(cfg.forum_announcementmaxattachments, 1),
      forcesubscribe: num(cfg.forum_announcementsubscription, 1),
    } : undefined,
    formats: WRITABLE_FORMATS.filter((f) => formatRows.some((r) => r.plugin === `format_${f}` && !Number(r.disabled))),
    timeZone: siteTimeZone(cfg),
    sessionTimeout: num(cfg.sessiontimeout, 28800),
    maxbytes: num(cfg.maxbytes, 0),
  };
}

/** The course options a format stores, with the values a new course gets (course_format_options() defaults). */
export function formatOptionDefaults(format: string, site: CourseSite): Record<string, string> {
  const common = { hiddensections: site.defaults.hiddensections ?? '1', coursedisplay: site.defaults.coursedisplay ?? '0' };
  return format === 'weeks' ? { ...common, automaticenddate: '1' } : common;
}

/** format_weeks::update_end_date: with automaticenddate, the course ends with its last week (+2 h against DST). */
export const weeksEndDate = (startdate: number, lastSection: number): number => startdate + 7200 + ONE_WEEK * lastSection;

/** The course form's default start date (course/edit_form.php): tomorrow 00:00 in the site's time zone. */
export function defaultStartDate(site: CourseSite, now: number): number {
  const parts = Object.fromEntries(new Intl.DateTimeFormat('en-GB', { timeZone: site.timeZone, year: 'numeric', month: '2-digit', day: '2-digit' })
    .formatToParts(new Date(now * 1000)).map((p) => [p.type, p.value]));
  return zonedMidnight(Number(parts.year), Number(parts.month), Number(parts.day) + 1, site.timeZone);
}

/** Unix time of 00:00 on that (possibly overflowing) day in the zone. */
function zonedMidnight(y: number, m: number, d: number, timeZone: string): number {
  const naive = Date.UTC(y, m - 1, d) / 1000;
  const offsetAt = (t: number) => {
    const p = Object.fromEntries(new Intl.DateTimeFormat('en-GB', { timeZone, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit' })
      .formatToParts(new Date(t * 1000)).map((x) => [x.type, x.value]));
    return (Date.UTC(Number(p.year), Number(p.month) - 1, Number(p.day), Number(p.hour), Number(p.minute), Number(p.second)) / 1000) - t;
  };
  const first = naive - offsetAt(naive);
  return naive - offsetAt(first);
}

/** Moodle's generate_password(20) for plugins set to require an enrolment key. */
function generatePassword(): string {
  const chars = 'abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789';
  return Array.from({ length: 20 }, () => chars[randomInt(chars.length)]).join('');
}

/**
 * The fields of a plugin's instance as its add_default_instance / add_instance set them
 * (enrol_manual, enrol_guest, enrol_self); undefined for a plugin that adds no such instance.
 */
export function enrolInstanceFields(site: CourseSite, plugin: string): Record<string, unknown> | undefined {
  const c = site.enrolConfig.get(plugin);
  if (!c) return undefined;
  // expirynotify 2 means "enroller and enrolled user": stored as expirynotify 1 + notifyall 1.
  const notify = { expirynotify: c.expirynotify === '2' ? 1 : num(c.expirynotify, 0), notifyall: c.expirynotify === '2' ? 1 : 0 };
  switch (plugin) {
    case 'manual':
      return { status: num(c.status, 0), roleid: num(c.roleid, 0), enrolperiod: num(c.enrolperiod, 0), ...notify, expirythreshold: num(c.expirythreshold, 86400), customint1: numOrNull(c.sendcoursewelcomemessage) };
    case 'guest':
      return { status: num(c.status, 0), password: c.requirepassword === '1' ? generatePassword() : '' };
    case 'self':
      return {
        status: num(c.status, 0), roleid: numOrNull(c.roleid), enrolperiod: numOrNull(c.enrolperiod), ...notify, expirythreshold: numOrNull(c.expirythreshold),
        customint1: numOrNull(c.groupkey), customint2: numOrNull(c.longtimenosee), customint3: numOrNull(c.maxenrolled),
        customint4: numOrNull(c.sendcoursewelcomemessage), customint5: 0, customint6: numOrNull(c.newenrols),
        ...(c.requirepassword === '1' ? { password: generatePassword() } : {}),
      };
    default:
      return undefined;
  }
}

/** enrol_plugin::add_instance's row. */
const instanceRow = (plugin: string, courseid: number, sortorder: number, now: number, fields: Record<string, unknown>) =>
  ({ enrol: plugin, status: 0, courseid, sortorder, enrolstartdate: 0, enrolenddate: 0, timemodified: now, timecreated: now, ...fields });

/** Default instances a new course gets: enabled plugins with defaultenrol, in enrol_plugins_enabled order. */
export function defaultEnrolPlugins(site: CourseSite): string[] {
  return site.enrolEnabled.filter((p) => site.enrolConfig.get(p)?.defaultenrol === '1' && enrolInstanceFields(site, p));
}

export interface NewCourse {
  /** Course columns the row sets, on top of the defaults the caller filled in. */
  fields: Record<string, unknown>;
  category: Category;
  formatOptions: Record<string, string>;
  /** Section n = sections[n]; name null when unnamed. */
  sections: { name: string | null; summary: string }[];
  /** Wanted status of the self / guest instances (the file's self / guest columns), if given. */
  enrolStatus: Partial<Record<'self' | 'guest', 0 | 1>>;
}

export interface CreatedCourse extends CourseRef { contextpath: string }

/** A new course and the events create_course and the steps after it log for it, in order. */
export interface InsertedCourse { course: CreatedCourse; events: LogEvent[] }

/**
 * create_course for a batch: course rows (sortorder 0 until the fix), contexts, sections, news
 * forums and their course modules, format options, enrol instances. A wanted self / guest status
 * other than the default is update_status right after: the new status and dirtycontexts.
 * Each course comes with its events, for the caller to log where its row belongs: course_created,
 * course_section_created per section, enrol_instance_created per default instance (create_course);
 * course_section_updated per named section (course_update_section, the sections the file names);
 * then enrol_instance_updated or _created for a wanted self / guest status (update_status or add_instance).
 */
export async function insertCourses(conn: PoolConnection, db: MoodleDb, site: CourseSite, list: NewCourse[], now: number): Promise<InsertedCourse[]> {
  if (!list.length) return [];
  const withForum = (c: NewCourse) => !!site.forum && Number(c.fields.newsitems) > 0;
  const named = (s: NewCourse['sections'][number]) => s.name !== null || s.summary !== '';
  // Written with their final sort orders: an update of fresh compressed rows costs more than the insert.
  const sortorders = await makeRoomForCourses(conn, db, list.map((c) => c.category.id));
  await insertRows(conn, db, 'course', list.map((c, i) => {
    // rebuild_course_cache bumps cacherev to max(now, previous + 1) once per section created, once
    // more (twice with the news forum) and once per section named: now + 2 for section 0 + forum.
    const bumps = c.sections.length + (withForum(c) ? 2 : 1) + c.sections.filter(named).length;
    const enddate = c.fields.format === 'weeks' && c.formatOptions.automaticenddate === '1'
      ? weeksEndDate(Number(c.fields.startdate), c.sections.length - 1) : c.fields.enddate;
    return { ...c.fields, enddate, category: c.category.id, sortorder: sortorders[i], cacherev: now + bumps - 1 };
  }));
  const [ids] = await conn.query<RowDataPacket[]>(`SELECT id, shortname FROM ${db.t('course')} WHERE shortname IN (?)`, [list.map((c) => c.fields.shortname)]);
  const idOf = new Map(ids.map((r) => [String(r.shortname), Number(r.id)]));
  const courseIds = list.map((c) => idOf.get(String(c.fields.shortname))!);

  await insertRows(conn, db, 'context', list.map((c, i) => ({ contextlevel: CONTEXT_COURSE, instanceid: courseIds[i], path: null, depth: c.category.contextdepth + 1, locked: 0 })));
  await conn.query(
    `UPDATE ${db.t('context')} x JOIN ${db.t('course')} c ON c.id = x.instanceid JOIN ${db.t('context')} cx ON cx.contextlevel = 40 AND cx.instanceid = c.category
        SET x.path = CONCAT(cx.path, '/', x.id) WHERE x.contextlevel = ? AND x.instanceid IN (?) AND x.path IS NULL`, [CONTEXT_COURSE, courseIds]);
  const [ctxRows] = await conn.query<RowDataPacket[]>(`SELECT id, instanceid, path FROM ${db.t('context')} WHERE contextlevel = ? AND instanceid IN (?)`, [CONTEXT_COURSE, courseIds]);
  const ctxOf = new Map(ctxRows.map((r) => [Number(r.instanceid), { id: Number(r.id), path: String(r.path) }]));

  // The news forum's course module first: section 0 is then written with its sequence, and only
  // the module's section is set afterwards (an update of fresh compressed rows is dear; a bigint the cheapest).
  const forumCourses = courseIds.filter((_, i) => withForum(list[i]));
  const cmOf = forumCourses.length && site.forum ? await addNewsForums(conn, db, site.forum, forumCourses, now) : new Map<number, number>();
  await insertRows(conn, db, 'course_sections', list.flatMap((c, i) => c.sections.map((s, n) => ({
    course: courseIds[i], section: n, name: s.name, summary: s.summary, summaryformat: 1, sequence: n === 0 && cmOf.has(courseIds[i]) ? String(cmOf.get(courseIds[i])) : '',
    visible: 1, availability: null, component: null, itemid: null, timemodified: now,
  }))));
  // Section ids, for the module's section and the events: course -> section number -> id.
  const [sectionRows] = await conn.query<RowDataPacket[]>(`SELECT id, course, section FROM ${db.t('course_sections')} WHERE course IN (?)`, [courseIds]);
  const sectionId = new Map<number, Map<number, number>>(courseIds.map((id) => [id, new Map()]));
  for (const r of sectionRows) sectionId.get(Number(r.course))!.set(Number(r.section), Number(r.id));
  if (cmOf.size) await updateColumnById(conn, db, 'course_modules', 'section', new Map(forumCourses.map((id) => [cmOf.get(id)!, sectionId.get(id)!.get(0)!])));

  await insertRows(conn, db, 'course_format_options', list.flatMap((c, i) => Object.entries(c.formatOptions).map(([name, value]) => ({
    courseid: courseIds[i], format: c.fields.format, sectionid: 0, name, value,
  }))));

  const plugins = defaultEnrolPlugins(site);
  const dirty: string[] = [];
  /** Per course, after its default instances: the self / guest changes, by sortorder of the instance. */
  const later = courseIds.map(() => [] as { sortorder: number; plugin: string; added: boolean }[]);
  await insertRows(conn, db, 'enrol', list.flatMap((c, i) => {
    const rows = plugins.map((p, k) => instanceRow(p, courseIds[i], k, now, enrolInstanceFields(site, p)!));
    for (const plugin of ['guest', 'self'] as const) {
      const wanted = c.enrolStatus[plugin];
      if (wanted === undefined) continue;
      const have = rows.find((r) => r.enrol === plugin);
      if (have) {
        if (have.status !== wanted) {
          have.status = wanted;
          dirty.push(ctxOf.get(courseIds[i])!.path);
          later[i].push({ sortorder: have.sortorder, plugin, added: false });
        }
      } else if (wanted === 0) {
        later[i].push({ sortorder: rows.length, plugin, added: true });
        rows.push(instanceRow(plugin, courseIds[i], rows.length, now, { ...enrolInstanceFields(site, plugin)!, status: 0 }));
      }
    }
    return rows;
  }));
  await touchCacheFlags(conn, db, 'accesslib/dirtycontexts', dirty, now, now + site.sessionTimeout);
  const [enrolRows] = await conn.query<RowDataPacket[]>(`SELECT id, courseid, sortorder FROM ${db.t('enrol')} WHERE courseid IN (?)`, [courseIds]);
  const enrolId = new Map(enrolRows.map((r) => [`${r.courseid}:${r.sortorder}`, Number(r.id)]));

  return list.map((c, i) => {
    const id = courseIds[i];
    const course: CreatedCourse = { id, contextid: ctxOf.get(id)!.id, contextpath: ctxOf.get(id)!.path, shortname: String(c.fields.shortname) };
    const ctx = courseContext(course);
    const sections = sectionId.get(id)!;
    const instance = (sortorder: number) => enrolId.get(`${id}:${sortorder}`)!;
    const events = [
      courseCreated(ctx, { shortname: String(c.fields.shortname), fullname: String(c.fields.fullname) }),
      ...c.sections.map((_, n) => courseSectionCreated(ctx, sections.get(n)!, n)),
      ...plugins.map((p, k) => enrolInstanceCreated(ctx, instance(k), p)),
      ...c.sections.flatMap((s, n) => (named(s) ? [courseSectionUpdated(ctx, sections.get(n)!, n)] : [])),
      ...later[i].map((x) => (x.added ? enrolInstanceCreated : enrolInstanceUpdated)(ctx, instance(x.sortorder), x.plugin)),
    ];
    return { course, events };
  });
}

/**
 * forum_get_course_forum(course, 'news'): the Announcements forum and its course module (added
 * now, every other column its default; its section is set once section 0 exists). No module
 * context: Moodle makes it only when first asked for. Returns course id -> course module id.
 */
async function addNewsForums(conn: PoolConnection, db: MoodleDb, forum: NonNullable<CourseSite['forum']>, courseIds: number[], now: number): Promise<Map<number, number>> {
  await insertRows(conn, db, 'forum', courseIds.map((course) => ({
    course, type: 'news', name: 'Announcements', intro: 'General news and announcements', introformat: 1, assessed: 0,
    forcesubscribe: forum.forcesubscribe, maxbytes: forum.maxbytes, maxattachments: forum.maxattachments, timemodified: now,
  })));
  const [forums] = await conn.query<RowDataPacket[]>(`SELECT id, course FROM ${db.t('forum')} WHERE course IN (?) AND type = 'news'`, [courseIds]);
  await insertRows(conn, db, 'course_modules', forums.map((f) => ({ course: f.course, module: forum.module, instance: f.id, section: 0, added: now })));
  const [cms] = await conn.query<RowDataPacket[]>(`SELECT id, course FROM ${db.t('course_modules')} WHERE course IN (?) AND module = ?`, [courseIds, forum.module]);
  return new Map(cms.map((cm) => [Number(cm.course), Number(cm.id)]));
}

// ---- existing courses ----

export interface ExistingCourse extends CreatedCourse {
  contextdepth: number;
  row: Record<string, unknown>;
}

/** Courses (never the site course) with any of the given ids, shortnames or idnumbers, with their contexts: one query per chunk. */
export async function findCourses(conn: PoolConnection, db: MoodleDb, keys: { ids: number[]; shortnames: string[]; idnumbers: string[] }): Promise<ExistingCourse[]> {
  const clauses: string[] = [];
  const params: unknown[] = [CONTEXT_COURSE];
  for (const [col, vals] of [['c.id', keys.ids], ['c.shortname', keys.shortnames], ['c.idnumber', keys.idnumbers]] as const) {
    if (!vals.length) continue;
    clauses.push(`${col} IN (?)`);
    params.push(vals);
  }
  if (!clauses.length) return [];
  const [rows] = await conn.query<RowDataPacket[]>(
    `SELECT c.*, x.id AS ctx_id, x.path AS ctx_path, x.depth AS ctx_depth FROM ${db.t('course')} c JOIN ${db.t('context')} x ON x.contextlevel = ? AND x.instanceid = c.id
      WHERE c.category <> 0 AND (${clauses.join(' OR ')})`, params);
  return rows.map((r) => {
    const { ctx_id, ctx_path, ctx_depth, ...row } = r;
    return { id: Number(r.id), shortname: String(r.shortname), contextid: Number(ctx_id), contextpath: String(ctx_path), contextdepth: Number(ctx_depth), row };
  });
}

/**
 * update_course's write: the changed columns, timemodified = now, and cacherev bumped once per
 * course-cache rebuild (`rebuilds`: the update, each section created or renamed).
 */
export async function updateCourseRow(conn: PoolConnection, db: MoodleDb, courseid: number, changes: Record<string, unknown>, now: number, rebuilds: number): Promise<void> {
  const cols = Object.keys(changes);
  await conn.query(
    `UPDATE ${db.t('course')} SET ${[...cols.map((c) => `\`${c}\` = ?`), 'timemodified = ?', 'cacherev = GREATEST(?, cacherev + ?)'].join(', ')} WHERE id = ?`,
    [...cols.map((c) => changes[c]), now, now + rebuilds - 1, rebuilds, courseid]);
}

/**
 * update_course's course_updated: the names after the update and, as updatedfields, every field the
 * caller passed whose value differs from the course's (PHP's loose !=), with the value passed, in
 * the order of the course record: its columns, then its format's options.
 */
export function courseUpdatedEvent(course: ExistingCourse, given: Record<string, Json>, oldOptions: Record<string, string>, givenOptions: Record<string, string>): LogEvent {
  const updatedfields: { [key: string]: Json } = {};
  const differs = (was: unknown, now: Json) => String(was ?? '') !== String(now ?? '');
  for (const [k, was] of Object.entries(course.row)) if (k !== 'id' && k in given && differs(was, given[k])) updatedfields[k] = given[k];
  for (const [k, was] of Object.entries(oldOptions)) if (k in givenOptions && differs(was, givenOptions[k])) updatedfields[k] = givenOptions[k];
  const names = { shortname: String(given.shortname ?? course.row.shortname), fullname: String(given.fullname ?? course.row.fullname) };
  return courseUpdated(courseContext(course), names, updatedfields);
}

/**
 * The context side of moving a course to another category (context::update_moved): the course
 * context and its children re-pathed under the category's context, depths shifted, and
 * dirtycontexts for the new path. The course row's category and sortorder go with updateCourseRow.
 */
export async function moveCourseContext(conn: PoolConnection, db: MoodleDb, course: ExistingCourse, target: Category, now: number, sessionTimeout: number): Promise<void> {
  const newPath = `${target.contextpath}/${course.contextid}`;
  const shift = target.contextdepth + 1 - course.contextdepth;
  await conn.query(
    `UPDATE ${db.t('context')} SET path = CONCAT(?, SUBSTRING(path, ?)), depth = depth + ? WHERE path = ? OR path LIKE ?`,
    [newPath, course.contextpath.length + 1, shift, course.contextpath, `${course.contextpath}/%`]);
  await touchCacheFlags(conn, db, 'accesslib/dirtycontexts', [newPath], now, now + sessionTimeout);
  course.contextpath = newPath;
  course.contextdepth += shift;
}

/**
 * format_base::update_format_options for the course's (possibly new) format: an option row whose
 * value changes is updated; a missing one is inserted with the given value, else the one the old
 * format had, else the default. Returns how many rows changed.
 */
export async function saveFormatOptions(conn: PoolConnection, db: MoodleDb, site: CourseSite, courseid: number, format: string, given: Record<string, string>, previous: Record<string, string>): Promise<number> {
  const [rows] = await conn.query<RowDataPacket[]>(`SELECT id, name, value FROM ${db.t('course_format_options')} WHERE courseid = ? AND format = ? AND sectionid = 0`, [courseid, format]);
  const have = new Map(rows.map((r) => [String(r.name), { id: Number(r.id), value: String(r.value ?? '') }]));
  let changed = 0;
  const inserts: Record<string, unknown>[] = [];
  for (const [name, dflt] of Object.entries(formatOptionDefaults(format, site))) {
    const value = given[name] ?? previous[name];
    const row = have.get(name);
    if (row) {
      if (value !== undefined && row.value !== value) { await updateById(conn, db, 'course_format_options', row.id, { value }); changed++; }
    } else {
      inserts.push({ courseid, format, sectionid: 0, name, value: value ?? dflt });
      if (value !== undefined) changed++;
    }
  }
  await insertRows(conn, db, 'course_format_options', inserts);
  return changed;
}

/** The course's format options (sectionid 0) of its format. */
export async function readFormatOptions(conn: PoolConnection, db: MoodleDb, courseid: number, format: string): Promise<Record<string, string>> {
  const [rows] = await conn.query<RowDataPacket[]>(`SELECT name, value FROM ${db.t('course_format_options')} WHERE courseid = ? AND format = ? AND sectionid = 0`, [courseid, format]);
  return Object.fromEntries(rows.map((r) => [String(r.name), String(r.value ?? '')]));
}

/** The course's sections by number. */
export async function readSections(conn: PoolConnection, db: MoodleDb, courseid: number): Promise<Map<number, { id: number; name: string | null; summary: string }>> {
  const [rows] = await conn.query<RowDataPacket[]>(`SELECT id, section, name, summary FROM ${db.t('course_sections')} WHERE course = ?`, [courseid]);
  return new Map(rows.map((r) => [Number(r.section), { id: Number(r.id), name: r.name === null ? null : String(r.name), summary: String(r.summary ?? '') }]));
}

/**
 * course_create_section for the missing sections up to `last`, then course_update_section for the
 * named ones whose name or summary differ. Returns how many sections were created and renamed, and
 * their events for the caller to log after the course's own: course_section_created per new
 * section, then course_section_updated per section named, each by section number.
 */
export async function applySections(conn: PoolConnection, db: MoodleDb, course: CourseRef, last: number, topics: Map<number, { name: string | null; summary?: string }>, now: number): Promise<{ created: number; renamed: number; events: LogEvent[] }> {
  const sections = await readSections(conn, db, course.id);
  const top = Math.max(-1, ...sections.keys());
  const fresh = [];
  for (let n = top + 1; n <= last; n++) {
    const t = topics.get(n);
    fresh.push({ course: course.id, section: n, name: t?.name ?? null, summary: t?.summary ?? '', summaryformat: 1, sequence: '', visible: 1, availability: null, component: null, itemid: null, timemodified: now });
  }
  await insertRows(conn, db, 'course_sections', fresh);
  const ctx = courseContext(course);
  const named = new Map<number, number>(); // section number -> id
  const created: LogEvent[] = [];
  if (fresh.length) {
    const ids = await readSections(conn, db, course.id);
    for (const f of fresh) {
      const id = ids.get(f.section)!.id;
      created.push(courseSectionCreated(ctx, id, f.section));
      if (f.name !== null || f.summary !== '') named.set(f.section, id);
    }
  }
  for (const [n, t] of topics) {
    const s = sections.get(n);
    if (!s) continue;
    const changes: Record<string, unknown> = {};
    if (t.name !== null && t.name !== s.name) changes.name = t.name;
    if (t.summary !== undefined && t.summary !== s.summary) { changes.summary = t.summary; changes.summaryformat = 1; }
    if (!Object.keys(changes).length) continue;
    await updateById(conn, db, 'course_sections', s.id, { ...changes, timemodified: now });
    named.set(n, s.id);
  }
  const updated = [...named].sort((a, b) => a[0] - b[0]).map(([n, id]) => courseSectionUpdated(ctx, id, n));
  return { created: fresh.length, renamed: named.size, events: [...created, ...updated] };
}

/** format_weeks::update_end_date: a weeks course with automaticenddate ends with its last section's week. */
export async function refreshWeeksEndDate(conn: PoolConnection, db: MoodleDb, courseid: number): Promise<void> {
  const [rows] = await conn.query<RowDataPacket[]>(
    `SELECT c.startdate, c.enddate, MAX(s.section) AS lastsection, fo.value AS automaticenddate
       FROM ${db.t('course')} c JOIN ${db.t('course_sections')} s ON s.course = c.id
       LEFT JOIN ${db.t('course_format_options')} fo ON fo.courseid = c.id AND fo.format = c.format AND fo.name = 'automaticenddate' AND fo.sectionid = 0
      WHERE c.id = ? AND c.format = 'weeks' GROUP BY c.id, c.startdate, c.enddate, fo.value`, [courseid]);
  if (!rows.length || (rows[0].automaticenddate !== null && !Number(rows[0].automaticenddate))) return;
  const end = weeksEndDate(Number(rows[0].startdate), Number(rows[0].lastsection));
  if (end !== Number(rows[0].enddate)) await conn.query(`UPDATE ${db.t('course')} SET enddate = ? WHERE id = ?`, [end, courseid]);
}

/**
 * The file's self / guest columns on an existing course (reference 5.1.1 update_enrols): the first
 * instance of the plugin gets the wanted status (update_status: timemodified, dirtycontexts,
 * enrol_instance_updated); with none, 1 adds an enabled one (add_instance: enrol_instance_created).
 * Returns what changed, for the report.
 */
export async function setEnrolMethod(conn: PoolConnection, db: MoodleDb, site: CourseSite, course: CreatedCourse, plugin: 'self' | 'guest', enabled: boolean, now: number): Promise<string | undefined> {
  const [instance] = await findEnrolInstances(conn, db, course.id, plugin);
  const status = enabled ? 0 : 1;
  if (instance) {
    if (instance.status === status) return undefined;
    await conn.query(`UPDATE ${db.t('enrol')} SET status = ?, timemodified = ? WHERE id = ?`, [status, now, instance.id]);
    await logEvents(conn, db, now, [enrolInstanceUpdated(courseContext(course), instance.id, plugin)]);
    await touchCacheFlags(conn, db, 'accesslib/dirtycontexts', [course.contextpath], now, now + site.sessionTimeout);
    return `${plugin} enrolment ${enabled ? 'enabled' : 'disabled'}`;
  }
  if (!enabled) return undefined;
  const [max] = await conn.query<RowDataPacket[]>(`SELECT COALESCE(MAX(sortorder), -1) + 1 AS next FROM ${db.t('enrol')} WHERE courseid = ?`, [course.id]);
  const [res] = await conn.query<ResultSetHeader>(`INSERT INTO ${db.t('enrol')} SET ?`, [instanceRow(plugin, course.id, Number(max[0].next), now, { ...enrolInstanceFields(site, plugin)!, status: 0 })]);
  await logEvents(conn, db, now, [enrolInstanceCreated(courseContext(course), res.insertId, plugin)]);
  return `${plugin} enrolment added`;
}

/**
 * A teacher<N> column: enrol_user with the course's first manual instance and the role. A new
 * enrolment starts at 0 as enrol_user's default; an existing one keeps its dates.
 */
export async function enrolTeacher(conn: PoolConnection, db: MoodleDb, site: CourseSite, course: CourseRef, manualId: number, userid: number, roleid: number, now: number): Promise<string> {
  const [have] = await conn.query<RowDataPacket[]>(`SELECT 1 FROM ${db.t('user_enrolments')} WHERE enrolid = ? AND userid = ?`, [manualId, userid]);
  const start = have.length ? undefined : 0;
  return enrolUser(conn, db, manualId, course, userid, roleid, start, start, now, site.sessionTimeout);
}

