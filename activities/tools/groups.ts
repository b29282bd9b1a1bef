import type { ChunkContext, DataRow, HeaderSpec, RowOutcome, Tool } from './types';
import type { CourseRef } from '../moodle/enrol';
import {
  assignGrouping, createGroup, createGrouping, updateInCourse, type GroupChanges, type GroupRecord, type GroupTable,
} from '../moodle/groups';
import { cell, findOneInCourse, groupField, groupingField, label, rowCourse, RowError } from './groupLookups';
import { membersOperation } from './groupMembers';
import { eachRow } from './eachRow';

/**
 * The groups tool (reference 5.6). Operation `groups`: one row creates, reuses or updates a group
 * or a grouping of a course, and links a group to groupings (`grouping`, and `selfgrouping`: a
 * grouping named after the group, which the group joins). With an `updateid` column, a row's
 * `updateid` names the group or grouping to change, in the row's course (groups_groupidentifier /
 * groups_groupingidentifier); columns the file lacks keep their stored values.
 */

const header: HeaderSpec = {
  required: ['courseid', 'name'],
  optional: ['type', 'idnumber', 'description', 'selfgrouping', 'grouping', 'updateid'],
};

/** Column sizes of groups / groupings (name 254 / 255, idnumber 100). */
const MAX = { groups: { name: 254, idnumber: 100 }, groupings: { name: 255, idnumber: 100 } };

type Kind = 'group' | 'grouping';
const TABLE: Record<Kind, GroupTable> = { group: 'groups', grouping: 'groupings' };

function rowKind(values: Record<string, string>): Kind {
  const type = cell(values, 'type').toLowerCase();
  if (type === '' || type === 'group') return 'group';
  if (type === 'grouping') return 'grouping';
  throw new RowError(`type: "${cell(values, 'type')}" is neither group nor grouping`);
}

function yesNo(values: Record<string, string>, column: string): boolean {
  const v = cell(values, column).toLowerCase();
  if (['', '0', 'no', 'false'].includes(v)) return false;
  if (['1', 'yes', 'true'].includes(v)) return true;
  throw new RowError(`${column}: "${cell(values, column)}" is not 0 or 1`);
}

/** idnumber is unique among a course's groups (and among its groupings), as groups_create_group/groups_update_group check. */
async function checkIdnumberFree(ctx: ChunkContext, table: GroupTable, course: CourseRef, idnumber: string | undefined, selfId: number | undefined, column: string): Promise<void> {
  if (!idnumber) return;
  const other = await findOneInCourse(ctx, table, course, 'idnumber', idnumber, column);
  if (other && other.id !== selfId) throw new RowError(`${column}: ${table === 'groups' ? 'group' : 'grouping'} ${label(other)} of ${course.shortname} already has idnumber "${idnumber}"`);
}

interface Target { record: GroupRecord; done: string }

/** Creates, reuses or updates the row's group or grouping. */
async function upsert(ctx: ChunkContext, kind: Kind, course: CourseRef, values: Record<string, string>): Promise<Target> {
  const table = TABLE[kind];
  const has = (c: string) => ctx.header.includes(c);
  const wanted: GroupChanges = { name: cell(values, 'name') };
  if (has('idnumber')) wanted.idnumber = cell(values, 'idnumber');
  if (has('description')) wanted.description = cell(values, 'description');
  if (!wanted.name) throw new RowError(`name: empty; a ${kind} needs a name`);
  for (const col of ['name', 'idnumber'] as const) {
    const len = [...(wanted[col] ?? '')].length;
    if (len > MAX[table][col]) throw new RowError(`${col}: ${len} characters; a ${kind} ${col} has at most ${MAX[table][col]}`);
  }
  const updateid = cell(values, 'updateid');
  const where = course.shortname;
  let current: GroupRecord | undefined;
  let byKey: string;
  if (updateid) {
    const field = kind === 'group' ? groupField(ctx.settings) : groupingField(ctx.settings);
    current = await findOneInCourse(ctx, table, course, field, updateid, 'updateid');
    byKey = `${field} "${updateid}"`;
    if (current) {
      await checkIdnumberFree(ctx, table, course, wanted.idnumber, current.id, 'idnumber');
      const changed = await updateInCourse(ctx.conn, ctx.db, table, current, wanted, ctx.now);
      const record = { ...current, ...wanted };
      return { record, done: `${kind} ${label(current)} of ${where} ${changed.length ? `updated (${changed.join(', ')})` : 'unchanged'}` };
    }
    // A new one keeps the key it was looked for by, so the next update finds it.
    if (field === 'idnumber' && wanted.idnumber === undefined) wanted.idnumber = updateid;
  } else {
    current = wanted.idnumber
      ? await findOneInCourse(ctx, table, course, 'idnumber', wanted.idnumber, 'idnumber')
      : await findOneInCourse(ctx, table, course, 'name', wanted.name!, 'name');
    byKey = '';
    if (current) return { record: current, done: `${kind} ${label(current)} already in ${where}, kept as it is` };
  }
  await checkIdnumberFree(ctx, table, course, wanted.idnumber, undefined, 'idnumber');
  const fields = { courseid: course.id, name: wanted.name!, idnumber: wanted.idnumber ?? '', description: wanted.description ?? '' };
  // The original's group rows carry descriptionformat 0 (plain Moodle text); groupings are HTML (1).
  const id = kind === 'group'
    ? await createGroup(ctx.conn, ctx.db, { ...fields, descriptionformat: 0 }, ctx.now)
    : await createGrouping(ctx.conn, ctx.db, fields, ctx.now);
  return { record: { id, ...fields }, done: `${kind} ${label(fields)} created in ${where}${byKey ? ` (none had ${byKey})` : ''}` };
}

/** `selfgrouping` and `grouping`: the groupings a group row's group joins. */
async function linkGroupings(ctx: ChunkContext, course: CourseRef, group: GroupRecord, values: Record<string, string>): Promise<string[]> {
  const notes: string[] = [];
  const join = async (grouping: GroupRecord, created: boolean) => {
    const linked = await assignGrouping(ctx.conn, ctx.db, grouping.id, group.id, ctx.now);
    notes.push(`${linked ? 'added to' : 'already in'} grouping ${label(grouping)}${created ? ' (created)' : ''}`);
  };
  if (yesNo(values, 'selfgrouping')) {
    let own = await findOneInCourse(ctx, 'groupings', course, 'name', group.name, 'selfgrouping');
    const created = !own;
    if (!own) {
      await checkIdnumberFree(ctx, 'groupings', course, group.idnumber, undefined, 'selfgrouping');
      const fields = { courseid: course.id, name: group.name, idnumber: group.idnumber, description: group.description ?? '' };
      own = { id: await createGrouping(ctx.conn, ctx.db, fields, ctx.now), ...fields };
    }
    await join(own, created);
  }
  const key = cell(values, 'grouping');
  if (key) {
    const grouping = await findOneInCourse(ctx, 'groupings', course, 'idnumber', key, 'grouping');
    if (!grouping) throw new RowError(`grouping: no grouping with idnumber "${key}" in ${course.shortname}`);
    await join(grouping, false);
  }
  return notes;
}

async function applyGroups(ctx: ChunkContext, rows: DataRow[]): Promise<RowOutcome[]> {
  return eachRow(ctx, rows, 'msync_groups_row', RowError, async (row) => {
    const kind = rowKind(row.values);
    const course = await rowCourse(ctx, row.values);
    const target = await upsert(ctx, kind, course, row.values);
    const notes = kind === 'group' ? await linkGroupings(ctx, course, target.record, row.values) : [];
    return { status: 'applied', message: [target.done, ...notes].join('; ') };
  });
}

export const groupsTool: Tool = {
  name: 'groups',
  defaultOp: 'groups',
  // Decision 19: groups, then members.
  syncAll: ['groups', 'members'],
  operations: [
    {
      tool: 'groups', op: 'groups', summary: 'create or update groups and groupings of courses, and put groups in groupings',
      locationSetting: 'groups_filelocation', header, chunkSize: 500, apply: applyGroups,
    },
    membersOperation,
  ],
};
