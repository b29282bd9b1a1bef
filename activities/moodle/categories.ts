import type { PoolConnection, ResultSetHeader, RowDataPacket } from 'mysql2/promise';
import type { MoodleDb } from './db';
import { sqlKey } from './collation';
import { categoryContext, courseCategoryCreated, type LogEvent } from './events';

/**
 * Course categories as core_course_category::create makes them (moodle-writes.md: create a course
 * category, create a sub-category): the row, its path and depth, its context, and the
 * course_category_created event it logs. Sort orders are left to fixCourseSortorder
 * (./sortorder.ts), which Moodle runs right after the insert.
 */

export const CONTEXT_SYSTEM = 10;
export const CONTEXT_COURSECAT = 40;

export interface Category {
  id: number;
  name: string;
  idnumber: string | null;
  parent: number;
  sortorder: number;
  depth: number;
  path: string;
  visible: number;
  contextid: number;
  contextpath: string;
  contextdepth: number;
}

/** Every category of the site with its context, loaded once per batch of rows (sites hold hundreds, not millions). */
export class CategoryTree {
  private readonly byId = new Map<number, Category>();

  private constructor(readonly system: { id: number; path: string; depth: number }, list: Category[]) {
    list.forEach((c) => this.add(c));
  }

  static async load(conn: PoolConnection, db: MoodleDb): Promise<CategoryTree> {
    const [sys] = await conn.query<RowDataPacket[]>(`SELECT id, path, depth FROM ${db.t('context')} WHERE contextlevel = ? ORDER BY id LIMIT 1`, [CONTEXT_SYSTEM]);
    if (!sys.length) throw new Error('the Moodle database has no system context');
    const [rows] = await conn.query<RowDataPacket[]>(
      `SELECT cc.id, cc.name, cc.idnumber, cc.parent, cc.sortorder, cc.depth, cc.path, cc.visible, x.id AS contextid, x.path AS contextpath, x.depth AS contextdepth
         FROM ${db.t('course_categories')} cc JOIN ${db.t('context')} x ON x.contextlevel = ? AND x.instanceid = cc.id`, [CONTEXT_COURSECAT]);
    return new CategoryTree({ id: Number(sys[0].id), path: String(sys[0].path), depth: Number(sys[0].depth) }, rows.map((r) => ({
      id: Number(r.id), name: String(r.name), idnumber: r.idnumber === null ? null : String(r.idnumber), parent: Number(r.parent),
      sortorder: Number(r.sortorder), depth: Number(r.depth), path: String(r.path), visible: Number(r.visible),
      contextid: Number(r.contextid), contextpath: String(r.contextpath), contextdepth: Number(r.contextdepth),
    })));
  }

  add(c: Category): void {
    this.byId.set(c.id, c);
  }

  get(id: number): Category | undefined {
    return this.byId.get(id);
  }

  /** In Moodle's order: by sortorder, then id. */
  private sorted(filter: (c: Category) => boolean): Category[] {
    return [...this.byId.values()].filter(filter).sort((a, b) => a.sortorder - b.sortorder || a.id - b.id);
  }

  withIdnumber(idnumber: string): Category | undefined {
    return this.sorted((c) => c.idnumber !== null && sqlKey(c.idnumber) === sqlKey(idnumber))[0];
  }

  /** The child of `parent` (0: top level) with that name (as the database compares); the first one when names repeat. */
  child(parent: number, name: string): Category | undefined {
    return this.sorted((c) => c.parent === parent && sqlKey(c.name) === sqlKey(name))[0];
  }

  /** The category a course without one goes to (spec decision 7): the lowest id. */
  defaultCategory(): Category | undefined {
    return [...this.byId.values()].sort((a, b) => a.id - b.id)[0];
  }

  /** "A/B/C": the names from the top. */
  label(c: Category): string {
    return c.path.split('/').filter(Boolean).map((id) => this.byId.get(Number(id))?.name ?? `#${id}`).join('/');
  }
}

/**
 * core_course_category::create(name, parent): description '' in FORMAT_MOODLE, idnumber NULL,
 * depth and path from the parent, visible as the parent unless hidden on purpose (then visibleold 0
 * too), coursecount 0; then its context (level 40, path below the parent's context).
 */
export async function createCategory(conn: PoolConnection, db: MoodleDb, tree: CategoryTree, parent: Category | undefined, name: string, hidden: boolean, now: number): Promise<Category> {
  const visible = hidden ? 0 : parent ? parent.visible : 1;
  const depth = parent ? parent.depth + 1 : 1;
  const [res] = await conn.query<ResultSetHeader>(
    `INSERT INTO ${db.t('course_categories')} (name, idnumber, description, descriptionformat, parent, sortorder, coursecount, visible, visibleold, timemodified, depth, path, theme)
     VALUES (?, NULL, '', 0, ?, 0, 0, ?, ?, ?, ?, '', NULL)`, [name, parent?.id ?? 0, visible, hidden ? 0 : 1, now, depth]);
  const id = res.insertId;
  const path = `${parent?.path ?? ''}/${id}`;
  await conn.query(`UPDATE ${db.t('course_categories')} SET path = ? WHERE id = ?`, [path, id]);
  const parentContext = parent ? { path: parent.contextpath, depth: parent.contextdepth } : tree.system;
  const [ctx] = await conn.query<ResultSetHeader>(`INSERT INTO ${db.t('context')} (contextlevel, instanceid, path, depth, locked) VALUES (?, ?, NULL, ?, 0)`,
    [CONTEXT_COURSECAT, id, parentContext.depth + 1]);
  const contextpath = `${parentContext.path}/${ctx.insertId}`;
  await conn.query(`UPDATE ${db.t('context')} SET path = ? WHERE id = ?`, [contextpath, ctx.insertId]);
  // Unsorted categories go after their siblings (fix_course_sortorder); the real number comes with the fix.
  const category: Category = { id, name, idnumber: null, parent: parent?.id ?? 0, sortorder: Number.MAX_SAFE_INTEGER, depth, path, visible,
    contextid: ctx.insertId, contextpath, contextdepth: parentContext.depth + 1 };
  tree.add(category);
  return category;
}

/** The category's course_category_created event, in the new category's context. */
export const categoryCreatedEvent = (c: Category): LogEvent => courseCategoryCreated(categoryContext(c.contextid, c.id));

/**
 * The category at path `names` (from the top), creating the missing ones in order (reference
 * 5.1.1: make_category). Returns it, the names of the categories created and their events, which
 * the caller logs where the row's writes belong in the log.
 */
export async function categoryFromPath(conn: PoolConnection, db: MoodleDb, tree: CategoryTree, names: string[], hidden: boolean, now: number): Promise<{ category: Category; created: string[]; events: LogEvent[] }> {
  let parent: Category | undefined;
  const created: string[] = [];
  const events: LogEvent[] = [];
  for (const name of names) {
    let next = tree.child(parent?.id ?? 0, name);
    if (!next) {
      next = await createCategory(conn, db, tree, parent, name, hidden, now);
      created.push(tree.label(next));
      events.push(categoryCreatedEvent(next));
    }
    parent = next;
  }
  return { category: parent!, created, events };
}
