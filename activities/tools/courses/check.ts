import type { RowOutcome, ToolOperation } from '../types';
import { courseIdentifier, lookupCourse } from './lookup';

/**
 * The course existence check (reference 5.1.3): a header-less list of course identifiers
 * (courses_existfileidentifier). Writes nothing; a course found is reported "exists", one that is
 * not "missing" (skipped, not failed: the check itself worked, and the original kept no tryback).
 */
export const checkCourses: ToolOperation = {
  tool: 'courses',
  op: 'check',
  summary: 'report which listed courses exist (writes nothing)',
  locationSetting: 'courses_fileexistlocation',
  header: null,
  // Reference 5.1.3: `<identifier>[<sep><description>]`; the description is the operator's note.
  listColumns: ['description'],
  chunkSize: 1000,
  async apply(ctx, rows) {
    const field = courseIdentifier(ctx.settings.courses_existfileidentifier);
    const out: RowOutcome[] = [];
    for (const row of rows) {
      const value = (row.values.value ?? '').trim();
      const found = await lookupCourse(ctx.conn, ctx.db, field, value, 'identifier');
      if ('course' in found) {
        const c = found.course;
        out.push({ status: 'applied', message: `exists: ${field} "${value}" is course ${c.id}, ${c.shortname} "${c.fullname}"${c.idnumber ? ` (idnumber ${c.idnumber})` : ''}` });
      } else if (found.missing) {
        out.push({ status: 'skipped', message: `missing: no course with ${field} "${value}"` });
      } else {
        out.push({ status: 'failed', message: found.error });
      }
    }
    return out;
  },
};
