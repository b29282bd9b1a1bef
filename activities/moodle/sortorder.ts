import type { PoolConnection, RowDataPacket } from 'mysql2/promise';
import type { MoodleDb } from './db';
import { siteConfig, updateColumnById } from './rows';

/**
 * Moodle's fix_course_sortorder(), which create_course, update_course (move) and
 * core_course_category::create run after their insert or update (moodle-writes.md: categories in
 * steps of 10000 in depth-first order, later categories and their courses renumbered; a category's
 * courses numbered from its sortorder + 1, newest first; coursecount recounted; the site course at
 * sortorder 1). It only looks at the database, so a chunk runs it once after all its rows: the
 * result is the one row-by-row creation gives. Renumbered rows get no timemodified, as in Moodle.
 */

/** MAX_COURSE_CATEGORIES in lib/datalib.php. */
const MAX_COURSE_CATEGORIES = 10000;

interface CatRow { id: number; sortorder: number; parent: number; children: CatRow[] }

async function maxCoursesInCategory(conn: PoolConnection, db: MoodleDb): Promise<number> {
  const cfg = await siteConfig(conn, db, ['maxcoursesincategory']);
  return Number(cfg.maxcoursesincategory) > 0 ? Number(cfg.maxcoursesincategory) : 10000;
}

/**
 * The category half of fix_course_sortorder: categories numbered depth-first in steps of
 * maxcoursesincategory (new ones, at 0, after their siblings), then the courses of renumbered
 * categories moved into their category's range, keeping their rank. Returns every category's sortorder.
 */
export async function fixCategorySortorder(conn: PoolConnection, db: MoodleDb): Promise<Map<number, number>> {
  const max = await maxCoursesInCategory(conn, db);
  const cc = db.t('course_categories');
  const course = db.t('course');
  await conn.query(`UPDATE ${cc} SET sortorder = ? WHERE sortorder = 0`, [max * MAX_COURSE_CATEGORIES]);
  const [cats] = await conn.query<RowDataPacket[]>(`SELECT id, sortorder, parent FROM ${cc} ORDER BY sortorder, id`);
  const byId = new Map<number, CatRow>(cats.map((c) => [Number(c.id), { id: Number(c.id), sortorder: Number(c.sortorder), parent: Number(c.parent), children: [] }]));
  const top: CatRow[] = [];
  const broken: CatRow[] = [];
  for (const c of byId.values()) {
    if (!c.parent) top.push(c);
    else if (byId.has(c.parent)) byId.get(c.parent)!.children.push(c);
    else broken.push(c);
  }
  // Depth-first, in steps of `max` (_fix_course_cats).
  const renumber = new Map<number, number>();
  const numbers = new Map<number, number>();
  let next = 0;
  const walk = (list: CatRow[]) => {
    for (const c of list) {
      next += max;
      numbers.set(c.id, next);
      if (c.sortorder !== next) renumber.set(c.id, next);
      walk(c.children);
    }
  };
  walk([...top, ...broken]);
  await updateColumnById(conn, db, 'course_categories', 'sortorder', renumber);

  // Courses outside their category's range (a new course has 0; a renumbered category moved them) keep their rank in it.
  const [outside] = await conn.query<RowDataPacket[]>(
    `SELECT DISTINCT cc.id FROM ${cc} cc JOIN ${course} c ON c.category = cc.id WHERE c.sortorder < cc.sortorder OR c.sortorder > cc.sortorder + ?`, [max]);
  if (outside.length) {
    await conn.query(`UPDATE ${course} c JOIN ${cc} cc ON cc.id = c.category SET c.sortorder = MOD(c.sortorder, ?) + cc.sortorder WHERE c.category IN (?)`,
      [max, outside.map((r) => r.id)]);
  }
  return numbers;
}

export async function fixCourseSortorder(conn: PoolConnection, db: MoodleDb): Promise<void> {
  const cc = db.t('course_categories');
  const course = db.t('course');
  await fixCategorySortorder(conn, db);

  await conn.query(`UPDATE ${course} SET sortorder = 1 WHERE category = 0 AND sortorder <> 1`);

  await conn.query(
    `UPDATE ${cc} cc LEFT JOIN (SELECT category, COUNT(*) AS n FROM ${course} GROUP BY category) x ON x.category = cc.id
        SET cc.coursecount = COALESCE(x.n, 0) WHERE cc.coursecount <> COALESCE(x.n, 0)`);

  // Categories with duplicate sort orders or gaps: renumbered from sortorder + 1 (sortorder, then newest id first).
  const [dups] = await conn.query<RowDataPacket[]>(
    `SELECT DISTINCT c.category AS id FROM ${course} c JOIN ${cc} cc ON cc.id = c.category
       JOIN (SELECT sortorder FROM ${course} GROUP BY sortorder HAVING COUNT(*) > 1) d ON d.sortorder = c.sortorder`);
  const resort = new Set<number>(dups.map((r) => Number(r.id)));
  const [gaps] = await conn.query<RowDataPacket[]>(
    `SELECT cc.id, cc.sortorder, cc.coursecount, MAX(c.sortorder) AS maxsort, MIN(c.sortorder) AS minsort
       FROM ${cc} cc JOIN ${course} c ON c.category = cc.id GROUP BY cc.id, cc.sortorder, cc.coursecount
     HAVING MAX(c.sortorder) <> cc.sortorder + cc.coursecount OR MIN(c.sortorder) <> cc.sortorder + 1`);
  for (const g of gaps) {
    const id = Number(g.id);
    if (resort.has(id)) continue;
    if (Number(g.minsort) === Number(g.sortorder) && Number(g.maxsort) === Number(g.sortorder) + Number(g.coursecount) - 1) {
      // One course inserted at the top, the rest in order: everyone moves down one.
      await conn.query(`UPDATE ${course} SET sortorder = sortorder + 1 WHERE category = ?`, [id]);
    } else {
      resort.add(id);
    }
  }
  if (!resort.size) return;
  const [courses] = await conn.query<RowDataPacket[]>(
    `SELECT c.id, c.category, c.sortorder, cc.sortorder AS base FROM ${course} c JOIN ${cc} cc ON cc.id = c.category
      WHERE c.category IN (?) ORDER BY c.category, c.sortorder ASC, c.id DESC`, [[...resort]]);
  const changes = new Map<number, number>();
  let category = -1;
  let i = 0;
  for (const c of courses) {
    if (Number(c.category) !== category) { category = Number(c.category); i = 1; }
    const want = Number(c.base) + i++;
    if (Number(c.sortorder) !== want) changes.set(Number(c.id), want);
  }
  await updateColumnById(conn, db, 'course', 'sortorder', changes);
}

/**
 * Room at the top of categories for new courses, before they are written: the categories
 * renumbered first, then each category's courses moved down by the number of new ones, which
 * take sortorder + 1... newest first, as fix_course_sortorder would number them. Returns the
 * sortorder of each new course, by position in `categories` (one entry per new course, in insert order).
 */
export async function makeRoomForCourses(conn: PoolConnection, db: MoodleDb, categories: number[]): Promise<number[]> {
  const numbers = await fixCategorySortorder(conn, db);
  const counts = new Map<number, number>();
  for (const c of categories) counts.set(c, (counts.get(c) ?? 0) + 1);
  const shifts = [...counts].map(() => 'SELECT ? AS category, ? AS k').join(' UNION ALL ');
  await conn.query(`UPDATE ${db.t('course')} c JOIN (${shifts}) x ON x.category = c.category SET c.sortorder = c.sortorder + x.k`, [...counts].flat());
  const seen = new Map<number, number>();
  return categories.map((c) => {
    const p = seen.get(c) ?? 0;
    seen.set(c, p + 1);
    return numbers.get(c)! + counts.get(c)! - p;
  });
}
