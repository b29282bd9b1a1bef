import type { ChunkContext, DataRow, HeaderSpec, RowOutcome, Tool } from './types';
import {
  addGroupMember, assignRole, enableEnrolInstance, enrolUser, findGroup, findOrCreateGroup,
  hasRoleInContext, removeGroupMemberships, setUserEnrolmentStatus, unassignRoles, unenrolUser,
  type CourseRef, type EnrolInstance,
} from '../moodle/enrol';
import { readUserSiteConfig } from '../moodle/users';
import { deferMark, rollbackDeferred, withDeferredWrites } from '../moodle/deferred';
import { parseMoodleTime } from '../moodle/time';
import { timeZone } from './userEnrolments';
import { EnrolLookups } from './enrolsLookups';
import { addEnrolments } from './enrolsBatch';
import { syncMetaChildren } from '../moodle/meta';
import { RowError } from './rowError';
import { identityKey } from '../moodle/collation';

/**
 * The enrolments tool (reference 5.3 under the spec's decisions 9-12): one row enrols, unenrols,
 * shifts, suspends or reactivates a user in a course (or assigns/removes a plain course role when
 * the file has no `enrol` column), then applies its group command.
 */

const COMMANDS = ['add', 'del', 'delete', 'shift', 'enable', 'disable'] as const;
type Command = 'add' | 'del' | 'shift' | 'enable' | 'disable';
const GROUP_COMMANDS = ['gadd', 'gaddcreate', 'greplace', 'greplacecreate', 'gdel'] as const;
const GROUP_COLUMNS = Array.from({ length: 9 }, (_, i) => `g${i + 1}`);
/** Component of the group memberships the tool owns (enrols_protectgroups). */
const OWN_COMPONENT = 'tool_sync';

const header: HeaderSpec = {
  required: ['rolename', 'cid', 'uid'],
  optional: ['cmd', 'enrol', 'starttime', 'endtime', 'gcmd', ...GROUP_COLUMNS],
};


/** The row's user, as the chunk's lookups found it. */
function resolveUser(lk: EnrolLookups, value: string): { id: number; username: string } {
  const column = lk.userColumn;
  if (column === 'id' && !/^\d+$/.test(value)) throw new RowError(`uid: "${value}" is not a user id`);
  const user = lk.user(value);
  if (user === 'none') throw new RowError(`uid: no user with ${column} "${value}"`);
  if (user === 'many') throw new RowError(`uid: more than one user has ${column} "${value}"`);
  return user;
}

function parseTime(ctx: ChunkContext, tz: string, column: string, raw: string | undefined): number | undefined {
  const v = raw?.trim();
  if (!v) return undefined;
  const t = parseMoodleTime(v, tz);
  if (!t.ok) throw new RowError(`${column}: ${t.reason}`);
  return t.value;
}

export interface RowPlan {
  cmd: Command;
  /** undefined: the file has no enrol column (role assignment only). */
  plugin?: string;
  roleName: string;
  roleid?: number;
  course: CourseRef;
  user: { id: number; username: string };
  start?: number;
  end?: number;
  gcmd: string;
  groups: { col: string; name: string }[];
}

function plan(ctx: ChunkContext, lk: EnrolLookups, tz: string, values: Record<string, string>): RowPlan {
  const has = (c: string) => ctx.header.includes(c);
  const v = (c: string) => (values[c] ?? '').trim();
  let cmd: string = has('cmd') ? v('cmd').toLowerCase() : (ctx.settings.enrols_defaultcmd || 'add');
  if (!(COMMANDS as readonly string[]).includes(cmd)) {
    throw new RowError(`cmd: ${cmd === '' ? 'empty' : `"${v('cmd')}" is not a command`}; use ${COMMANDS.join(', ')}`);
  }
  if (cmd === 'delete') cmd = 'del';
  const gcmd = v('gcmd').toLowerCase();
  if (gcmd && !(GROUP_COMMANDS as readonly string[]).includes(gcmd)) throw new RowError(`gcmd: "${v('gcmd')}" is not a group command; use ${GROUP_COMMANDS.join(', ')}`);

  const uid = v('uid');
  if (!uid) throw new RowError(`uid: empty (users are found by ${lk.userColumn})`);
  const user = resolveUser(lk, uid);

  const cid = v('cid');
  if (!cid) throw new RowError(`cid: empty (courses are found by ${lk.courseColumn})`);
  const course = lk.course(cid);
  if (!course) throw new RowError(`cid: no course with ${lk.courseColumn} "${cid}"`);

  const roleName = v('rolename');
  const roleid = roleName ? lk.role(roleName) : undefined;
  if (roleName && roleid === undefined) throw new RowError(`rolename: no role "${roleName}"`);
  if (!roleName && (cmd === 'add' || cmd === 'shift')) throw new RowError(`rolename: empty; ${cmd} needs a role`);

  const start = parseTime(ctx, tz, 'starttime', values.starttime);
  const end = parseTime(ctx, tz, 'endtime', values.endtime);
  if (start !== undefined && end !== undefined && end !== 0 && end < start) throw new RowError(`endtime: "${v('endtime')}" is before starttime "${v('starttime')}"`);

  return {
    cmd: cmd as Command, plugin: has('enrol') ? (v('enrol') || 'manual') : undefined, roleName, roleid, course, user, start, end, gcmd,
    groups: GROUP_COLUMNS.map((col) => ({ col, name: v(col) })).filter((g) => g.name),
  };
}

/** The instance `add`/`shift` enrol with: the first enabled one, else (enrols_enableenrolondisabled) the first, enabled now. */
async function instanceToEnrol(ctx: ChunkContext, lk: EnrolLookups, p: RowPlan, plugin: string, sessionTimeout: number, notes: string[]): Promise<EnrolInstance> {
  const all = lk.instancesOf(p.course.id, plugin);
  const enabled = all.find((i) => i.status === 0);
  if (enabled) return enabled;
  if (all.length && ctx.settings.enrols_enableenrolondisabled === '1') {
    await enableEnrolInstance(ctx.conn, ctx.db, all[0], p.course, ctx.now, sessionTimeout);
    lk.markEnabled(p.course.id, all[0].id);
    notes.push(`enabled the disabled "${plugin}" enrolment of ${p.course.shortname}`);
    return { ...all[0], status: 0 };
  }
  throw new RowError(`enrol: course ${p.course.shortname} has no ${all.length ? 'enabled ' : ''}"${plugin}" enrolment instance`
    + (all.length ? ' (enrols_enableenrolondisabled is off)' : ''));
}

/** The report's words for an enrol_user outcome. */
export const enrolNote = (result: 'enrolled' | 'updated' | 'unchanged', p: RowPlan): string =>
  `${result === 'unchanged' ? 'already enrolled' : result} in ${p.course.shortname} (${p.plugin}, ${p.roleName})`;

async function applyCommand(ctx: ChunkContext, lk: EnrolLookups, p: RowPlan, sessionTimeout: number): Promise<string[]> {
  const notes: string[] = [];
  const where = p.course.shortname;
  switch (p.cmd) {
    case 'add':
    case 'shift': {
      if (p.cmd === 'shift') {
        const n = await unassignRoles(ctx.conn, ctx.db, p.course.contextid, p.user.id, ctx.now, sessionTimeout, { exceptRoleid: p.roleid, component: '' });
        notes.push(`${n} other role${n === 1 ? '' : 's'} removed in ${where}`);
      }
      if (p.plugin !== undefined) {
        const instance = await instanceToEnrol(ctx, lk, p, p.plugin, sessionTimeout, notes);
        notes.push(enrolNote(await enrolUser(ctx.conn, ctx.db, instance.id, p.course, p.user.id, p.roleid, p.start, p.end, ctx.now, sessionTimeout), p));
      } else {
        const assigned = await assignRole(ctx.conn, ctx.db, p.roleid!, p.course.contextid, p.user.id, ctx.now, sessionTimeout);
        notes.push(`${assigned ? 'role' : 'already has role'} ${p.roleName} in ${where}`);
      }
      break;
    }
    case 'del': {
      if (p.plugin !== undefined) {
        const instances = lk.instancesOf(p.course.id, p.plugin);
        if (!instances.length) throw new RowError(`enrol: course ${where} has no "${p.plugin}" enrolment instance`);
        let done = false;
        for (const instance of instances) done = (await unenrolUser(ctx.conn, ctx.db, instance, p.course, p.user.id, ctx.now, sessionTimeout)) || done;
        notes.push(done ? `unenrolled from ${where} (${p.plugin})` : `was not enrolled in ${where} (${p.plugin}): nothing to do`);
      } else if (p.roleid !== undefined) {
        const n = await unassignRoles(ctx.conn, ctx.db, p.course.contextid, p.user.id, ctx.now, sessionTimeout, { roleid: p.roleid, component: '', itemid: 0 });
        notes.push(n ? `role ${p.roleName} removed in ${where}` : `had no role ${p.roleName} in ${where}: nothing to do`);
      } else {
        const n = await unassignRoles(ctx.conn, ctx.db, p.course.contextid, p.user.id, ctx.now, sessionTimeout, { component: '', itemid: 0 });
        notes.push(`${n} role${n === 1 ? '' : 's'} removed in ${where}`);
      }
      break;
    }
    case 'enable':
    case 'disable': {
      const instances = lk.instancesOf(p.course.id, p.plugin);
      const status = p.cmd === 'enable' ? 0 : 1;
      const r = await setUserEnrolmentStatus(ctx.conn, ctx.db, instances.map((i) => i.id), p.user.id, status, p.start, p.end, ctx.now, sessionTimeout);
      const how = p.plugin !== undefined ? ` (${p.plugin})` : '';
      if (!r.found) throw new RowError(`cmd: cannot ${p.cmd}: user ${p.user.username} is not enrolled in ${where}${how}`);
      const verb = status ? 'suspended' : 'reactivated';
      notes.push(r.changed ? `enrolment in ${where}${how} ${verb}` : `enrolment in ${where}${how} already ${status ? 'suspended' : 'active'}`);
      break;
    }
  }
  return notes;
}

async function applyGroups(ctx: ChunkContext, p: RowPlan): Promise<string[]> {
  if (!p.gcmd) return [];
  const notes: string[] = [];
  const protect = ctx.settings.enrols_protectgroups === '1';
  const component = protect ? OWN_COMPONENT : '';
  const where = p.course.shortname;
  if (p.gcmd === 'gdel') {
    const ids: number[] = [];
    for (const { name } of p.groups) {
      const id = await findGroup(ctx.conn, ctx.db, p.course.id, name);
      if (id === undefined) notes.push(`no group "${name}" in ${where}`);
      else ids.push(id);
    }
    const left = await removeGroupMemberships(ctx.conn, ctx.db, p.course.id, p.user.id, ctx.now, { only: ids, component: protect ? OWN_COMPONENT : undefined });
    notes.push(`removed from ${left.length} group${left.length === 1 ? '' : 's'}${protect ? ' (tool_sync memberships only)' : ''}`);
    return notes;
  }
  const create = p.gcmd.endsWith('create');
  if (p.groups.length && !(await hasRoleInContext(ctx.conn, ctx.db, p.course.contextid, p.user.id))) {
    throw new RowError(`gcmd: ${p.gcmd}: user ${p.user.username} has no role in ${where}, so cannot join groups ${p.groups.map((g) => `"${g.name}"`).join(', ')}`);
  }
  const targets: { id: number; name: string; created: boolean }[] = [];
  for (const { col, name } of p.groups) {
    if (create) {
      const g = await findOrCreateGroup(ctx.conn, ctx.db, p.course.id, name, ctx.now);
      targets.push({ ...g, name });
    } else {
      const id = await findGroup(ctx.conn, ctx.db, p.course.id, name);
      if (id === undefined) throw new RowError(`${col}: no group "${name}" in ${where} (${p.gcmd.replace(/create$/, '')}create creates missing groups)`);
      targets.push({ id, name, created: false });
    }
  }
  if (p.gcmd.startsWith('greplace')) {
    const left = await removeGroupMemberships(ctx.conn, ctx.db, p.course.id, p.user.id, ctx.now, { except: targets.map((t) => t.id), component: protect ? OWN_COMPONENT : undefined });
    notes.push(`left ${left.length} other group${left.length === 1 ? '' : 's'}${protect ? ' (tool_sync memberships only)' : ''}`);
  }
  for (const t of targets) {
    const added = await addGroupMember(ctx.conn, ctx.db, t.id, p.user.id, ctx.now, component, 0);
    notes.push(`${added ? 'added to' : 'already in'} group "${t.name}"${t.created ? ' (created)' : ''}`);
  }
  return notes;
}

const rowMessage = (p: RowPlan, row: DataRow, notes: string[]) =>
  `${p.cmd} user ${p.user.username} (${(row.values.uid ?? '').trim()}): ${notes.join('; ')}`;

/**
 * A chunk: every row planned against one set of chunk-wide lookups; plain adds whose user and
 * course no other row of the chunk touches are written together (addEnrolments), every other row
 * on its own, in file order, under a savepoint. Cache flags and event log rows are written once at
 * the end (a rolled-back row's are dropped with it).
 */
async function applySync(ctx: ChunkContext, rows: DataRow[]): Promise<RowOutcome[]> {
  const site = await readUserSiteConfig(ctx.conn, ctx.db);
  const tz = await timeZone(ctx);
  return withDeferredWrites(ctx.conn, ctx.db, async () => {
    const lk = await EnrolLookups.load(ctx, rows, site.mnethostid);
    const out: RowOutcome[] = new Array(rows.length);
    const plans: (RowPlan | undefined)[] = rows.map((row, i) => {
      try {
        return plan(ctx, lk, tz, row.values);
      } catch (e) {
        if (!(e instanceof RowError)) throw e;
        out[i] = { status: 'failed', message: e.message };
        return undefined;
      }
    });
    const pairs = new Map<string, number>();
    const pairOf = (p: RowPlan) => `${p.user.id}:${p.course.id}`;
    for (const p of plans) if (p) pairs.set(pairOf(p), (pairs.get(pairOf(p)) ?? 0) + 1);
    const batched = plans.map((p) => {
      if (!p || p.cmd !== 'add' || p.plugin === undefined || p.gcmd || pairs.get(pairOf(p)) !== 1) return undefined;
      return lk.instancesOf(p.course.id, p.plugin).find((i) => i.status === 0);
    });
    const batch = plans.flatMap((p, i) => (p && batched[i] ? [{ i, p, instance: batched[i]! }] : []));
    const results = await addEnrolments(ctx, batch, site.sessionTimeout);
    batch.forEach(({ i, p }, k) => { out[i] = { status: 'applied', message: rowMessage(p, rows[i], [enrolNote(results[k], p)]) }; });
    for (let i = 0; i < rows.length; i++) {
      const p = plans[i];
      if (!p || batched[i]) continue;
      await ctx.conn.query('SAVEPOINT msync_enrols_row');
      const mark = deferMark(ctx.conn);
      const instances = lk.snapshot();
      try {
        const notes = [...(await applyCommand(ctx, lk, p, site.sessionTimeout)), ...(await applyGroups(ctx, p))];
        out[i] = { status: 'applied', message: rowMessage(p, rows[i], notes) };
      } catch (e) {
        if (!(e instanceof RowError)) throw e;
        await ctx.conn.query('ROLLBACK TO SAVEPOINT msync_enrols_row');
        rollbackDeferred(ctx.conn, mark);
        lk.restore(instances);
        out[i] = { status: 'failed', message: e.message };
      }
    }
    await syncMetaChildren(ctx.conn, ctx.db, plans.filter((p, i) => p && out[i].status === 'applied').map((p) => p!.course.id), ctx.now);
    return out;
  });
}

/**
 * Rows of different users run in parallel chunks: an `add` writes only its user's rows (enrolment,
 * role, dirty flag, meta children's enrolments). Whatever else may create or change something of
 * the course (groups, other commands, enabling a disabled instance) also keys the course.
 */
function enrolRowKeys(values: Record<string, string>, header: readonly string[], settings: Record<string, string>): string[] {
  const v = (c: string) => (values[c] ?? '').trim();
  const cmd = header.includes('cmd') ? v('cmd').toLowerCase() : (settings.enrols_defaultcmd || 'add');
  const user = `u:${identityKey(v('uid'))}`;
  const touchesCourse = cmd !== 'add' || v('gcmd') !== '' || settings.enrols_enableenrolondisabled === '1';
  return touchesCourse ? [user, `c:${identityKey(v('cid'))}`] : [user];
}

export const enrolsTool: Tool = {
  name: 'enrols',
  defaultOp: 'sync',
  syncAll: ['sync'],
  operations: [
    { tool: 'enrols', op: 'sync', summary: 'enrol, unenrol, shift, suspend or reactivate users in courses, and their groups', locationSetting: 'enrols_filelocation', header, chunkSize: 1000, apply: applySync,
      rowKeys: (rows, { header, settings }) => rows.map((values) => enrolRowKeys(values, header, settings)) },
  ],
};
