import type { RowDataPacket } from 'mysql2/promise';
import type { ChunkContext } from './types';
import {
  addCohortMember, addGroupMember, assignRole, enrolUser, findCourse, findEnrolInstance, findOrCreateCohort,
  findOrCreateGroup, findRole, hasRoleInContext,
} from '../moodle/enrol';
import { parseMoodleTime, siteTimeZone } from '../moodle/time';
import { syncMetaChildren } from '../moodle/meta';
import { instancesOfCohort, readCohortEnrolSite } from '../moodle/cohorts';
import { syncCohortEnrolments } from '../moodle/cohortSync';

/**
 * The users file's course<N>/role<N>/enrol<N>/group<N>/start<N>/end<N> columns (reference 5.2.2,
 * every N, each with its own enrol<N>) and its cohort/cohortid columns (5.2.3).
 */

export const ENROLMENT_COLUMN = /^(course|group|role|enrol|start|end|wwwroot)(\d+)$/;

export interface Extras { done: string[]; errors: string[] }

let zoneCache: { db: unknown; tz: string } | undefined;
export async function timeZone(ctx: ChunkContext): Promise<string> {
  if (zoneCache?.db === ctx.db) return zoneCache.tz;
  const [rows] = await ctx.conn.query<RowDataPacket[]>(`SELECT name, value FROM ${ctx.db.t('config')} WHERE name IN ('timezone', 'forcetimezone')`);
  const tz = siteTimeZone(Object.fromEntries(rows.map((r) => [r.name, String(r.value)])));
  zoneCache = { db: ctx.db, tz };
  return tz;
}

/** The N of every course<N> column, in order. */
export function enrolmentIndexes(header: string[]): number[] {
  return header.map((h) => /^course(\d+)$/.exec(h)?.[1]).filter((n): n is string => !!n).map(Number).sort((a, b) => a - b);
}

export async function applyEnrolmentColumns(ctx: ChunkContext, userid: number, values: Record<string, string>, sessionTimeout: number): Promise<Extras> {
  const out: Extras = { done: [], errors: [] };
  const touched: number[] = [];
  const identifier = ctx.settings.courses_primaryidentity || 'shortname';
  for (const n of enrolmentIndexes(ctx.header)) {
    const courseKey = values[`course${n}`]?.trim();
    if (!courseKey) continue;
    const col = (name: string) => values[`${name}${n}`]?.trim() ?? '';
    if (col('wwwroot')) { out.errors.push(`wwwroot${n}: enrolment on remote hosts (MNET) is not supported`); continue; }
    const course = await findCourse(ctx.conn, ctx.db, identifier, courseKey);
    if (!course) { out.errors.push(`course${n}: no course with ${identifier} "${courseKey}"`); continue; }
    const roleName = col('role');
    const plugin = col('enrol');
    const roleid = roleName ? await findRole(ctx.conn, ctx.db, roleName) : undefined;
    if (roleName && !roleid) { out.errors.push(`role${n}: no role "${roleName}"`); continue; }
    const tz = await timeZone(ctx);
    const times: (number | undefined)[] = [];
    let bad = false;
    for (const name of ['start', 'end']) {
      const raw = col(name);
      if (!raw) { times.push(undefined); continue; }
      const t = parseMoodleTime(raw, tz);
      if (!t.ok) { out.errors.push(`${name}${n}: ${t.reason}`); bad = true; break; }
      times.push(t.value);
    }
    if (bad) continue;
    if (plugin) {
      const instance = await findEnrolInstance(ctx.conn, ctx.db, course.id, plugin);
      if (!instance) { out.errors.push(`enrol${n}: course ${course.shortname} has no enabled "${plugin}" enrolment`); continue; }
      const student = roleid ?? (await findRole(ctx.conn, ctx.db, 'student'));
      const r = await enrolUser(ctx.conn, ctx.db, instance.id, course, userid, student, times[0], times[1], ctx.now, sessionTimeout);
      out.done.push(`${r === 'unchanged' ? 'already enrolled' : r} in ${course.shortname} (${plugin}${roleName ? `, ${roleName}` : ''})`);
    } else if (roleid) {
      const assigned = await assignRole(ctx.conn, ctx.db, roleid, course.contextid, userid, ctx.now, sessionTimeout);
      out.done.push(`${assigned ? 'role' : 'already has role'} ${roleName} in ${course.shortname}`);
    } else {
      out.errors.push(`course${n}: neither role${n} nor enrol${n} says what to do in ${course.shortname}`);
      continue;
    }
    touched.push(course.id);
    const groupName = col('group');
    if (groupName) {
      if (!(await hasRoleInContext(ctx.conn, ctx.db, course.contextid, userid))) { out.errors.push(`group${n}: not added to "${groupName}": no role in ${course.shortname}`); continue; }
      const group = await findOrCreateGroup(ctx.conn, ctx.db, course.id, groupName, ctx.now);
      const added = await addGroupMember(ctx.conn, ctx.db, group.id, userid, ctx.now);
      out.done.push(`${added ? 'added to' : 'already in'} group "${groupName}"${group.created ? ' (created)' : ''}`);
    }
  }
  await syncMetaChildren(ctx.conn, ctx.db, touched, ctx.now);
  return out;
}

export async function applyCohortColumns(ctx: ChunkContext, userid: number, values: Record<string, string>): Promise<Extras> {
  const name = values.cohort?.trim();
  if (!name) return { done: [], errors: [] };
  const cohort = await findOrCreateCohort(ctx.conn, ctx.db, name, values.cohortid?.trim(), ctx.now);
  const added = await addCohortMember(ctx.conn, ctx.db, cohort.id, userid, ctx.now);
  const done = [`${added ? 'added to' : 'already in'} cohort "${name}"${cohort.created ? ' (created)' : ''}`];
  // enrol_cohort's observer: a new member is enrolled at once in the courses bound to the cohort (with the same events).
  const instances = added ? await instancesOfCohort(ctx.conn, ctx.db, cohort.id) : [];
  if (instances.length) {
    await syncCohortEnrolments(ctx.conn, ctx.db, instances, await readCohortEnrolSite(ctx.conn, ctx.db), ctx.now, [userid]);
    done.push(`enrolled through the cohort in ${instances.map((i) => i.course.shortname).join(', ')}`);
  }
  return { done, errors: [] };
}
