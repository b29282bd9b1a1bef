import type { RowDataPacket } from 'mysql2/promise';
import type { ChunkContext, DataRow } from './types';
import { CONTEXT_COURSE, type CourseRef, type EnrolInstance } from '../moodle/enrol';
import { matchKeys } from '../moodle/lookup';

/**
 * The users, courses, roles and enrol instances a chunk of enrolment rows names, each read with
 * one query for the whole chunk. Lookups answer as the per-row queries would (same collation,
 * same ambiguity rules).
 */

const USER_COLUMNS: Record<string, string> = { id: 'id', idnumber: 'idnumber', username: 'username', email: 'email' };
const COURSE_COLUMNS: Record<string, string> = { id: 'id', idnumber: 'idnumber', shortname: 'shortname' };

export type UserMatch = { id: number; username: string } | 'none' | 'many';

export class EnrolLookups {
  private instances = new Map<number, EnrolInstance[]>();

  private constructor(
    readonly userColumn: string,
    readonly courseColumn: string,
    private users: Map<string, RowDataPacket[]>,
    private courses: Map<string, RowDataPacket[]>,
    private roles: Map<string, RowDataPacket[]>,
  ) {}

  static async load(ctx: ChunkContext, rows: DataRow[], mnethostid: number): Promise<EnrolLookups> {
    const { conn, db } = ctx;
    const userColumn = USER_COLUMNS[ctx.settings.enrols_useridentifier || 'idnumber'] ?? 'idnumber';
    const courseColumn = COURSE_COLUMNS[ctx.settings.enrols_courseidentifier || 'shortname'] ?? 'shortname';
    const values = (col: string, valid: (v: string) => boolean = () => true) =>
      rows.map((r) => (r.values[col] ?? '').trim()).filter((v) => v && valid(v));
    const numeric = (v: string) => /^\d+$/.test(v);
    const users = await matchKeys(conn, values('uid', userColumn === 'id' ? numeric : undefined), (keys) =>
      `SELECT wanted.k, u.id, u.username FROM ${keys} JOIN ${db.t('user')} u ON u.\`${userColumn}\` = wanted.k AND u.deleted = 0 AND u.mnethostid = ? ORDER BY u.id`,
      [mnethostid]);
    const courses = await matchKeys(conn, values('cid', courseColumn === 'id' ? numeric : undefined), (keys) =>
      `SELECT wanted.k, c.id, c.shortname, x.id AS contextid FROM ${keys} JOIN ${db.t('course')} c ON c.\`${courseColumn}\` = wanted.k AND c.id <> 1
        JOIN ${db.t('context')} x ON x.contextlevel = ? AND x.instanceid = c.id`, [CONTEXT_COURSE]);
    const roles = await matchKeys(conn, values('rolename'), (keys) => `SELECT wanted.k, r.id FROM ${keys} JOIN ${db.t('role')} r ON r.shortname = wanted.k`);
    const lookups = new EnrolLookups(userColumn, courseColumn, users, courses, roles);
    const courseIds = [...courses.values()].filter((c) => c.length === 1).map((c) => Number(c[0].id));
    if (courseIds.length) {
      const [rowsOf] = await conn.query<RowDataPacket[]>(
        `SELECT id, roleid, status, enrol, courseid FROM ${db.t('enrol')} WHERE courseid IN (?) ORDER BY sortorder, id`, [courseIds]);
      for (const id of courseIds) lookups.instances.set(id, []);
      for (const r of rowsOf) lookups.instances.get(Number(r.courseid))!.push({ id: Number(r.id), roleid: Number(r.roleid), status: Number(r.status), enrol: String(r.enrol) });
    }
    return lookups;
  }

  user(value: string): UserMatch {
    const found = this.users.get(value) ?? [];
    if (!found.length) return 'none';
    if (found.length > 1) return 'many';
    return { id: Number(found[0].id), username: String(found[0].username) };
  }

  /** The course, unless none or several match (as findCourse). */
  course(value: string): CourseRef | undefined {
    const found = this.courses.get(value) ?? [];
    if (found.length !== 1) return undefined;
    return { id: Number(found[0].id), contextid: Number(found[0].contextid), shortname: String(found[0].shortname) };
  }

  role(shortname: string): number | undefined {
    const found = this.roles.get(shortname);
    return found?.length ? Number(found[0].id) : undefined;
  }

  /** Every instance of the plugin (or of every plugin) in the course, by sortorder, as the chunk sees them now. */
  instancesOf(courseid: number, plugin?: string): EnrolInstance[] {
    const all = this.instances.get(courseid) ?? [];
    return plugin === undefined ? all : all.filter((i) => i.enrol === plugin);
  }

  /** An instance the chunk enabled (status 0). */
  markEnabled(courseid: number, enrolid: number): void {
    this.instances.set(courseid, this.instancesOf(courseid).map((i) => (i.id === enrolid ? { ...i, status: 0 } : i)));
  }

  /** Keeps a rolled-back row's changes out of the chunk's view. */
  snapshot(): Map<number, EnrolInstance[]> {
    return new Map(this.instances);
  }

  restore(saved: Map<number, EnrolInstance[]>): void {
    this.instances = saved;
  }
}
