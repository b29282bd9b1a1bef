import type { ChunkContext } from './types';
import { findCourse, type CourseRef } from '../moodle/enrol';
import { findInCourse, type GroupField, type GroupRecord, type GroupTable } from '../moodle/groups';

/** What the groups files share: row faults, cells, and lookups by the configured identifiers (reference 5.6). */

import { RowError } from './rowError';
export { RowError };

/** Component of the group memberships moodle-sync owns; shift and del touch only those (spec decision 12). */
export const OWN_COMPONENT = 'tool_sync';

/** A group or grouping as reports name it: "name" (idnumber). */
export const label = (r: { name: string; idnumber?: string }): string => `"${r.name}"${r.idnumber ? ` (${r.idnumber})` : ''}`;

export const cell = (values: Record<string, string>, column: string): string => (values[column] ?? '').trim();

const COURSE_FIELDS = ['id', 'idnumber', 'shortname'] as const;
const GROUP_FIELDS: readonly GroupField[] = ['id', 'idnumber', 'name'];

/** An identifier setting's value, or `fallback` when it holds something that is not a choice (a saved-form leftover). */
function identifier<T extends string>(settings: Record<string, string>, key: string, accepted: readonly T[], fallback: T): T {
  const v = settings[key] as T;
  return accepted.includes(v) ? v : fallback;
}

export const courseField = (s: Record<string, string>) => identifier(s, 'groups_courseidentifier', COURSE_FIELDS, 'shortname');
export const groupField = (s: Record<string, string>) => identifier(s, 'groups_groupidentifier', GROUP_FIELDS, 'idnumber');
export const groupingField = (s: Record<string, string>) => identifier(s, 'groups_groupingidentifier', GROUP_FIELDS, 'idnumber');

/** The row's course (column `courseid`, by groups_courseidentifier); `memo` spares repeated lookups within a chunk. */
export async function rowCourse(ctx: ChunkContext, values: Record<string, string>, memo?: Map<string, CourseRef>): Promise<CourseRef> {
  const field = courseField(ctx.settings);
  const raw = cell(values, 'courseid');
  if (!raw) throw new RowError(`courseid: empty (courses are found by ${field})`);
  if (field === 'id' && !/^\d+$/.test(raw)) throw new RowError(`courseid: "${raw}" is not a course id`);
  const known = memo?.get(raw);
  if (known) return known;
  const course = await findCourse(ctx.conn, ctx.db, field, raw);
  if (!course) throw new RowError(`courseid: no course with ${field} "${raw}"`);
  memo?.set(raw, course);
  return course;
}

/**
 * The group (or grouping) of the course whose `field` is `value`, undefined when there is none;
 * a row error when the value cannot be an id or names several (names may repeat).
 */
export async function findOneInCourse(ctx: ChunkContext, table: GroupTable, course: CourseRef, field: GroupField, value: string, column: string): Promise<GroupRecord | undefined> {
  const noun = table === 'groups' ? 'group' : 'grouping';
  if (field === 'id' && !/^\d+$/.test(value)) throw new RowError(`${column}: "${value}" is not a ${noun} id`);
  const found = await findInCourse(ctx.conn, ctx.db, table, course.id, field, value);
  if (found.length > 1) throw new RowError(`${column}: more than one ${noun} of ${course.shortname} has ${field} "${value}"`);
  return found[0];
}
