import type { RowDataPacket } from 'mysql2/promise';
import type { ChunkContext, DataRow, HeaderSpec, RowOutcome, ToolOperation } from './types';
import { hasRoleInContext, type CourseRef } from '../moodle/enrol';
import {
  addGroupMember, deleteGroupings, deleteGroups, emptyGroupings, emptyGroups, findMembership, removeGroupMemberships, type GroupRecord,
} from '../moodle/groups';
import { readUserSiteConfig } from '../moodle/users';
import { withDeferredWrites } from '../moodle/deferred';
import { eachRow } from './eachRow';
import { cell, findOneInCourse, groupField, label, OWN_COMPONENT, rowCourse, RowError } from './groupLookups';

/**
 * The groups tool's `members` operation (reference 5.6.2 under spec decision 12): `add` puts a user
 * who holds a role in the course into a group (membership component tool_sync), `shift` first takes
 * the user out of the course's other groups, `del` takes the user out of the group; shift and del
 * touch only memberships moodle-sync made. After the file's rows, groups_purgeemptygroups deletes
 * the empty groups (2: and empty groupings) of the courses the file names, and only those.
 */

const header: HeaderSpec = {
  // The original declares courseid optional but cannot work without it.
  required: ['courseid', 'groupid', 'userid'],
  optional: ['cmd'],
};

const COMMANDS = ['add', 'shift', 'del'] as const;
type Command = (typeof COMMANDS)[number];

const USER_COLUMNS: Record<string, string> = { id: 'id', idnumber: 'idnumber', username: 'username', email: 'email' };

/** Lookups a chunk repeats (courses, groups, users): the members file creates none of them, so they hold for the chunk. */
class ChunkLookups {
  courses = new Map<string, CourseRef>();
  private groups = new Map<string, GroupRecord>();
  private users = new Map<string, { id: number; username: string }>();
  private mnethostid?: number;

  constructor(private ctx: ChunkContext) {}

  async group(course: CourseRef, raw: string): Promise<GroupRecord> {
    const field = groupField(this.ctx.settings);
    if (!raw) throw new RowError(`groupid: empty (groups are found by ${field})`);
    const key = `${course.id}\u0000${raw}`;
    let g = this.groups.get(key);
    if (!g) {
      g = await findOneInCourse(this.ctx, 'groups', course, field, raw, 'groupid');
      if (!g) throw new RowError(`groupid: no group with ${field} "${raw}" in ${course.shortname}`);
      this.groups.set(key, g);
    }
    return g;
  }

  async user(raw: string): Promise<{ id: number; username: string }> {
    const field = USER_COLUMNS[this.ctx.settings.groups_useridentifier] ?? 'username';
    if (!raw) throw new RowError(`userid: empty (users are found by ${field})`);
    if (field === 'id' && !/^\d+$/.test(raw)) throw new RowError(`userid: "${raw}" is not a user id`);
    const known = this.users.get(raw);
    if (known) return known;
    this.mnethostid ??= (await readUserSiteConfig(this.ctx.conn, this.ctx.db)).mnethostid;
    const [rows] = await this.ctx.conn.query<RowDataPacket[]>(
      `SELECT id, username FROM ${this.ctx.db.t('user')} WHERE \`${field}\` = ? AND deleted = 0 AND mnethostid = ? ORDER BY id LIMIT 2`, [raw, this.mnethostid]);
    if (!rows.length) throw new RowError(`userid: no user with ${field} "${raw}"`);
    if (rows.length > 1) throw new RowError(`userid: more than one user has ${field} "${raw}"`);
    const user = { id: Number(rows[0].id), username: String(rows[0].username) };
    this.users.set(raw, user);
    return user;
  }
}

function rowCommand(values: Record<string, string>): Command {
  const cmd = cell(values, 'cmd').toLowerCase();
  if (cmd === '') return 'add';
  if (!(COMMANDS as readonly string[]).includes(cmd)) throw new RowError(`cmd: "${cell(values, 'cmd')}" is not a command; use ${COMMANDS.join(', ')}`);
  return cmd as Command;
}

async function applyRow(ctx: ChunkContext, look: ChunkLookups, values: Record<string, string>): Promise<RowOutcome> {
  const cmd = rowCommand(values);
  const course = await rowCourse(ctx, values, look.courses);
  const group = await look.group(course, cell(values, 'groupid'));
  const user = await look.user(cell(values, 'userid'));
  const where = `group "${group.name}" of ${course.shortname}`;
  const head = `${cmd} user ${user.username}`;
  if (cmd === 'del') {
    const member = await findMembership(ctx.conn, ctx.db, group.id, user.id);
    if (!member) return { status: 'applied', message: `${head}: was not in ${where}: nothing to do` };
    if (member.component !== OWN_COMPONENT) {
      return { status: 'skipped', message: `${head}: kept in ${where}: the membership is not moodle-sync's (component "${member.component}")` };
    }
    await removeGroupMemberships(ctx.conn, ctx.db, course.id, user.id, ctx.now, { only: [group.id], component: OWN_COMPONENT });
    return { status: 'applied', message: `${head}: removed from ${where}` };
  }
  if (!(await hasRoleInContext(ctx.conn, ctx.db, course.contextid, user.id))) {
    throw new RowError(`userid: user ${user.username} has no role in ${course.shortname}, so cannot join group "${group.name}"`);
  }
  const notes: string[] = [];
  if (cmd === 'shift') {
    const left = await removeGroupMemberships(ctx.conn, ctx.db, course.id, user.id, ctx.now, { except: [group.id], component: OWN_COMPONENT });
    notes.push(`left ${left.length} other group${left.length === 1 ? '' : 's'} of ${course.shortname}`);
  }
  const added = await addGroupMember(ctx.conn, ctx.db, group.id, user.id, ctx.now, OWN_COMPONENT, 0);
  notes.push(`${added ? 'added to' : 'already in'} ${where}`);
  return { status: 'applied', message: `${head}: ${notes.join('; ')}` };
}

async function applyMembers(ctx: ChunkContext, rows: DataRow[]): Promise<RowOutcome[]> {
  const look = new ChunkLookups(ctx);
  return eachRow(ctx, rows, 'msync_members_row', RowError, (row) => applyRow(ctx, look, row.values));
}

/** groups_purgeemptygroups, after the file's rows: empty groups (2: and then empty groupings) of the courses the file names. */
async function purgeEmpty(ctx: ChunkContext, fileRows: () => AsyncIterable<DataRow>): Promise<string[]> {
  const mode = ctx.settings.groups_purgeemptygroups;
  if (mode !== '1' && mode !== '2') return [];
  return withDeferredWrites(ctx.conn, ctx.db, () => purgeEmptyOf(ctx, mode, fileRows));
}

async function purgeEmptyOf(ctx: ChunkContext, mode: '1' | '2', fileRows: () => AsyncIterable<DataRow>): Promise<string[]> {
  const courses = new Map<string, CourseRef>();
  for await (const row of fileRows()) {
    await rowCourse(ctx, row.values, courses).catch((e) => { if (!(e instanceof RowError)) throw e; });
  }
  const byId = new Map([...courses.values()].map((c) => [c.id, c]));
  const ids = [...byId.keys()];
  const notes: string[] = [];
  const groups = await emptyGroups(ctx.conn, ctx.db, ids);
  await deleteGroups(ctx.conn, ctx.db, groups.map((g) => g.id), ctx.now);
  for (const g of groups) notes.push(`empty group ${label(g)} of ${byId.get(g.courseid)!.shortname} deleted`);
  if (mode === '2') {
    const groupings = await emptyGroupings(ctx.conn, ctx.db, ids);
    await deleteGroupings(ctx.conn, ctx.db, groupings.map((g) => g.id), ctx.now);
    for (const g of groupings) notes.push(`empty grouping ${label(g)} of ${byId.get(g.courseid)!.shortname} deleted`);
  }
  const names = [...byId.values()].map((c) => c.shortname).join(', ') || 'none';
  notes.push(`purge of empty groups${mode === '2' ? ' and groupings' : ''} in the courses the file names (${names}): ${notes.length} deleted`);
  return notes;
}

export const membersOperation: ToolOperation = {
  tool: 'groups', op: 'members', summary: 'add, shift or remove users in course groups; optionally purge empty groups of those courses',
  locationSetting: 'groupmembers_filelocation', header, chunkSize: 1000, apply: applyMembers, afterRows: purgeEmpty,
};
