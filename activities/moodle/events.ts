/**
 * The Moodle 5.1 events our writes cause, as logstore_standard_log rows (moodle-writes.md section 2:
 * "every API call ... writes a logstore row").
 *
 * Static properties come from each event class's init() in Moodle's source (lib/classes/event/*.php,
 * admin/tool/recyclebin/classes/event/*.php); eventname, component, target and action come from the
 * class name as \core\event\base does it (`\<component>\event\<target>_<action>`, the action being the
 * word after the last underscore). How each event is created (context, objectid, relateduserid,
 * other) follows the Moodle function that triggers it, named on each builder. Rules of
 * \core\event\base::create that apply to all: courseid is the course of the context (0 for the
 * system, user and category contexts); relateduserid, when not given, is the user of a user context;
 * other is stored as PHP's json_encode writes it (logstore_standard jsonformat 1), `null` when empty.
 */

/** The acting user of our writes (modifierid, the log's userid): the main admin, as the original's tasks ran. */
export const ACTING_USER = 2;

export const CONTEXT_SYSTEM = 10;
export const CONTEXT_USER = 30;
export const CONTEXT_COURSECAT = 40;
export const CONTEXT_COURSE = 50;
/** SYSCONTEXTID: the system context is always id 1. */
export const SYSTEM_CONTEXT_ID = 1;

/** \core\event\base::LEVEL_OTHER, LEVEL_TEACHING, LEVEL_PARTICIPATING. */
const OTHER = 0;
const TEACHING = 1;

export interface EventClass {
  eventname: string;
  component: string;
  target: string;
  action: string;
  objecttable: string | null;
  crud: 'c' | 'r' | 'u' | 'd';
  edulevel: 0 | 1 | 2;
}

function eventClass(component: string, name: string, objecttable: string | null, crud: EventClass['crud'], edulevel: EventClass['edulevel']): EventClass {
  const cut = name.lastIndexOf('_');
  return { eventname: `\\${component}\\event\\${name}`, component, target: name.slice(0, cut), action: name.slice(cut + 1), objecttable, crud, edulevel };
}
const core = (name: string, objecttable: string | null, crud: EventClass['crud'], edulevel: EventClass['edulevel']) => eventClass('core', name, objecttable, crud, edulevel);

/** init() of each event class: objecttable, crud, edulevel. */
export const EVENTS = {
  user_created: core('user_created', 'user', 'c', OTHER),
  user_updated: core('user_updated', 'user', 'u', OTHER),
  user_deleted: core('user_deleted', 'user', 'd', OTHER),
  user_password_updated: core('user_password_updated', null, 'u', OTHER),
  user_enrolment_created: core('user_enrolment_created', 'user_enrolments', 'c', OTHER),
  user_enrolment_updated: core('user_enrolment_updated', 'user_enrolments', 'u', OTHER),
  user_enrolment_deleted: core('user_enrolment_deleted', 'user_enrolments', 'd', OTHER),
  role_assigned: core('role_assigned', 'role', 'c', OTHER),
  role_unassigned: core('role_unassigned', 'role', 'd', OTHER),
  enrol_instance_created: core('enrol_instance_created', 'enrol', 'c', OTHER),
  enrol_instance_updated: core('enrol_instance_updated', 'enrol', 'u', OTHER),
  enrol_instance_deleted: core('enrol_instance_deleted', 'enrol', 'd', OTHER),
  cohort_created: core('cohort_created', 'cohort', 'c', OTHER),
  cohort_updated: core('cohort_updated', 'cohort', 'u', OTHER),
  cohort_deleted: core('cohort_deleted', 'cohort', 'd', OTHER),
  cohort_member_added: core('cohort_member_added', 'cohort', 'c', OTHER),
  cohort_member_removed: core('cohort_member_removed', 'cohort', 'd', OTHER),
  group_created: core('group_created', 'groups', 'c', OTHER),
  group_updated: core('group_updated', 'groups', 'u', OTHER),
  group_deleted: core('group_deleted', 'groups', 'd', OTHER),
  group_member_added: core('group_member_added', 'groups', 'c', OTHER),
  group_member_removed: core('group_member_removed', 'groups', 'd', OTHER),
  grouping_created: core('grouping_created', 'groupings', 'c', OTHER),
  grouping_updated: core('grouping_updated', 'groupings', 'u', OTHER),
  grouping_deleted: core('grouping_deleted', 'groupings', 'd', OTHER),
  grouping_group_assigned: core('grouping_group_assigned', 'groupings', 'c', OTHER),
  grouping_group_unassigned: core('grouping_group_unassigned', 'groupings', 'd', OTHER),
  course_created: core('course_created', 'course', 'c', TEACHING),
  course_updated: core('course_updated', 'course', 'u', TEACHING),
  course_deleted: core('course_deleted', 'course', 'd', TEACHING),
  course_content_deleted: core('course_content_deleted', 'course', 'd', TEACHING),
  course_backup_created: core('course_backup_created', 'course', 'c', TEACHING),
  course_section_created: core('course_section_created', 'course_sections', 'c', TEACHING),
  course_section_updated: core('course_section_updated', 'course_sections', 'u', TEACHING),
  course_category_created: core('course_category_created', 'course_categories', 'c', OTHER),
  course_category_updated: core('course_category_updated', 'course_categories', 'u', OTHER),
  user_info_field_created: core('user_info_field_created', 'user_info_field', 'c', OTHER),
  config_log_created: core('config_log_created', 'config_log', 'c', OTHER),
  grade_item_created: core('grade_item_created', 'grade_items', 'c', OTHER),
  grade_item_deleted: core('grade_item_deleted', 'grade_items', 'd', OTHER),
  category_bin_item_created: eventClass('tool_recyclebin', 'category_bin_item_created', 'tool_recyclebin_category', 'c', OTHER),
} satisfies Record<string, EventClass>;

/** An event's context as the log stores it, with the course it belongs to (0 when none). */
export interface EventContext { id: number; level: number; instanceid: number; courseid: number }

export const systemContext = (): EventContext => ({ id: SYSTEM_CONTEXT_ID, level: CONTEXT_SYSTEM, instanceid: 0, courseid: 0 });
export const userContext = (contextid: number, userid: number): EventContext => ({ id: contextid, level: CONTEXT_USER, instanceid: userid, courseid: 0 });
export const categoryContext = (contextid: number, categoryid: number): EventContext => ({ id: contextid, level: CONTEXT_COURSECAT, instanceid: categoryid, courseid: 0 });
export const courseContext = (course: { id: number; contextid: number }): EventContext =>
  ({ id: course.contextid, level: CONTEXT_COURSE, instanceid: course.id, courseid: course.id });

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

export interface LogEvent {
  cls: EventClass;
  context: EventContext;
  objectid: number | null;
  relateduserid: number | null;
  other: Json;
}

/** \core\event\base::create: relateduserid defaults to the user of a user context. */
function event(cls: EventClass, context: EventContext, objectid: number | null, other: Json = null, relateduserid?: number): LogEvent {
  return { cls, context, objectid, other, relateduserid: relateduserid ?? (context.level === CONTEXT_USER ? context.instanceid : null) };
}

/**
 * PHP's json_encode with default flags: `/` escaped as `\/` and every non-ASCII character as a
 * \uXXXX escape (UTF-16 units, lowercase hex), otherwise as JSON.stringify.
 */
export function phpJson(value: Json): string {
  return JSON.stringify(value)
    .replace(/[\u0080-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)
    .replace(/\//g, '\\/');
}

/**
 * An id as Moodle passes it on: 0 for none stays the integer the API defaults to, a real id comes
 * from a database record and is a string (role_assign / groups_add_member with an enrol instance).
 */
const itemidOf = (itemid: number): number | string => (itemid === 0 ? 0 : String(itemid));

// ---- users (user_create_user, user_update_user, update_internal_user_password, delete_user) ----

/** user_created::create_from_userid. */
export const userCreated = (ctx: EventContext): LogEvent => event(EVENTS.user_created, ctx, ctx.instanceid, null, ctx.instanceid);
/** user_updated::create_from_userid. */
export const userUpdated = (ctx: EventContext): LogEvent => event(EVENTS.user_updated, ctx, ctx.instanceid, null, ctx.instanceid);
/** user_password_updated::create_from_user (no objectid), from update_internal_user_password. */
export const userPasswordUpdated = (ctx: EventContext): LogEvent =>
  event(EVENTS.user_password_updated, ctx, null, { forgottenreset: false }, ctx.instanceid);

/** The user record's values before delete_user (read from the database, so strings). */
export interface DeletedUser { username: string; email: string; idnumber: string; picture: number | string; mnethostid: number | string }
/** delete_user: the old identity in other. */
export const userDeleted = (ctx: EventContext, old: DeletedUser): LogEvent => event(EVENTS.user_deleted, ctx, ctx.instanceid, {
  username: old.username, email: old.email, idnumber: old.idnumber, picture: String(old.picture), mnethostid: String(old.mnethostid),
}, ctx.instanceid);

// ---- enrolments and roles (enrol_plugin::enrol_user, update_user_enrol, unenrol_user, update_status; role_assign, role_unassign_all) ----

export const userEnrolmentCreated = (course: EventContext, ueid: number, userid: number, plugin: string): LogEvent =>
  event(EVENTS.user_enrolment_created, course, ueid, { enrol: plugin }, userid);
export const userEnrolmentUpdated = (course: EventContext, ueid: number, userid: number, plugin: string): LogEvent =>
  event(EVENTS.user_enrolment_updated, course, ueid, { enrol: plugin }, userid);

/** A user_enrolments row as the database returns it, before its deletion. */
export interface UserEnrolmentRow { id: number; status: number; enrolid: number; userid: number; timestart: number; timeend: number; modifierid: number; timecreated: number; timemodified: number }
/**
 * unenrol_user: other holds the deleted record (all its columns, as the strings the database
 * gives) with courseid, enrol and lastenrol added, and the plugin name.
 */
export function userEnrolmentDeleted(course: EventContext, ue: UserEnrolmentRow, plugin: string, lastenrol: boolean): LogEvent {
  const columns = ['id', 'status', 'enrolid', 'userid', 'timestart', 'timeend', 'modifierid', 'timecreated', 'timemodified'] as const;
  const userenrolment: { [key: string]: Json } = Object.fromEntries(columns.map((c) => [c, String(ue[c])]));
  Object.assign(userenrolment, { courseid: String(course.courseid), enrol: plugin, lastenrol });
  return event(EVENTS.user_enrolment_deleted, course, ue.id, { userenrolment, enrol: plugin }, ue.userid);
}

export interface RoleAssignmentRef { id: number; roleid: number; userid: number; component: string; itemid: number }
/** role_assign: the new row's id as an integer, the caller's component and itemid. */
export const roleAssigned = (ctx: EventContext, ra: RoleAssignmentRef): LogEvent =>
  event(EVENTS.role_assigned, ctx, ra.roleid, { id: ra.id, component: ra.component, itemid: itemidOf(ra.itemid) }, ra.userid);
/** role_unassign_all: from the deleted record, so every value is a string. */
export const roleUnassigned = (ctx: EventContext, ra: RoleAssignmentRef): LogEvent =>
  event(EVENTS.role_unassigned, ctx, ra.roleid, { id: String(ra.id), component: ra.component, itemid: String(ra.itemid) }, ra.userid);

/** enrol_instance_*::create_from_record. */
export const enrolInstanceCreated = (course: EventContext, enrolid: number, plugin: string): LogEvent => event(EVENTS.enrol_instance_created, course, enrolid, { enrol: plugin });
export const enrolInstanceUpdated = (course: EventContext, enrolid: number, plugin: string): LogEvent => event(EVENTS.enrol_instance_updated, course, enrolid, { enrol: plugin });
export const enrolInstanceDeleted = (course: EventContext, enrolid: number, plugin: string): LogEvent => event(EVENTS.enrol_instance_deleted, course, enrolid, { enrol: plugin });

// ---- cohorts (cohort_add_cohort, cohort_update_cohort, cohort_delete_cohort, cohort_add_member, cohort_remove_member): the cohort's context ----

export const cohortCreated = (ctx: EventContext, cohortid: number): LogEvent => event(EVENTS.cohort_created, ctx, cohortid);
export const cohortUpdated = (ctx: EventContext, cohortid: number): LogEvent => event(EVENTS.cohort_updated, ctx, cohortid);
export const cohortDeleted = (ctx: EventContext, cohortid: number): LogEvent => event(EVENTS.cohort_deleted, ctx, cohortid);
export const cohortMemberAdded = (ctx: EventContext, cohortid: number, userid: number): LogEvent => event(EVENTS.cohort_member_added, ctx, cohortid, null, userid);
export const cohortMemberRemoved = (ctx: EventContext, cohortid: number, userid: number): LogEvent => event(EVENTS.cohort_member_removed, ctx, cohortid, null, userid);

// ---- groups and groupings (group/lib.php): the course context ----

export const groupCreated = (course: EventContext, groupid: number): LogEvent => event(EVENTS.group_created, course, groupid);
export const groupUpdated = (course: EventContext, groupid: number): LogEvent => event(EVENTS.group_updated, course, groupid);
export const groupDeleted = (course: EventContext, groupid: number): LogEvent => event(EVENTS.group_deleted, course, groupid);
/** groups_add_member: other holds the membership's component and itemid. */
export const groupMemberAdded = (course: EventContext, groupid: number, userid: number, component: string, itemid: number): LogEvent =>
  event(EVENTS.group_member_added, course, groupid, { component, itemid: itemidOf(itemid) }, userid);
export const groupMemberRemoved = (course: EventContext, groupid: number, userid: number): LogEvent => event(EVENTS.group_member_removed, course, groupid, null, userid);
export const groupingCreated = (course: EventContext, groupingid: number): LogEvent => event(EVENTS.grouping_created, course, groupingid);
export const groupingUpdated = (course: EventContext, groupingid: number): LogEvent => event(EVENTS.grouping_updated, course, groupingid);
export const groupingDeleted = (course: EventContext, groupingid: number): LogEvent => event(EVENTS.grouping_deleted, course, groupingid);
/** groups_assign_grouping / groups_unassign_grouping: the group id in other, as a string. */
export const groupingGroupAssigned = (course: EventContext, groupingid: number, groupid: number): LogEvent =>
  event(EVENTS.grouping_group_assigned, course, groupingid, { groupid: String(groupid) });
export const groupingGroupUnassigned = (course: EventContext, groupingid: number, groupid: number): LogEvent =>
  event(EVENTS.grouping_group_unassigned, course, groupingid, { groupid: String(groupid) });

// ---- courses and categories (create_course, update_course, delete_course, course_create_section, core_course_category::create) ----

export interface CourseNames { shortname: string; fullname: string }
export const courseCreated = (course: EventContext, names: CourseNames): LogEvent =>
  event(EVENTS.course_created, course, course.instanceid, { shortname: names.shortname, fullname: names.fullname });
/** update_course: updatedfields maps each changed column to its new value, as the form data had it. */
export const courseUpdated = (course: EventContext, names: CourseNames, updatedfields: { [key: string]: Json }): LogEvent =>
  event(EVENTS.course_updated, course, course.instanceid, { shortname: names.shortname, fullname: names.fullname, updatedfields });
export const courseDeleted = (course: EventContext, names: CourseNames & { idnumber: string }): LogEvent =>
  event(EVENTS.course_deleted, course, course.instanceid, { shortname: names.shortname, fullname: names.fullname, idnumber: names.idnumber });
/** remove_course_contents: the options it skipped ([] from delete_course). */
export const courseContentDeleted = (course: EventContext, names: CourseNames, options: Json[] = []): LogEvent =>
  event(EVENTS.course_content_deleted, course, course.instanceid, { shortname: names.shortname, fullname: names.fullname, options });
/** The recycle bin's backup before delete_course (backup_controller). */
export const courseBackupCreated = (course: EventContext, backupid: string): LogEvent =>
  event(EVENTS.course_backup_created, course, course.instanceid, { format: 'moodle2', mode: 50, interactive: false, type: 'course', backupid });
export const categoryBinItemCreated = (category: EventContext, binid: number): LogEvent => event(EVENTS.category_bin_item_created, category, binid);
/** course_section_created::create_from_section: the section number as an integer. */
export const courseSectionCreated = (course: EventContext, sectionid: number, sectionnum: number): LogEvent =>
  event(EVENTS.course_section_created, course, sectionid, { sectionnum });
export const courseSectionUpdated = (course: EventContext, sectionid: number, sectionnum: number): LogEvent =>
  event(EVENTS.course_section_updated, course, sectionid, { sectionnum });
export const courseCategoryCreated = (category: EventContext): LogEvent => event(EVENTS.course_category_created, category, category.instanceid);
export const courseCategoryUpdated = (category: EventContext): LogEvent => event(EVENTS.course_category_updated, category, category.instanceid);
/** grade_item_created / deleted::create_from_grade_item (the course item: no name, no module). */
export const gradeItemCreated = (course: EventContext, itemid: number, item: { itemname: string | null; itemtype: string; itemmodule: string | null }): LogEvent =>
  event(EVENTS.grade_item_created, course, itemid, { itemname: item.itemname, itemtype: item.itemtype, itemmodule: item.itemmodule });
export const gradeItemDeleted = (course: EventContext, itemid: number, item: { itemname: string | null; itemtype: string; itemmodule: string | null }): LogEvent =>
  event(EVENTS.grade_item_deleted, course, itemid, { itemname: item.itemname, itemtype: item.itemtype, itemmodule: item.itemmodule });

// ---- site (profile field definition, set_config through the admin pages): the system context ----

export const userInfoFieldCreated = (fieldid: number, field: { shortname: string; name: string; datatype: string }): LogEvent =>
  event(EVENTS.user_info_field_created, systemContext(), fieldid, { shortname: field.shortname, name: field.name, datatype: field.datatype });
/** add_to_config_log: the values as the caller passed them (false for "not set", 1 for an enabled plugin). */
export const configLogCreated = (configlogid: number, c: { name: string; oldvalue: Json; value: Json; plugin: string | null }): LogEvent =>
  event(EVENTS.config_log_created, systemContext(), configlogid, { name: c.name, oldvalue: c.oldvalue, value: c.value, plugin: c.plugin });
