/** Bench case: 2,000 new courses whose category paths create 26 categories (Bench / 5 faculties / 4 departments each). */
import type { RowDataPacket } from 'mysql2';
import { writeLines, type Case } from './case';

const COURSES = 2_000;
const FACULTIES = 5;
const DEPARTMENTS = 4;
const PREFIX = 'BENCHCRS';

export function coursesCase(): Case {
  return {
    key: 'courses', label: '2,000 courses, 26 categories made from their paths', rows: COURSES, tool: 'courses', op: 'create', target: 300,
    // Row i goes to department (i mod 20): every chunk spans every category.
    write: (abs) => writeLines(abs, 'shortname;fullname;idnumber;category;summary', COURSES, (i) => {
      const k = i % (FACULTIES * DEPARTMENTS);
      return `${PREFIX}${i};Bench course ${i};${PREFIX}-${i};Bench/Faculty ${Math.floor(k / DEPARTMENTS) + 1}/Department ${(k % DEPARTMENTS) + 1};Course number ${i}`;
    }),
    async verify(sb, rows) {
      const count = async (sql: string) => Number((await sb.db.query<RowDataPacket[]>(sql, [`${PREFIX}%`]))[0][0].n);
      const courses = await count('SELECT COUNT(*) AS n FROM mdl_course WHERE shortname LIKE ?');
      const contexts = await count('SELECT COUNT(*) AS n FROM mdl_context x JOIN mdl_course c ON c.id = x.instanceid AND x.contextlevel = 50 WHERE c.shortname LIKE ?');
      const sections = await count('SELECT COUNT(*) AS n FROM mdl_course_sections s JOIN mdl_course c ON c.id = s.course WHERE c.shortname LIKE ?');
      const enrols = await count('SELECT COUNT(*) AS n FROM mdl_enrol e JOIN mdl_course c ON c.id = e.courseid WHERE c.shortname LIKE ?');
      const forums = await count('SELECT COUNT(*) AS n FROM mdl_course_modules m JOIN mdl_course c ON c.id = m.course WHERE c.shortname LIKE ?');
      const [[cats]] = await sb.db.query<RowDataPacket[]>("SELECT COUNT(*) AS n, SUM(coursecount) AS courses FROM mdl_course_categories WHERE path LIKE CONCAT((SELECT path FROM mdl_course_categories WHERE name = 'Bench' AND parent = 0), '%')");
      const got = { applied: rows.applied, courses, contexts, sections, enrols, forums, categories: Number(cats.n), counted: Number(cats.courses) };
      const want = { applied: COURSES, courses: COURSES, contexts: COURSES, sections: COURSES * 5, enrols: COURSES * 3, forums: COURSES, categories: 1 + FACULTIES * (1 + DEPARTMENTS), counted: COURSES };
      if (JSON.stringify(got) !== JSON.stringify(want)) throw new Error(`courses: expected ${JSON.stringify(want)}, got ${JSON.stringify(got)}`);
    },
  };
}
