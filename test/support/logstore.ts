/**
 * logstore_standard_log rows as Moodle 5.1 writes them, for tests that compare every column and
 * the order: the static properties of each event class (its init(): objecttable, crud, edulevel;
 * target and action from its name), the acting admin (2), from the CLI, no IP, nobody logged in as.
 */
import assert from 'node:assert/strict';
import type mysql from 'mysql2/promise';
import { rows } from './moodle';

/** [objecttable, crud, edulevel] of the core events the course tests meet. */
const CLASSES: Record<string, [string | null, string, number]> = {
  course_category_created: ['course_categories', 'c', 0],
  course_created: ['course', 'c', 1],
  course_updated: ['course', 'u', 1],
  course_deleted: ['course', 'd', 1],
  course_content_deleted: ['course', 'd', 1],
  course_section_created: ['course_sections', 'c', 1],
  course_section_updated: ['course_sections', 'u', 1],
  enrol_instance_created: ['enrol', 'c', 0],
  enrol_instance_updated: ['enrol', 'u', 0],
  enrol_instance_deleted: ['enrol', 'd', 0],
  user_enrolment_created: ['user_enrolments', 'c', 0],
  user_enrolment_updated: ['user_enrolments', 'u', 0],
  user_enrolment_deleted: ['user_enrolments', 'd', 0],
  role_assigned: ['role', 'c', 0],
  role_unassigned: ['role', 'd', 0],
  group_member_removed: ['groups', 'd', 0],
  group_deleted: ['groups', 'd', 0],
  grouping_deleted: ['groupings', 'd', 0],
  grade_item_created: ['grade_items', 'c', 0],
  grade_item_deleted: ['grade_items', 'd', 0],
  config_log_created: ['config_log', 'c', 0],
  cohort_created: ['cohort', 'c', 0],
  cohort_updated: ['cohort', 'u', 0],
  cohort_deleted: ['cohort', 'd', 0],
  cohort_member_added: ['cohort', 'c', 0],
  cohort_member_removed: ['cohort', 'd', 0],
  group_created: ['groups', 'c', 0],
  group_updated: ['groups', 'u', 0],
  group_member_added: ['groups', 'c', 0],
  grouping_created: ['groupings', 'c', 0],
  grouping_updated: ['groupings', 'u', 0],
  grouping_group_assigned: ['groupings', 'c', 0],
};

/** An event's context: id, level, instance and the course it belongs to (0 for none). */
export interface LogCtx { id: number; level: number; instance: number; course: number }
export const courseCtx = (c: { id: number; contextid: number }): LogCtx => ({ id: c.contextid, level: 50, instance: c.id, course: c.id });
export const categoryCtx = (categoryid: number, contextid: number): LogCtx => ({ id: contextid, level: 40, instance: categoryid, course: 0 });
export const SYSTEM_CTX: LogCtx = { id: 1, level: 10, instance: 0, course: 0 };

/** The row Moodle writes for `\core\event\<name>`; `other` is the exact JSON text. */
export function logRow(name: string, ctx: LogCtx, objectid: number | null, relateduserid: number | null, other: string) {
  const [objecttable, crud, edulevel] = CLASSES[name];
  const cut = name.lastIndexOf('_');
  return {
    eventname: `\\core\\event\\${name}`, component: 'core', action: name.slice(cut + 1), target: name.slice(0, cut), objecttable, objectid, crud, edulevel,
    contextid: ctx.id, contextlevel: ctx.level, contextinstanceid: ctx.instance, userid: 2, courseid: ctx.course, relateduserid,
    anonymous: 0, other, origin: 'cli', ip: null, realuserid: null,
  };
}

const num = (v: unknown) => (v === null ? null : Number(v));

/** Reads the log rows written after the last read, in log order, each checked to carry a run's time (within [t0, now]). */
export class LogReader {
  private seen = 0;
  constructor(private readonly db: mysql.Connection) {}

  /** Skips what is logged so far. */
  async mark(): Promise<void> {
    const [r] = await rows(this.db, 'SELECT COALESCE(MAX(id), 0) AS id FROM mdl_logstore_standard_log');
    this.seen = Number(r.id);
  }

  async since(t0: number): Promise<ReturnType<typeof logRow>[]> {
    const got = await rows(this.db, 'SELECT * FROM mdl_logstore_standard_log WHERE id > ? ORDER BY id', [this.seen]);
    if (got.length) this.seen = Number(got[got.length - 1].id);
    const t1 = Math.floor(Date.now() / 1000) + 1;
    for (const r of got) assert.ok(Number(r.timecreated) >= t0 && Number(r.timecreated) <= t1, `timecreated ${r.timecreated} is not within the run [${t0}, ${t1}]`);
    return got.map((r) => ({
      eventname: r.eventname, component: r.component, action: r.action, target: r.target, objecttable: r.objecttable, objectid: num(r.objectid),
      crud: r.crud, edulevel: Number(r.edulevel), contextid: Number(r.contextid), contextlevel: Number(r.contextlevel), contextinstanceid: Number(r.contextinstanceid),
      userid: Number(r.userid), courseid: num(r.courseid), relateduserid: num(r.relateduserid), anonymous: Number(r.anonymous), other: r.other,
      origin: r.origin, ip: r.ip, realuserid: num(r.realuserid),
    })) as ReturnType<typeof logRow>[];
  }
}
