import { parseMoodleTime } from '../../moodle/time';
import type { CourseSite } from '../../moodle/courses';

/**
 * The course columns of the create file (reference 5.1.1) and the rule each value must meet. A
 * value that breaks its rule is a row error naming the column, the value and the rule.
 */

export type Parsed = { ok: true; value: string | number } | { ok: false; rule: string };

export interface Field {
  parse(v: string, site: CourseSite): Parsed;
  /** '' is a value to store (clears the field); otherwise an empty cell means "not given". */
  emptyIsValue?: boolean;
}

const ok = (value: string | number): Parsed => ({ ok: true, value });
const fail = (rule: string): Parsed => ({ ok: false, rule });

const text = (max: number, required = false): Field => ({
  emptyIsValue: !required,
  parse: (v) => (required && v === '' ? fail('must not be empty') : v.length > max ? fail(`at most ${max} characters`) : ok(v)),
});
const int = (min: number, max: number, rule = `a whole number from ${min} to ${max}`): Field => ({
  parse: (v) => (/^\d{1,15}$/.test(v) && Number(v) >= min && Number(v) <= max ? ok(Number(v)) : fail(rule)),
});
const flag = int(0, 1, '0 or 1');
const date: Field = {
  parse: (v, site) => {
    const t = parseMoodleTime(v, site.timeZone);
    return t.ok ? ok(t.value) : fail('a date: YYYY-MM-DD, YYYY-MM-DD hh:mm:ss, ISO 8601 or Unix seconds');
  },
};
const code = (pattern: RegExp, rule: string): Field => ({ emptyIsValue: true, parse: (v) => (v === '' || pattern.test(v) ? ok(v) : fail(rule)) });

/** Columns that are course table columns of the same name. */
export const COURSE_FIELDS: Record<string, Field> = {
  fullname: text(254, true),
  shortname: text(255, true),
  idnumber: text(100),
  summary: { emptyIsValue: true, parse: ok },
  format: { parse: (v, site) => (site.formats.includes(v) ? ok(v) : fail(`a course format moodle-sync writes: ${site.formats.join(', ')}`)) },
  showgrades: flag,
  newsitems: int(0, 10),
  startdate: date,
  enddate: date,
  marker: int(0, 9999, 'a section number'),
  maxbytes: { parse: (v, site) => int(0, site.maxbytes || Number.MAX_SAFE_INTEGER, site.maxbytes ? `a size in bytes up to the site's ${site.maxbytes}` : 'a size in bytes').parse(v, site) },
  // Moodle stores 2 for "legacy course files on"; the original's files say 1.
  legacyfiles: { parse: (v) => (v === '0' ? ok(0) : v === '1' || v === '2' ? ok(2) : fail('0 (off) or 1 / 2 (on)')) },
  showreports: flag,
  visible: flag,
  visibleold: flag,
  groupmode: int(0, 2, '0 (no groups), 1 (separate groups) or 2 (visible groups)'),
  groupmodeforce: flag,
  enablecompletion: flag,
  defaultgroupingid: int(0, Number.MAX_SAFE_INTEGER, 'a grouping id'),
  lang: code(/^[a-z]{2,3}(_[a-z0-9]+)*$/, 'a language code such as en or fr_ca, or empty'),
  theme: code(/^[a-z0-9_]{1,50}$/, 'a theme name (lowercase letters, digits, _), or empty'),
  timecreated: date,
  timemodified: date,
  sortorder: int(0, 4294967295),
};

/** Columns that are options of the course format (course_format_options). */
export const OPTION_FIELDS: Record<string, Field> = {
  coursedisplay: int(0, 1, '0 (all sections on one page) or 1 (one section per page)'),
};

export const TOPIC_COLUMN = /^topic([0-9]|[1-4][0-9]|5[0-2])$/;
export const TEACHER_COLUMN = /^teacher([1-9]\d*)_(account|role)$/;

/** Every fixed column the create file accepts. */
export const CREATE_COLUMNS = [...Object.keys(COURSE_FIELDS), ...Object.keys(OPTION_FIELDS), 'category', 'self', 'guest', 'template', 'id'];
