import type { RowDataPacket } from 'mysql2/promise';
import type { ChunkContext, DataRow, HeaderSpec, RowOutcome, ToolOperation } from './types';
import { findCourse } from '../moodle/enrol';
import {
  COHORT_ENROL, createCohortGroup, createCohortInstance, findBindings, instanceById, readCohortEnrolSite, updateCohortInstance,
  type CohortEnrolSite, type CohortInstance,
} from '../moodle/cohorts';
import { addCounts, deleteCohortInstance, syncCohortEnrolments, type SyncCounts } from '../moodle/cohortSync';
import { parseMoodleTime } from '../moodle/time';
import { timeZone } from './userEnrolments';
import { RowError, cohortField, cohortLabel, describeInstanceSync, eachRow, lookupCohort } from './cohortCommon';

/**
 * The cohort to course bindings file (reference 5.5.2 with the fixes it lists): each row adds,
 * disables (del), re-enables (restore) or deletes (fulldel) the cohort enrolment of a cohort in a
 * course, then brings that enrolment's users, roles and group in step as enrol_cohort_sync does.
 */

const COMMANDS = ['add', 'del', 'restore', 'fulldel'] as const;
type Command = (typeof COMMANDS)[number];

const header: HeaderSpec = {
  required: ['cohort', 'course'],
  optional: ['cmd', 'role', 'enrol', 'makegroup', 'enrolstart', 'enrolend'],
};

/** Role id -> shortname, for messages. */
export async function roleNames(ctx: ChunkContext): Promise<Map<number, string>> {
  const [rows] = await ctx.conn.query<RowDataPacket[]>(`SELECT id, shortname FROM ${ctx.db.t('role')}`);
  return new Map(rows.map((r) => [Number(r.id), String(r.shortname)]));
}

interface Chunk { ctx: ChunkContext; site: CohortEnrolSite; roles: Map<number, string>; tz: string }

/** The role column: empty means student, `*` every role (undefined), else by cohorts_roleidentifier. */
function resolveRole(c: Chunk, raw: string, cmd: Command): number | undefined {
  if (raw === '*') {
    if (cmd === 'add') throw new RowError('role: "*" (every role) only applies to del, restore and fulldel; add needs one role');
    return undefined;
  }
  const byShortname = (name: string) => [...c.roles].find(([, shortname]) => shortname === name)?.[0];
  if (!raw) {
    const student = byShortname('student');
    if (student === undefined) throw new RowError('role: empty means student, and this site has no role "student"');
    return student;
  }
  if (c.ctx.settings.cohorts_roleidentifier === 'id') {
    if (!/^\d+$/.test(raw) || !c.roles.has(Number(raw))) throw new RowError(`role: no role with id "${raw}" (cohorts_roleidentifier is id)`);
    return Number(raw);
  }
  const id = byShortname(raw);
  if (id === undefined) throw new RowError(`role: no role with shortname "${raw}"`);
  return id;
}

function parseDate(c: Chunk, col: string, raw: string): number | undefined {
  if (!raw) return undefined;
  const t = parseMoodleTime(raw, c.tz);
  if (!t.ok) throw new RowError(`${col}: ${t.reason}`);
  return t.value;
}

function parseMakegroup(raw: string): boolean {
  const v = raw.toLowerCase();
  if (['', '0', 'no', 'false'].includes(v)) return false;
  if (['1', 'yes', 'true'].includes(v)) return true;
  throw new RowError(`makegroup: "${raw}" is not a yes/no value; use 1 to create a group named after the cohort, 0 or empty for none`);
}

async function addBinding(c: Chunk, courseid: number, cohort: { id: number; name: string }, roleid: number, v: (col: string) => string): Promise<{ inst: CohortInstance; notes: string[] }> {
  if (!c.site.enabled) throw new RowError('cmd: add: the cohort enrolment method is disabled on this site (enrol_plugins_enabled)');
  const start = parseDate(c, 'enrolstart', v('enrolstart'));
  const end = parseDate(c, 'enrolend', v('enrolend'));
  if (start !== undefined && end !== undefined && end !== 0 && end < start) throw new RowError(`enrolend: "${v('enrolend')}" is before enrolstart "${v('enrolstart')}"`);
  const makegroup = parseMakegroup(v('makegroup'));
  const { ctx } = c;
  const notes: string[] = [];
  const makeGroup = async () => {
    const g = await createCohortGroup(ctx.conn, ctx.db, courseid, cohort.name, ctx.now);
    notes.push(`group "${g.name}" created`);
    return g.id;
  };
  const [existing] = await findBindings(ctx.conn, ctx.db, courseid, cohort.id, roleid);
  if (!existing) {
    const groupid = makegroup ? await makeGroup() : 0;
    const id = await createCohortInstance(ctx.conn, ctx.db, { courseid, cohortid: cohort.id, roleid, groupid, enrolstartdate: start ?? 0, enrolenddate: end ?? 0 }, ctx.now);
    notes.unshift(`binding created (enrol instance ${id})`);
    return { inst: await instanceById(ctx.conn, ctx.db, id), notes };
  }
  const changed = await updateCohortInstance(ctx.conn, ctx.db, existing, {
    status: 0, enrolstartdate: start, enrolenddate: end, groupid: makegroup && existing.groupid <= 0 ? await makeGroup() : undefined,
  }, ctx.now, c.site.sessionTimeout);
  notes.unshift(changed.length ? `binding (enrol instance ${existing.id}) updated: ${changed.map((k) => (k === 'status' ? 're-enabled' : k)).join(', ')}` : `binding exists (enrol instance ${existing.id})`);
  return { inst: existing, notes };
}

async function applyRow(c: Chunk, row: DataRow): Promise<RowOutcome> {
  const v = (col: string) => (row.values[col] ?? '').trim();
  const { ctx } = c;
  const cmd = (v('cmd').toLowerCase() || 'add') as Command;
  if (!COMMANDS.includes(cmd)) throw new RowError(`cmd: "${v('cmd')}" is not a command; use ${COMMANDS.join(', ')}`);
  const enrol = v('enrol') || COHORT_ENROL;
  if (enrol !== COHORT_ENROL) throw new RowError(`enrol: "${enrol}" is not supported; cohorts are bound with the "cohort" enrolment method`);
  const roleid = resolveRole(c, v('role'), cmd);

  const courseField = ctx.settings.cohorts_courseidentifier || 'idnumber';
  if (!v('course')) throw new RowError(`course: empty (courses are found by ${courseField})`);
  const course = await findCourse(ctx.conn, ctx.db, courseField, v('course'));
  if (!course) throw new RowError(`course: no course with ${courseField} "${v('course')}"`);
  if (!v('cohort')) throw new RowError(`cohort: empty (cohorts are found by ${cohortField(ctx.settings)})`);
  const cohort = await lookupCohort(ctx, 'cohort', v('cohort'));
  if (!cohort) throw new RowError(`cohort: no cohort with ${cohortField(ctx.settings)} "${v('cohort')}"`);

  const roleLabel = roleid === undefined ? 'every role' : c.roles.get(roleid);
  const what = `${cmd} cohort ${cohortLabel(cohort)} in ${course.shortname} as ${roleLabel}`;
  let touched: CohortInstance[];
  const notes: string[] = [];
  // add_instance, update_instance and update_status each sync the instance they wrote at once.
  const counts = new Map<number, SyncCounts>();
  const sync = async (inst: CohortInstance) => addCounts(counts, await syncCohortEnrolments(ctx.conn, ctx.db, [inst], c.site, ctx.now));
  if (cmd === 'add') {
    const r = await addBinding(c, course.id, cohort, roleid!, v);
    touched = [r.inst];
    notes.push(...r.notes);
    await sync(r.inst);
  } else {
    touched = await findBindings(ctx.conn, ctx.db, course.id, cohort.id, roleid);
    if (!touched.length) return { status: 'applied', message: `${what}: no such binding, nothing to do` };
    if (cmd === 'fulldel') {
      for (const inst of touched) {
        const n = await deleteCohortInstance(ctx.conn, ctx.db, inst, c.site, ctx.now);
        notes.push(`binding (enrol instance ${inst.id}, ${c.roles.get(inst.roleid)}) deleted, ${n} unenrolled`);
      }
      return { status: 'applied', message: `${what}: ${notes.join('; ')}` };
    }
    const status = cmd === 'del' ? 1 : 0;
    for (const inst of touched) {
      const changed = await updateCohortInstance(ctx.conn, ctx.db, inst, { status }, ctx.now, c.site.sessionTimeout);
      notes.push(`binding (enrol instance ${inst.id}, ${c.roles.get(inst.roleid)}) ${changed.length ? (status ? 'disabled' : 're-enabled') : `already ${status ? 'disabled' : 'enabled'}`}`);
      await sync(inst);
    }
  }
  const synced = touched.map((i) => (touched.length > 1 ? `${c.roles.get(i.roleid)}: ` : '') + describeInstanceSync(counts.get(i.id)));
  return { status: 'applied', message: `${what}: ${notes.join('; ')}; ${synced.join('; ')}` };
}

async function applyBindings(ctx: ChunkContext, rows: DataRow[]): Promise<RowOutcome[]> {
  const c: Chunk = { ctx, site: await readCohortEnrolSite(ctx.conn, ctx.db), roles: await roleNames(ctx), tz: await timeZone(ctx) };
  return eachRow(ctx, rows, 'msync_cohort_bindings_row', (row) => applyRow(c, row));
}

export const bindingsOperation: ToolOperation = {
  tool: 'cohorts',
  op: 'bindings',
  summary: 'bind cohorts to courses (cohort enrolment method) and bring their enrolments in step',
  locationSetting: 'cohorts_coursebindingfilelocation',
  header,
  chunkSize: 200,
  apply: applyBindings,
};
