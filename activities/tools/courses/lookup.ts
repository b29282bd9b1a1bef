import type { PoolConnection, RowDataPacket } from 'mysql2/promise';
import type { MoodleDb } from '../../moodle/db';
import { CONTEXT_COURSE } from '../../moodle/enrol';

/** A course as the delete, check and metas files name it, with its context. */
export interface CourseRow {
  id: number;
  category: number;
  shortname: string;
  fullname: string;
  idnumber: string;
  contextid: number;
  path: string;
}

/** `missing`: no course has that value (as opposed to an empty, malformed or ambiguous one). */
export type Lookup = { course: CourseRow } | { error: string; missing: boolean };

const COLUMNS: Record<string, string> = { id: 'c.id', idnumber: 'c.idnumber', shortname: 'c.shortname' };

/** The identifier setting's column (the original falls back to shortname when it is empty). */
export const courseIdentifier = (setting: string | undefined): string => (setting && COLUMNS[setting] ? setting : 'shortname');

/**
 * One course by id, idnumber or shortname (never the site course), or why not: the message names
 * the column the file gave (`what`), the value and the identifier used.
 */
export async function lookupCourse(conn: PoolConnection, db: MoodleDb, field: string, raw: string | undefined, what: string): Promise<Lookup> {
  const value = (raw ?? '').trim();
  if (!value) return { error: `${what}: empty (courses are found by ${field})`, missing: false };
  if (field === 'id' && !/^\d+$/.test(value)) return { error: `${what}: "${value}" is not a course id (courses are found by id)`, missing: false };
  const [rows] = await conn.query<RowDataPacket[]>(
    `SELECT c.id, c.category, c.shortname, c.fullname, c.idnumber, x.id AS contextid, x.path
       FROM ${db.t('course')} c JOIN ${db.t('context')} x ON x.contextlevel = ? AND x.instanceid = c.id
      WHERE ${COLUMNS[field]} = ? AND c.id <> 1 ORDER BY c.id LIMIT 2`, [CONTEXT_COURSE, value]);
  if (!rows.length) return { error: `${what}: no course with ${field} "${value}"`, missing: true };
  if (rows.length > 1) return { error: `${what}: more than one course has ${field} "${value}"`, missing: false };
  const r = rows[0];
  return {
    course: {
      id: Number(r.id), category: Number(r.category), shortname: String(r.shortname), fullname: String(r.fullname),
      idnumber: String(r.idnumber ?? ''), contextid: Number(r.contextid), path: String(r.path),
    },
  };
}

/** `SHORT (id 12)`: how report lines name a course. */
export const named = (c: CourseRow): string => `${c.shortname} (id ${c.id})`;
