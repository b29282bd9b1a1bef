import type { RowOutcome, ToolOperation } from '../types';
import { deleteCourses as deleteFromMoodle, undeletableContent } from '../../moodle/courseDelete';
import { readMetaSite } from '../../moodle/meta';
import { courseIdentifier, lookupCourse, named, type CourseRow } from './lookup';

/**
 * The course deletion file (reference 5.1.2): a header-less list of course identifiers
 * (courses_filedeleteidentifier). Each course is deleted as delete_course() does, then the
 * categories are fixed as fix_course_sortorder() does. A course that is not found is a row error
 * (the original's coursenotfound, with a tryback line); so is one holding content moodle-sync
 * cannot delete the way Moodle would (see activities/moodle/courseDelete.ts).
 */
export const deleteCourses: ToolOperation = {
  tool: 'courses',
  op: 'delete',
  summary: 'delete courses and everything in them',
  locationSetting: 'courses_filedeletelocation',
  header: null,
  chunkSize: 100,
  async apply(ctx, rows) {
    const field = courseIdentifier(ctx.settings.courses_filedeleteidentifier);
    const out: RowOutcome[] = [];
    const doomed = new Map<number, { course: CourseRow; index: number; line: number }>();
    for (const [index, row] of rows.entries()) {
      const found = await lookupCourse(ctx.conn, ctx.db, field, row.values.value, 'identifier');
      if (!('course' in found)) { out.push({ status: 'failed', message: found.error }); continue; }
      const earlier = doomed.get(found.course.id);
      if (earlier) { out.push({ status: 'skipped', message: `${named(found.course)} is deleted by line ${earlier.line}` }); continue; }
      const problems = await undeletableContent(ctx.conn, ctx.db, found.course);
      if (problems.length) {
        out.push({ status: 'failed', message: `${named(found.course)} not deleted: it holds ${problems.join('; ')}, which moodle-sync does not delete; delete it in Moodle` });
        continue;
      }
      doomed.set(found.course.id, { course: found.course, index, line: row.line });
      out.push({ status: 'applied', message: `deleted ${named(found.course)} "${found.course.fullname}"` });
    }
    const notes = await deleteFromMoodle(ctx.conn, ctx.db, [...doomed.values()].map((d) => d.course), await readMetaSite(ctx.conn, ctx.db), ctx.now);
    for (const { parentid, note } of notes) {
      const d = doomed.get(parentid)!;
      out[d.index] = { ...out[d.index], message: `${out[d.index].message}; ${note}` };
    }
    return out;
  },
};
