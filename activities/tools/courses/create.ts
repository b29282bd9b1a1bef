import type { RowDataPacket } from 'mysql2/promise';
import type { ChunkContext, DataRow, HeaderSpec, RowOutcome, ToolOperation } from '../types';
import { CategoryTree, categoryFromPath, type Category } from '../../moodle/categories';
import {
  applySections, courseUpdatedEvent, defaultStartDate, num, defaultEnrolPlugins, enrolTeacher, findCourses, formatOptionDefaults, insertCourses, moveCourseContext,
  readCourseSite, readFormatOptions, refreshWeeksEndDate, saveFormatOptions, setEnrolMethod, updateCourseRow,
  type CourseSite, type CreatedCourse, type ExistingCourse, type NewCourse,
} from '../../moodle/courses';
import { findEnrolInstances } from '../../moodle/enrol';
import { fixCourseSortorder } from '../../moodle/sortorder';
import { readUserSiteConfig } from '../../moodle/users';
import { sqlKey } from '../../moodle/collation';
import { deferMark, logEvents, rollbackDeferred, withDeferredWrites } from '../../moodle/deferred';
import type { LogEvent } from '../../moodle/events';
import { COURSE_FIELDS, CREATE_COLUMNS, OPTION_FIELDS, TEACHER_COLUMN, TOPIC_COLUMN } from './fields';
import { RowError } from '../rowError';

/**
 * Course create / update (reference 5.1.1 under the spec's decisions 6-8): a new course is made as
 * Moodle's course form makes it, with the site's new-course defaults for every absent column; an
 * existing one is updated only with courses_forceupdate, and only in the columns the file gives.
 * New courses of a chunk are written together (those of the rows above an update before it, so
 * that the event log follows the file); updates run one by one. Each row's events are logged
 * together, in the order Moodle's calls log them.
 */

type Identity = 'shortname' | 'idnumber' | 'id';
type CategoryRef = { by: 'id'; id: number } | { by: 'idnumber'; value: string } | { by: 'path'; names: string[] };
interface Topic { name: string | null; summary?: string }
interface Teacher { n: number; account: string; role: string }

interface Plan {
  row: DataRow;
  key: string;
  fields: Record<string, string | number>;
  options: Record<string, string>;
  category?: CategoryRef;
  topics: Map<number, Topic>;
  teachers: Teacher[];
  enrol: Partial<Record<'self' | 'guest', 0 | 1>>;
}

const header: HeaderSpec = {
  required: ['fullname', 'shortname'],
  optional: CREATE_COLUMNS.filter((c) => c !== 'fullname' && c !== 'shortname'),
  patterns: [TOPIC_COLUMN, TEACHER_COLUMN],
  async check(cols, _db, settings) {
    const problems: string[] = [];
    const identity = settings.courses_fileuploadidentifier || 'shortname';
    if (!cols.includes(identity)) problems.push(`courses are identified by ${identity} (courses_fileuploadidentifier): the file needs the "${identity}" column`);
    for (const c of cols) {
      const m = TEACHER_COLUMN.exec(c);
      if (m?.[2] === 'role' && !cols.includes(`teacher${m[1]}_account`)) problems.push(`column "${c}" has no "teacher${m[1]}_account" column`);
    }
    return problems;
  },
};

const cell = (row: DataRow, c: string): string => (row.values[c] ?? '').trim();

/** Reads and checks one row; throws RowError naming the column, the value and the rule. */
function parseRow(row: DataRow, cols: string[], site: CourseSite, settings: Record<string, string>): Plan {
  const template = cell(row, 'template');
  if (template) throw new RowError(`template: "${template}": course templates are not supported (restoring a course from a backup is out of scope); empty the column to create the course without one`);
  const fields: Record<string, string | number> = {};
  const options: Record<string, string> = {};
  for (const [c, spec, into] of [...Object.entries(COURSE_FIELDS).map(([c, s]) => [c, s, fields] as const), ...Object.entries(OPTION_FIELDS).map(([c, s]) => [c, s, options] as const)]) {
    if (!cols.includes(c)) continue;
    const v = cell(row, c);
    if (v === '' && !spec.emptyIsValue && !['fullname', 'shortname'].includes(c)) continue;
    const p = spec.parse(v, site);
    if (!p.ok) throw new RowError(`${c}: "${v.slice(0, 80)}" is not accepted (${p.rule})`);
    (into as Record<string, unknown>)[c] = into === options ? String(p.value) : p.value;
  }
  if (fields.enddate && fields.startdate !== undefined && Number(fields.enddate) < Number(fields.startdate)) {
    throw new RowError(`enddate: "${cell(row, 'enddate')}" is before startdate "${cell(row, 'startdate')}"`);
  }
  const identity = (settings.courses_fileuploadidentifier || 'shortname') as Identity;
  const key = cell(row, identity);
  if (!key) throw new RowError(`${identity}: empty, but courses are identified by ${identity} (courses_fileuploadidentifier)`);
  if (identity === 'id' && !/^\d+$/.test(key)) throw new RowError(`id: "${key}" is not a course id`);

  const enrol: Plan['enrol'] = {};
  for (const m of ['self', 'guest'] as const) {
    const v = cell(row, m);
    if (!cols.includes(m) || v === '') continue;
    if (v !== '0' && v !== '1') throw new RowError(`${m}: "${v}" is not accepted (1 enables ${m} enrolment, 0 disables it)`);
    if (v === '1' && !site.enrolConfig.has(m)) throw new RowError(`${m}: the ${m} enrolment plugin is not enabled on this site (enrol_plugins_enabled)`);
    enrol[m] = v === '1' ? 0 : 1;
  }

  const topics = new Map<number, Topic>();
  const teachers = new Map<number, Teacher>();
  for (const c of cols) {
    const v = cell(row, c);
    const t = TOPIC_COLUMN.exec(c);
    if (t && v) {
      const bar = v.indexOf('|');
      const name = (bar < 0 ? v : v.slice(0, bar)).trim();
      if (name.length > 255) throw new RowError(`${c}: the section name is longer than 255 characters`);
      topics.set(Number(t[1]), { name: name || null, summary: bar < 0 ? undefined : v.slice(bar + 1).trim() });
    }
    const m = TEACHER_COLUMN.exec(c);
    if (m) {
      const n = Number(m[1]);
      const tch = teachers.get(n) ?? { n, account: '', role: '' };
      if (m[2] === 'account') tch.account = v; else tch.role = v;
      teachers.set(n, tch);
    }
  }
  return {
    row, key, fields, options, category: parseCategory(cell(row, 'category'), settings), topics,
    // An empty account means no teacher N on this row, whatever its role column says.
    teachers: [...teachers.values()].filter((t) => t.account).map((t) => ({ ...t, role: t.role || 'editingteacher' })).sort((a, b) => a.n - b.n),
    enrol,
  };
}

/** The category column: an id or an A/B/C path (idname), or a category idnumber. Empty: not given. */
function parseCategory(v: string, settings: Record<string, string>): CategoryRef | undefined {
  if (!v) return undefined;
  if (settings.courses_coursecategoryidentifier === 'idnumber') return { by: 'idnumber', value: v };
  if (/^\d+$/.test(v)) return { by: 'id', id: Number(v) };
  const names = v.replace(/\\/g, '/').replace(/^\/+|\/+$/g, '').split('/').map((s) => s.trim());
  if (names.some((n) => n === '')) throw new RowError(`category: "${v}" is not accepted (a path of category names separated by /, none empty)`);
  const long = names.find((n) => n.length > 255);
  if (long) throw new RowError(`category: "${long.slice(0, 40)}..." is not accepted (a category name has at most 255 characters)`);
  return { by: 'path', names };
}

/** Existing courses of the chunk by id, shortname and idnumber; re-indexed when a row changes one. */
class CourseIndex {
  private readonly maps = { id: new Map<string, ExistingCourse>(), shortname: new Map<string, ExistingCourse>(), idnumber: new Map<string, ExistingCourse>() };
  constructor(list: ExistingCourse[]) { list.forEach((c) => this.add(c)); }
  add(c: ExistingCourse): void {
    this.maps.id.set(String(c.id), c);
    this.maps.shortname.set(sqlKey(String(c.row.shortname)), c);
    if (c.row.idnumber) this.maps.idnumber.set(sqlKey(String(c.row.idnumber)), c);
  }
  remove(c: ExistingCourse): void {
    for (const m of Object.values(this.maps)) for (const [k, v] of m) if (v === c) m.delete(k);
  }
  get(field: Identity, value: string): ExistingCourse | undefined { return this.maps[field].get(field === 'id' ? value : sqlKey(value)); }
}

interface Context {
  ctx: ChunkContext;
  site: CourseSite;
  tree: CategoryTree;
  index: CourseIndex;
  users: Map<string, { id: number; username: string }>;
  roles: Map<string, number>;
  identity: Identity;
  /** The course form's default start date for a course made now. */
  defaultStart: number;
  /** shortname / idnumber -> line of the row creating it in this batch. */
  pending: { shortname: Map<string, number>; idnumber: Map<string, number> };
}

const userKey = (account: string) => (/^\d+$/.test(account) ? `id:${account}` : `u:${sqlKey(account)}`);

/** Teacher accounts of the chunk (a user id, or a username) and the roles, in two queries. */
async function loadTeachers(ctx: ChunkContext, plans: Plan[]): Promise<Pick<Context, 'users' | 'roles'>> {
  const accounts = plans.flatMap((p) => p.teachers.map((t) => t.account));
  if (!accounts.length) return { users: new Map(), roles: new Map() };
  const site = await readUserSiteConfig(ctx.conn, ctx.db);
  const ids = accounts.filter((a) => /^\d+$/.test(a)).map(Number);
  const names = accounts.filter((a) => !/^\d+$/.test(a));
  const [rows] = await ctx.conn.query<RowDataPacket[]>(
    `SELECT id, username, mnethostid FROM ${ctx.db.t('user')} WHERE deleted = 0 AND (id IN (?) OR (mnethostid = ? AND username IN (?)))`,
    [ids.length ? ids : [0], site.mnethostid, names.length ? names : ['']]);
  const users = new Map<string, { id: number; username: string }>();
  for (const r of rows) {
    users.set(`id:${r.id}`, { id: Number(r.id), username: String(r.username) });
    if (Number(r.mnethostid) === site.mnethostid) users.set(`u:${sqlKey(String(r.username))}`, { id: Number(r.id), username: String(r.username) });
  }
  const [roleRows] = await ctx.conn.query<RowDataPacket[]>(`SELECT id, shortname FROM ${ctx.db.t('role')}`);
  return { users, roles: new Map(roleRows.map((r) => [sqlKey(String(r.shortname)), Number(r.id)])) };
}

function checkTeachers(c: Context, plan: Plan): { userid: number; username: string; roleid: number; role: string }[] {
  return plan.teachers.map((t) => {
    const user = c.users.get(userKey(t.account));
    if (!user) throw new RowError(`teacher${t.n}_account: no user with ${/^\d+$/.test(t.account) ? 'id' : 'username'} "${t.account}"`);
    const roleid = c.roles.get(sqlKey(t.role));
    if (roleid === undefined) throw new RowError(`teacher${t.n}_role: no role "${t.role}"`);
    return { userid: user.id, username: user.username, roleid, role: t.role };
  });
}

/** Resolves (and, for a path, creates) the row's category: last, once every check of the row has passed. */
async function resolveCategory(c: Context, plan: Plan): Promise<{ category: Category; created: string[]; events: LogEvent[] }> {
  const ref = plan.category!;
  if (ref.by === 'path') return categoryFromPath(c.ctx.conn, c.ctx.db, c.tree, ref.names, c.ctx.settings.courses_newcategoriesvisible === '0', c.ctx.now);
  const category = ref.by === 'id' ? c.tree.get(ref.id) : c.tree.withIdnumber(ref.value);
  if (!category) throw new RowError(ref.by === 'id' ? `category: no category with id ${ref.id}` : `category: no category with idnumber "${ref.value}" (courses_coursecategoryidentifier is idnumber)`);
  return { category, created: [], events: [] };
}

/** A category given by id or idnumber must exist: checked before any write of the row. */
function checkCategory(c: Context, plan: Plan): void {
  const ref = plan.category;
  if (!ref || ref.by === 'path') return;
  if (ref.by === 'id' ? !c.tree.get(ref.id) : !c.tree.withIdnumber(ref.value)) {
    throw new RowError(ref.by === 'id' ? `category: no category with id ${ref.id}` : `category: no category with idnumber "${ref.value}" (courses_coursecategoryidentifier is idnumber)`);
  }
}

/** A shortname or idnumber another course holds (or a row of this batch creates). */
function clash(c: Context, field: 'shortname' | 'idnumber', value: string, self?: ExistingCourse): string | undefined {
  if (!value) return undefined;
  const other = c.index.get(field, value);
  if (other && other !== self) return `${field} "${value}" is already used by course ${other.shortname} (id ${other.id})`;
  const line = c.pending[field].get(sqlKey(value));
  if (line !== undefined) return `${field} "${value}" is already used by the course created on line ${line}`;
  return undefined;
}

/** The full course record of a new course: the row's values over the course form's defaults (moodlecourse). */
function newCourseFields(c: Context, plan: Plan): Record<string, unknown> {
  const d = c.site.defaults;
  const g = plan.fields;
  const format = g.format ?? d.format ?? 'topics';
  if (!c.site.formats.includes(String(format))) throw new RowError(`format: the site's default course format "${format}" is not one moodle-sync writes (${c.site.formats.join(', ')}); give a format column`);
  const startdate = g.startdate ?? c.defaultStart;
  // The form's default end is start + courseduration (when enabled); a given start keeps that span.
  const enddate = g.enddate ?? (d.courseenddateenabled === '1' ? Number(startdate) + num(d.courseduration, 31536000) : 0);
  if (Number(enddate) && Number(enddate) < Number(startdate)) throw new RowError(`enddate: "${cell(plan.row, 'enddate')}" is before the course start`);
  if (g.defaultgroupingid) throw new RowError(`defaultgroupingid: "${g.defaultgroupingid}" is not accepted (a new course has no groupings: 0 or empty)`);
  const enablecompletion = g.enablecompletion ?? (c.site.completionEnabled ? num(d.enablecompletion, 1) : 0);
  const visible = g.visible ?? num(d.visible, 1);
  const timecreated = g.timecreated ?? c.ctx.now;
  return {
    fullname: g.fullname, shortname: g.shortname, idnumber: g.idnumber ?? '', summary: g.summary ?? '', summaryformat: 1, format,
    showgrades: g.showgrades ?? num(d.showgrades, 1), newsitems: g.newsitems ?? num(d.newsitems, 5), startdate, enddate, relativedatesmode: 0,
    marker: g.marker ?? 0, maxbytes: g.maxbytes ?? num(d.maxbytes, 0), legacyfiles: g.legacyfiles ?? 0, showreports: g.showreports ?? num(d.showreports, 0),
    // create_course: visibleold follows visible; timemodified = timecreated.
    visible, visibleold: visible, downloadcontent: null, groupmode: g.groupmode ?? num(d.groupmode, 0), groupmodeforce: g.groupmodeforce ?? num(d.groupmodeforce, 0),
    defaultgroupingid: 0, lang: g.lang ?? d.lang ?? '', calendartype: '', theme: g.theme ?? '', timecreated, timemodified: timecreated, requested: 0,
    enablecompletion, completionnotify: 0, originalcourseid: null, showactivitydates: num(d.showactivitydates, 1),
    showcompletionconditions: enablecompletion ? num(d.showcompletionconditions, 1) : null, pdfexportfont: null, enableaitools: null,
  };
}

/** Sections of a new course: 0..the highest named topic, else 0..moodlecourse numsections (decision 6). */
function newSections(site: CourseSite, topics: Map<number, Topic>): NewCourse['sections'] {
  const last = topics.size ? Math.max(...topics.keys()) : num(site.defaults.numsections, 4);
  return Array.from({ length: last + 1 }, (_, n) => ({ name: topics.get(n)?.name ?? null, summary: topics.get(n)?.summary ?? '' }));
}

interface Creation {
  index: number; plan: Plan; course: NewCourse; notes: string[]; teachers: ReturnType<typeof checkTeachers>;
  /** course_category_created of the categories the row made: logged with its course, in row order. */
  categoryEvents: LogEvent[];
}

/** Checks a new course's row and resolves its category; the course itself is written with the batch. */
async function planCreation(c: Context, plan: Plan, index: number): Promise<Creation> {
  if (c.identity === 'id') throw new RowError(`id: no course with id ${plan.key}; a new course cannot be given an id (leave it to Moodle, identify courses by shortname or idnumber)`);
  const why = clash(c, 'shortname', String(plan.fields.shortname)) ?? clash(c, 'idnumber', String(plan.fields.idnumber ?? ''));
  if (why) throw new RowError(why);
  const fields = newCourseFields(c, plan);
  const teachers = checkTeachers(c, plan);
  if (teachers.length && !defaultEnrolPlugins(c.site).includes('manual')) {
    throw new RowError(`teacher${plan.teachers[0].n}_account: a new course gets no manual enrolment instance on this site (enrol_manual disabled or without defaultenrol)`);
  }
  checkCategory(c, plan);
  const notes: string[] = [];
  let category: Category;
  let categoryEvents: LogEvent[] = [];
  if (plan.category) {
    const r = await resolveCategory(c, plan);
    category = r.category;
    categoryEvents = r.events;
    if (r.created.length) notes.push(`categories created: ${r.created.join(', ')}`);
  } else {
    category = c.tree.defaultCategory() ?? (() => { throw new RowError('category: the site has no course category'); })();
  }
  const format = String(fields.format);
  c.pending.shortname.set(sqlKey(String(fields.shortname)), plan.row.line);
  if (fields.idnumber) c.pending.idnumber.set(sqlKey(String(fields.idnumber)), plan.row.line);
  return {
    index, plan, notes, teachers, categoryEvents,
    course: { fields, category, formatOptions: { ...formatOptionDefaults(format, c.site), ...plan.options }, sections: newSections(c.site, plan.topics), enrolStatus: plan.enrol },
  };
}

/** update_course with the columns the row gives (decision 6), then its sections, self / guest and teachers. */
async function updateExisting(c: Context, plan: Plan, course: ExistingCourse): Promise<string> {
  const { conn, db, now, settings } = c.ctx;
  const old = course.row;
  const changes: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(plan.fields)) {
    // update_course sets timemodified itself.
    if (k !== 'timemodified' && String(old[k] ?? '') !== String(v)) changes[k] = v;
  }
  for (const f of ['shortname', 'idnumber'] as const) {
    const why = changes[f] !== undefined ? clash(c, f, String(changes[f]), course) : undefined;
    if (why) throw new RowError(why);
  }
  if ('visible' in changes && !('visibleold' in plan.fields)) changes.visibleold = changes.visible;
  const start = Number(changes.startdate ?? old.startdate);
  const end = Number(changes.enddate ?? old.enddate);
  if (end && end < start) throw new RowError(`enddate: the course would end (${cell(plan.row, 'enddate') || end}) before it starts (${cell(plan.row, 'startdate') || start})`);
  if (changes.defaultgroupingid) {
    const [g] = await conn.query<RowDataPacket[]>(`SELECT 1 FROM ${db.t('groupings')} WHERE id = ? AND courseid = ?`, [changes.defaultgroupingid, course.id]);
    if (!g.length) throw new RowError(`defaultgroupingid: course ${course.shortname} has no grouping with id ${changes.defaultgroupingid}`);
  }
  const teachers = checkTeachers(c, plan);
  const manual = teachers.length ? (await findEnrolInstances(conn, db, course.id, 'manual'))[0] : undefined;
  if (teachers.length && !manual) throw new RowError(`teacher${plan.teachers[0].n}_account: course ${course.shortname} has no manual enrolment instance`);
  const protect = settings.courses_protectcategory === '1';
  if (!protect) checkCategory(c, plan);

  const notes: string[] = [];
  let target: Category | undefined;
  if (plan.category && !protect) {
    const r = await resolveCategory(c, plan);
    await logEvents(conn, db, now, r.events);
    if (r.created.length) notes.push(`categories created: ${r.created.join(', ')}`);
    if (r.category.id !== Number(old.category)) target = r.category;
  }
  const kept = plan.category && protect ? '; category kept (courses_protectcategory)' : '';
  if (target) {
    changes.category = target.id;
    changes.sortorder = 0; // to the top of its new category, as fix_course_sortorder numbers it
    await moveCourseContext(conn, db, course, target, now, c.site.sessionTimeout);
    notes.push(`moved to ${c.tree.label(target)}`);
  }
  const format = String(changes.format ?? old.format);
  const previous = changes.format !== undefined || Object.keys(plan.options).length ? await readFormatOptions(conn, db, course.id, String(old.format)) : {};
  const optionChanges = Object.keys(plan.options).length || changes.format !== undefined
    ? await saveFormatOptions(conn, db, c.site, course.id, format, plan.options, changes.format !== undefined ? previous : {}) : 0;
  const updated = Object.keys(changes).length > 0 || optionChanges > 0; // update_course ran
  // update_course's event (the category as the id the tool passes), then the sections' events.
  if (updated) await logEvents(conn, db, now, [courseUpdatedEvent(course, { ...plan.fields, ...(target ? { category: String(target.id) } : {}) }, previous, plan.options)]);
  const last = plan.topics.size ? Math.max(...plan.topics.keys()) : -1;
  const sections = plan.topics.size ? await applySections(conn, db, course, last, plan.topics, now) : { created: 0, renamed: 0, events: [] };
  await logEvents(conn, db, now, sections.events);
  const rebuilds = (updated ? 1 : 0) + sections.created + sections.renamed;
  if (rebuilds) await updateCourseRow(conn, db, course.id, changes, now, rebuilds);
  // format_weeks recomputes the end date whenever the course is updated.
  if (rebuilds && format === 'weeks') await refreshWeeksEndDate(conn, db, course.id);
  const changed = [...Object.keys(changes).filter((k) => !['sortorder', 'category', 'visibleold'].includes(k) || plan.fields[k] !== undefined),
    ...(optionChanges ? Object.keys(plan.options) : [])];
  if (sections.created) notes.push(`${sections.created} section${sections.created === 1 ? '' : 's'} added`);
  if (sections.renamed) notes.push(`${sections.renamed} section${sections.renamed === 1 ? '' : 's'} named`);
  for (const m of ['guest', 'self'] as const) {
    if (plan.enrol[m] === undefined) continue;
    const r = await setEnrolMethod(conn, db, c.site, course, m, plan.enrol[m] === 0, now);
    if (r) notes.push(r);
  }
  for (const t of teachers) notes.push(`teacher ${t.username} ${await enrolTeacher(conn, db, c.site, course, manual!.id, t.userid, t.roleid, now)} as ${t.role}`);
  c.index.remove(course);
  Object.assign(course.row, changes);
  c.index.add(course);
  const what = changed.length ? `updated (${changed.join(', ')})` : notes.length || rebuilds ? 'updated' : 'unchanged';
  return `course ${course.row.shortname} (id ${course.id}) ${what}${notes.length ? `; ${notes.join('; ')}` : ''}${kept}`;
}

async function applyCreate(ctx: ChunkContext, rows: DataRow[]): Promise<RowOutcome[]> {
  const { conn, db, settings } = ctx;
  const site = await readCourseSite(conn, db);
  const identity = (settings.courses_fileuploadidentifier || 'shortname') as Identity;
  const parsed = rows.map((row) => { try { return parseRow(row, ctx.header, site, settings); } catch (e) { if (e instanceof RowError) return e; throw e; } });
  const plans = parsed.filter((p): p is Plan => !(p instanceof RowError));
  const existing = await findCourses(conn, db, {
    ids: identity === 'id' ? plans.map((p) => Number(p.key)) : [],
    shortnames: plans.map((p) => String(p.fields.shortname)),
    idnumbers: plans.map((p) => String(p.fields.idnumber ?? '')).filter(Boolean),
  });
  const c: Context = {
    ctx, site, identity, defaultStart: defaultStartDate(site, ctx.now), tree: await CategoryTree.load(conn, db), index: new CourseIndex(existing),
    ...(await loadTeachers(ctx, plans)), pending: { shortname: new Map(), idnumber: new Map() },
  };

  const outcomes: RowOutcome[] = new Array(rows.length);
  let creations: Creation[] = [];
  for (const [i, p] of parsed.entries()) {
    if (p instanceof RowError) { outcomes[i] = { status: 'failed', message: p.message }; continue; }
    const course = c.index.get(identity, p.key);
    const pendingLine = identity !== 'id' ? c.pending[identity].get(sqlKey(p.key)) : undefined;
    if (course || pendingLine !== undefined) {
      const what = course ? `course ${course.shortname} (id ${course.id})` : `course ${p.key} (created on line ${pendingLine})`;
      if (settings.courses_forceupdate !== '1') { outcomes[i] = { status: 'skipped', message: `${what} exists; not updated (courses_forceupdate is off)` }; continue; }
      // The batch's index knows the courses that existed before it: the pipeline retries row by row, where this row sees it.
      if (!course) throw new Error(`line ${p.row.line} updates a course created earlier in the same batch`);
      // The new courses of the rows above first, so that the event log follows the file.
      await writeCreations(c, creations, outcomes);
      creations = [];
      await conn.query('SAVEPOINT msync_course_update');
      const mark = deferMark(conn);
      try {
        outcomes[i] = { status: 'applied', message: await updateExisting(c, p, course) };
      } catch (e) {
        if (!(e instanceof RowError)) throw e;
        await conn.query('ROLLBACK TO SAVEPOINT msync_course_update');
        rollbackDeferred(conn, mark);
        outcomes[i] = { status: 'failed', message: e.message };
      }
      continue;
    }
    try {
      creations.push(await planCreation(c, p, i));
    } catch (e) {
      if (!(e instanceof RowError)) throw e;
      outcomes[i] = { status: 'failed', message: e.message };
    }
  }
  await writeCreations(c, creations, outcomes);
  await fixCourseSortorder(conn, db);
  return outcomes;
}

/**
 * Writes the planned new courses together, then, course by course in row order, logs the events of
 * its row (its new categories, create_course and the steps after it) and enrols its teachers.
 */
async function writeCreations(c: Context, creations: Creation[], outcomes: RowOutcome[]): Promise<void> {
  if (!creations.length) return;
  const { conn, db, now } = c.ctx;
  const inserted = await insertCourses(conn, db, c.site, creations.map((k) => k.course), now);
  const manual = new Map<number, number>();
  if (creations.some((k) => k.teachers.length)) {
    const [rowsM] = await conn.query<RowDataPacket[]>(`SELECT id, courseid FROM ${db.t('enrol')} WHERE courseid IN (?) AND enrol = 'manual' ORDER BY sortorder DESC, id DESC`, [inserted.map((k) => k.course.id)]);
    for (const r of rowsM) manual.set(Number(r.courseid), Number(r.id)); // the first by sortorder wins
  }
  for (const [k, creation] of creations.entries()) {
    const course: CreatedCourse = inserted[k].course;
    await logEvents(conn, db, now, [...creation.categoryEvents, ...inserted[k].events]);
    const notes = [...creation.notes];
    for (const m of ['guest', 'self'] as const) if (creation.plan.enrol[m] === 0) notes.push(`${m} enrolment enabled`);
    for (const t of creation.teachers) notes.push(`teacher ${t.username} ${await enrolTeacher(conn, db, c.site, course, manual.get(course.id)!, t.userid, t.roleid, now)} as ${t.role}`);
    outcomes[creation.index] = {
      status: 'applied',
      message: `course ${course.shortname} (id ${course.id}) created in ${c.tree.label(creation.course.category)} (category id ${creation.course.category.id})${notes.length ? `; ${notes.join('; ')}` : ''}`,
    };
  }
}

export const createOperation: ToolOperation = {
  tool: 'courses', op: 'create', summary: 'create or update courses (and their categories)', locationSetting: 'courses_fileuploadlocation',
  // Cache flags and event log rows of the chunk are written together at its end.
  header, chunkSize: 500, apply: (ctx, rows) => withDeferredWrites(ctx.conn, ctx.db, () => applyCreate(ctx, rows)),
};
