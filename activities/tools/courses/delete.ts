import type { RowOutcome, ToolOperation } from '../types';
import { deleteCourses as deleteFromMoodle, undeletableContent } from '../../moodle/courseDelete';
import { readMetaSite } from '../../moodle/meta';
import { courseIdentifier, lookupCourse, named, type CourseRow } from './lookup';
import { withDeferredWrites } from '../../moodle/deferred';

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
  // Cache flags and event log rows of the chunk are written together at its end.
  apply: (ctx, rows) => withDeferredWrites(ctx.conn, ctx.db, async () => {
    const field = courseIdentifier(ctx.settings.courses_filedeleteidentifier);
    const out: RowOutcome[] = [];
    const found = new Map<number, CourseRow>();
    const plan: ({ course: CourseRow; line: number } | RowOutcome)[] = [];
    for (const row of rows) {
      const lookup = await lookupCourse(ctx.conn, ctx.db, field, row.values.value, 'identifier');
      if (!('course' in lookup)) { plan.push({ status: 'failed', message: lookup.error }); continue; }
      found.set(lookup.course.id, lookup.course);
      plan.push({ course: lookup.course, line: row.line });
    }
    const problems = await undeletableContent(ctx.conn, ctx.db, [...found.values()]);
    const doomed = new Map<number, { course: CourseRow; index: number; line: number }>();
    for (const [index, p] of plan.entries()) {
      if (!('course' in p)) { out.push(p); continue; }
      const earlier = doomed.get(p.course.id);
      const why = problems.get(p.course.id);
      if (earlier) out.push({ status: 'skipped', message: `${named(p.course)} is deleted by line ${earlier.line}` });
      else if (why) out.push({ status: 'failed', message: `${named(p.course)} not deleted: it holds ${why.join('; ')}, which moodle-sync does not delete; delete it in Moodle` });
      else {
        doomed.set(p.course.id, { course: p.course, index, line: p.line });
        out.push({ status: 'applied', message: `deleted ${named(p.course)} "${p.course.fullname}"` });
      }
    }
    const notes = await deleteFromMoodle(ctx.conn, ctx.db, [...doomed.values()].map((d) => d.course), await readMetaSite(ctx.conn, ctx.db), ctx.now);
    for (const { parentid, note } of notes) {
      const d = doomed.get(parentid)!;
      out[d.index] = { ...out[d.index], message: `${out[d.index].message}; ${note}` };
    }
    return out;
  }),
};
