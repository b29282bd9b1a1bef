/**
 * Tool settings: the original tool_sync keys (reference section 6) that have an effect, with
 * their defaults, plus moodle-sync's own. Pure data and validation; storage is in ./store.ts.
 */
export type SettingKind =
  | { type: 'bool' }
  | { type: 'choice'; values: readonly string[] }
  | { type: 'int'; min: number; max: number; unit?: string }
  | { type: 'location' }
  | { type: 'text'; pattern: RegExp; hint: string }
  | { type: 'emails' };

export interface SettingDefinition {
  key: string;
  section: string;
  kind: SettingKind;
  default: string;
  help: string;
}

const bool = { type: 'bool' } as const;
const choice = (...values: string[]): SettingKind => ({ type: 'choice', values });
const location = { type: 'location' } as const;
const userIdentifier = choice('id', 'idnumber', 'username', 'email');
const courseIdentifier = choice('id', 'idnumber', 'shortname');

const def = (section: string, key: string, kind: SettingKind, dflt: string, help: string): SettingDefinition =>
  ({ key, section, kind, default: dflt, help });

export const settingDefinitions: readonly SettingDefinition[] = [
  def('files', 'encoding', choice('UTF-8', 'ISO-8859-1'), 'UTF-8', 'Encoding of command files.'),
  def('files', 'csvseparator', choice(';', ','), ';', 'Field separator of command files.'),
  def('files', 'invalidnamesnocheck', bool, '0', 'Accept header names that are not known columns (users, cohorts).'),
  def('files', 'storereport', bool, '0', 'Store a report of every run in reports/.'),
  def('files', 'filearchive', bool, '0', 'Copy every processed input to archives/.'),
  def('files', 'filefailed', bool, '0', 'Write a tryback file of the failed lines beside the input.'),
  def('files', 'filecleanup', bool, '0', 'Remove the input from the store once processed.'),
  def('files', 'fileareacleanupdelay', { type: 'int', min: 0, max: 36500, unit: 'days' }, '90', 'Reports, archives and trybacks older than this are pruned (0: never).'),

  def('courses', 'courses_fileuploadlocation', location, 'uploadcourses.csv', 'Course create/update file.'),
  def('courses', 'courses_fileuploadidentifier', choice('idnumber', 'shortname', 'id'), 'shortname', 'Column that identifies an existing course.'),
  def('courses', 'courses_coursecategoryidentifier', choice('idnumber', 'idname'), 'idname', 'How the category column is read: idnumber, or id / path of names.'),
  def('courses', 'courses_newcategoriesvisible', bool, '1', 'Categories created from a path are visible.'),
  def('courses', 'courses_protectcategory', bool, '0', 'An update never moves a course to another category.'),
  def('courses', 'courses_forceupdate', bool, '0', 'Update courses that already exist (otherwise they are skipped).'),
  def('courses', 'courses_filedeletelocation', location, 'deletecourses.csv', 'Course deletion file.'),
  def('courses', 'courses_filedeleteidentifier', courseIdentifier, 'shortname', 'Identifier used in the deletion file.'),
  def('courses', 'courses_fileexistlocation', location, 'courses.csv', 'Course existence check file.'),
  def('courses', 'courses_existfileidentifier', courseIdentifier, 'shortname', 'Identifier used in the check file.'),
  def('courses', 'courses_filemetabindinglocation', location, 'metacourses.csv', 'Meta course bindings file.'),
  def('courses', 'courses_filemetabindingidentifier', courseIdentifier, 'shortname', 'Identifier used in the meta bindings file.'),

  def('users', 'users_filelocation', location, 'userimport.csv', 'User create/update file.'),
  def('users', 'users_deletefilelocation', location, 'userdelete.csv', 'User deletion file.'),
  def('users', 'users_suspendfilelocation', location, 'usersuspend.csv', 'User suspension file.'),
  def('users', 'users_restorefilelocation', location, 'userrestore.csv', 'User restore (unsuspend) file.'),
  def('users', 'users_primaryidentity', userIdentifier, 'idnumber', 'Column that identifies an existing user.'),
  def('users', 'users_createpasswords', bool, '0', 'New users without a password get a generated one.'),
  def('users', 'users_sendpasswordtousers', bool, '0', 'Mail generated passwords to their users.'),
  def('users', 'users_allowrename', bool, '0', 'Allow renaming through the oldusername column.'),
  def('users', 'users_protectemails', bool, '1', 'Never change the e-mail of an existing user.'),
  def('users', 'courses_primaryidentity', courseIdentifier, 'shortname', 'Course identifier in the course<N> enrolment columns.'),

  def('enrols', 'enrols_filelocation', location, 'enrols.csv', 'Enrolment file.'),
  def('enrols', 'enrols_courseidentifier', courseIdentifier, 'shortname', 'Identifier in the cid column.'),
  def('enrols', 'enrols_useridentifier', userIdentifier, 'idnumber', 'Identifier in the uid column.'),
  def('enrols', 'enrols_protectgroups', bool, '0', 'Group replace/delete touch only memberships moodle-sync made.'),
  def('enrols', 'enrols_enableenrolondisabled', bool, '0', 'Enable a disabled enrol instance to enrol into it.'),
  def('enrols', 'enrols_defaultcmd', choice('add', 'del', 'shift', 'enable', 'disable'), 'add', 'Command when the file has no cmd column.'),

  def('userpictures', 'userpictures_fileprefix', { type: 'text', pattern: /^[A-Za-z0-9_.-]{1,64}$/, hint: 'letters, digits, _ . - (1 to 64)' }, 'userpictures_', 'Prefix of picture zip files.'),
  def('userpictures', 'userpictures_userfield', choice('id', 'idnumber', 'username', 'hostedusername', 'email'), 'username', 'User field that image names carry.'),
  def('userpictures', 'userpictures_overwrite', bool, '1', 'Replace pictures users already have.'),
  def('userpictures', 'userpictures_forcedeletion', bool, '1', 'Remove each zip once processed, even without filecleanup.'),

  def('cohorts', 'cohorts_filelocation', location, 'cohorts.csv', 'Cohort definitions and members file.'),
  def('cohorts', 'cohorts_coursebindingfilelocation', location, 'cohortscourses.csv', 'Cohort to course bindings file.'),
  def('cohorts', 'cohorts_useridentifier', userIdentifier, 'idnumber', 'Identifier in the userid column.'),
  def('cohorts', 'cohorts_cohortidentifier', choice('id', 'idnumber', 'name'), 'idnumber', 'Identifier of cohorts (key column c<identifier>).'),
  def('cohorts', 'cohorts_courseidentifier', courseIdentifier, 'idnumber', 'Identifier in the course column of bindings.'),
  def('cohorts', 'cohorts_roleidentifier', choice('id', 'shortname'), 'shortname', 'Identifier in the role column of bindings.'),
  def('cohorts', 'cohorts_autocreate', bool, '1', 'Create cohorts that do not exist.'),

  def('groups', 'groups_filelocation', location, 'groups.csv', 'Groups and groupings file.'),
  def('groups', 'groupmembers_filelocation', location, 'groupmembers.csv', 'Group members file.'),
  def('groups', 'groups_courseidentifier', courseIdentifier, 'shortname', 'Identifier in the courseid column.'),
  def('groups', 'groups_useridentifier', userIdentifier, 'username', 'Identifier in the userid column.'),
  def('groups', 'groups_groupidentifier', choice('id', 'idnumber', 'name'), 'idnumber', 'Identifier in the groupid column.'),
  def('groups', 'groups_groupingidentifier', choice('id', 'idnumber', 'name'), 'idnumber', 'Identifier of groupings in update mode.'),
  def('groups', 'groups_purgeemptygroups', choice('0', '1', '2'), '0', 'After members: 0 purge nothing, 1 empty groups, 2 empty groups and groupings.'),

  def('sync', 'quietperiod', { type: 'int', min: 0, max: 86400, unit: 'seconds' }, '10', 'A dropped file changed more recently than this waits for the next reintegration.'),
  def('sync', 'stalelockdelay', { type: 'int', min: 1, max: 43200, unit: 'minutes' }, '180', 'Age past which lock.txt or alock.txt raises an alarm mail.'),
  def('sync', 'alarmrecipients', { type: 'emails' }, '', 'Addresses mailed besides the main admin, comma-separated.'),
];

const byKey = new Map(settingDefinitions.map((d) => [d.key, d]));

export const findSetting = (key: string): SettingDefinition | undefined => byKey.get(key);

const EMAIL = /^[^\s@,;]+@[^\s@,;]+\.[^\s@,;]+$/;

/** Describes the values a setting accepts, for error messages and `config show`. */
export function describeKind(kind: SettingKind): string {
  switch (kind.type) {
    case 'bool': return '0 or 1';
    case 'choice': return kind.values.map((v) => `"${v}"`).join(', ');
    case 'int': return `a whole number from ${kind.min} to ${kind.max}${kind.unit ? ` (${kind.unit})` : ''}`;
    case 'location': return 'a store path, a comma-separated list of them, or a name pattern with *';
    case 'text': return kind.hint;
    case 'emails': return 'e-mail addresses separated by commas (or empty)';
  }
}

/**
 * Checks a value for a setting; returns the normalised value or the reason it is refused.
 * Accepted boolean spellings are normalised to "0"/"1" as Moodle stores them.
 */
export function validateSetting(def: SettingDefinition, raw: string): { ok: true; value: string } | { ok: false; reason: string } {
  const value = raw.trim();
  const refuse = (why: string) => ({ ok: false as const, reason: `${def.key}: ${why}; expected ${describeKind(def.kind)}.` });
  const kind = def.kind;
  switch (kind.type) {
    case 'bool': {
      const v = value.toLowerCase();
      if (['1', 'on', 'yes', 'true'].includes(v)) return { ok: true, value: '1' };
      if (['0', 'off', 'no', 'false'].includes(v)) return { ok: true, value: '0' };
      return refuse(`"${raw}" is not a yes/no value`);
    }
    case 'choice':
      return kind.values.includes(value) ? { ok: true, value } : refuse(`"${raw}" is not one of the choices`);
    case 'int': {
      if (!/^\d+$/.test(value)) return refuse(`"${raw}" is not a whole number`);
      const n = Number(value);
      return n >= kind.min && n <= kind.max ? { ok: true, value: String(n) } : refuse(`${n} is out of range`);
    }
    case 'location': {
      const parts = value.split(',').map((p) => p.trim());
      if (value === '' || parts.some((p) => p === '')) return refuse('empty file name');
      const bad = parts.find((p) => p.startsWith('/') || p.includes('\\') || p.split('/').some((s) => s === '..' || s === '.' || s === '') || /[\0\r\n]/.test(p) || /^[a-z][a-z0-9+.-]*:/i.test(p));
      if (bad !== undefined) return refuse(`"${bad}" is not a relative path inside the store (no "..", no leading "/", no URL)`);
      return { ok: true, value: parts.join(',') };
    }
    case 'text':
      return kind.pattern.test(value) ? { ok: true, value } : refuse(`"${raw}" is not accepted`);
    case 'emails': {
      if (value === '') return { ok: true, value };
      const list = value.split(',').map((p) => p.trim());
      const bad = list.find((a) => !EMAIL.test(a));
      return bad === undefined ? { ok: true, value: list.join(',') } : refuse(`"${bad}" is not an e-mail address`);
    }
  }
}

/** Keys a person may have meant, for "unknown key" messages. */
export function similarKeys(key: string): string[] {
  const k = key.toLowerCase();
  const parts = k.split(/[_\s]+/).filter((p) => p.length >= 3);
  // Best matches first (the key contains what was typed, or the reverse), then by shared parts;
  // the sort is stable, so equal scores keep the definition order.
  const score = (name: string) => (name.includes(k) || k.includes(name) ? 100 : 0) + parts.filter((p) => name.includes(p)).length;
  return settingDefinitions
    .map((d) => ({ name: d.key, score: score(d.key) }))
    .filter((c) => c.score > 0)
    .sort((a, b) => b.score - a.score)
    .map((c) => c.name)
    .slice(0, 8);
}
