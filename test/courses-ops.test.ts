/**
 * The courses tool's delete, check and metas operations through the real path (CLI, worker,
 * Temporal dev server, the Moodle database), on the original's test scenario (reference 11.1,
 * steps 1, 2 and 11) with its configuration: every course identifier is the shortname.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { ResultSetHeader } from 'mysql2';
import { openSandbox, runToolFile, storeText, type Sandbox } from './support/sandbox';
import { rows } from './support/moodle';
import { changedColumns, diffSnapshots, snapshotTables, type Snapshot } from './support/snapshot';
import { samplesDir } from '../scripts/fixture';
import { parseMoodleTime } from '../activities/moodle/time';
import { openMoodleDb } from '../activities/moodle/db';
import { setSetting } from '../activities/settings/store';
import { LogReader, SYSTEM_CTX, courseCtx, logRow } from './support/logstore';

const sample = (name: string) => fs.readFileSync(path.join(samplesDir(), name), 'utf8');
const STUDENT = 5;
const TEACHER = 4;
const EDITINGTEACHER = 3;

describe('courses: delete, check and meta links (reference 11.1)', () => {
  let sb: Sandbox;
  let s0: Snapshot;
  const uid: Record<string, number> = {};
  const course: Record<string, { id: number; contextid: number; path: string; category: number }> = {};

  const run = (op: string, name: string, content: string) => runToolFile(sb, 'courses', name, content, ['--op', op]);
  const report = (p: string) => storeText(sb, p);
  const now = () => Math.floor(Date.now() / 1000);
  const recent = (t: unknown, what: string) => assert.ok(Math.abs(Number(t) - now()) < 300, `${what}: ${t} is not now`);
  const loadCourses = async () => {
    for (const c of await rows(sb.db, 'SELECT c.id, c.shortname, c.category, x.id AS contextid, x.path FROM mdl_course c JOIN mdl_context x ON x.contextlevel = 50 AND x.instanceid = c.id WHERE c.id <> 1')) {
      course[c.shortname] = { id: Number(c.id), contextid: Number(c.contextid), path: String(c.path), category: Number(c.category) };
    }
  };
  const metaInstance = async (master: string, meta: string) =>
    (await rows(sb.db, "SELECT * FROM mdl_enrol WHERE enrol = 'meta' AND courseid = ? AND customint1 = ?", [course[meta].id, course[master].id]))[0];
  const enrolmentsIn = async (enrolid: number) =>
    (await rows(sb.db, 'SELECT userid, status, timestart, timeend, modifierid FROM mdl_user_enrolments WHERE enrolid = ? ORDER BY userid', [enrolid]))
      .map((r) => [r.userid, r.status, r.timestart, r.timeend, r.modifierid]);
  const metaRoles = async (shortname: string) =>
    (await rows(sb.db, 'SELECT id, roleid, userid, component, itemid, sortorder, modifierid, timemodified FROM mdl_role_assignments WHERE contextid = ? ORDER BY userid, roleid', [course[shortname].contextid]));
  const dirtyContexts = async () => (await rows(sb.db, "SELECT name FROM mdl_cache_flags WHERE flagtype = 'accesslib/dirtycontexts'")).map((r) => String(r.name));
  let log: LogReader;
  const ctxOf = (shortname: string) => courseCtx(course[shortname]);
  const ueRow = async (enrolid: number, userid: number) => (await rows(sb.db, 'SELECT * FROM mdl_user_enrolments WHERE enrolid = ? AND userid = ?', [enrolid, userid]))[0];
  const raId = async (shortname: string, userid: number, roleid: number, component = '') =>
    Number((await rows(sb.db, 'SELECT id FROM mdl_role_assignments WHERE contextid = ? AND userid = ? AND roleid = ? AND component = ?', [course[shortname].contextid, userid, roleid, component]))[0].id);
  const instancesOf = async (shortname: string) => rows(sb.db, 'SELECT id, enrol FROM mdl_enrol WHERE courseid = ? ORDER BY sortorder, id', [course[shortname].id]);
  /** unenrol_user's user_enrolment_deleted other: the deleted row's columns as strings, then courseid, enrol, lastenrol. */
  const deletedUe = (ue: Record<string, unknown>, courseid: number, plugin: string) => JSON.stringify({
    userenrolment: {
      ...Object.fromEntries(['id', 'status', 'enrolid', 'userid', 'timestart', 'timeend', 'modifierid', 'timecreated', 'timemodified'].map((c) => [c, String(ue[c])])),
      courseid: String(courseid), enrol: plugin, lastenrol: true,
    },
    enrol: plugin,
  });
  const unassigned = (shortname: string, roleid: number, userid: number, raid: number, component = '', itemid = 0) =>
    logRow('role_unassigned', ctxOf(shortname), roleid, userid, `{"id":"${raid}","component":"${component}","itemid":"${itemid}"}`);
  /** delete_course's gradebook events: the course grade item it makes and deletes (its id from the grade history). */
  const gradeEvents = async (shortname: string) => {
    const [item] = await rows(sb.db, 'SELECT oldid FROM mdl_grade_items_history WHERE courseid = ? AND action = 1', [course[shortname].id]);
    const other = '{"itemname":null,"itemtype":"course","itemmodule":null}';
    return [logRow('grade_item_created', ctxOf(shortname), Number(item.oldid), null, other), logRow('grade_item_deleted', ctxOf(shortname), Number(item.oldid), null, other)];
  };
  /** The end of delete_course: remove_course_contents' event, then the course's. */
  const courseGone = (shortname: string, fullname: string) => [
    logRow('course_content_deleted', ctxOf(shortname), course[shortname].id, null, `{"shortname":"${shortname}","fullname":"${fullname}","options":[]}`),
    logRow('course_deleted', ctxOf(shortname), course[shortname].id, null, `{"shortname":"${shortname}","fullname":"${fullname}","idnumber":""}`),
  ];

  before(async () => {
    sb = await openSandbox('coursesops');
    // Reference 11.1 configuration, stored in-process (the config command has its own tests; each CLI start costs seconds).
    const moodle = openMoodleDb(String(sb.env.MOODLE_DB_URL), 'mdl_', 'msync_');
    for (const [k, v] of [
      ['csvseparator', ';'], ['storereport', '1'], ['filearchive', '1'], ['filefailed', '1'], ['filecleanup', '0'],
      ['courses_fileuploadidentifier', 'shortname'], ['courses_coursecategoryidentifier', 'idname'], ['courses_newcategoriesvisible', '1'],
      ['courses_protectcategory', '0'], ['courses_filedeleteidentifier', 'shortname'], ['courses_existfileidentifier', 'shortname'],
      ['courses_filemetabindingidentifier', 'shortname'], ['users_primaryidentity', 'username'],
      ['enrols_courseidentifier', 'shortname'], ['enrols_useridentifier', 'username'], ['enrols_protectgroups', '1'],
    ]) await setSetting(moodle, k, v);
    await moodle.close();
    await sb.startWorker();
    log = new LogReader(sb.db);
    const people = await runToolFile(sb, 'users', 'people.csv', `username;firstname;lastname\n${[1, 2, 3, 4].map((n) => `s${n};First${n};Last${n}`).join('\n')}\n`);
    assert.equal(people.rows.applied, 4);
    for (const u of await rows(sb.db, "SELECT id, username FROM mdl_user WHERE username LIKE 's_'")) uid[u.username] = Number(u.id);
    // A cohort (as the cohorts tool makes it) whose enrol instance a course will hold.
    const [cohort] = await sb.db.query<ResultSetHeader>("INSERT INTO mdl_cohort (contextid, name, idnumber, description, descriptionformat, visible, component, timecreated, timemodified, theme) VALUES (1, 'C1', 'C1', NULL, 1, 1, '', 0, 0, '')");
    await sb.db.query('INSERT INTO mdl_cohort_members (cohortid, userid, timeadded) VALUES (?, ?, 0)', [cohort.insertId, uid.s4]);
    s0 = await snapshotTables(sb.db);
  });
  after(async () => {
    await sb?.close();
  });

  it('step 1: the courses of course_create_sample.csv exist; the masters have enrolments', async () => {
    const created = await run('create', 'course_create_sample.csv', sample('course_create_sample.csv'));
    assert.ok(created.rows.applied >= 9, JSON.stringify(created.rows));
    const extra = await run('create', 'extra.csv', 'shortname;fullname\nGUARDED;A course with an activity\n');
    assert.equal(extra.rows.applied, 1);
    await loadCourses();
    for (const s of ['TESTCOURSE1', 'TESTCOURSE2', 'TESTCOURSE3', 'MASTER1', 'MASTER2', 'META10', 'META11', 'META20', 'META21', 'GUARDED']) assert.ok(course[s], `${s} exists`);
    const enrols = await runToolFile(sb, 'enrols', 'enrols.csv', [
      'cmd;rolename;cid;uid;enrol;starttime;endtime;gcmd;g1',
      'add;student;MASTER1;s1;manual;2026-09-01;2027-06-30 18:00:00;;',
      'add;editingteacher;MASTER1;s2;manual;;;;',
      'add;student;MASTER1;s3;manual;;;;',
      'disable;student;MASTER1;s3;manual;;;;',
      'add;student;MASTER2;s4;manual;;;;',
      'add;student;TESTCOURSE1;s1;manual;;;gaddcreate;Red',
    ].join('\n') + '\n');
    assert.deepEqual(enrols.rows, { total: 6, applied: 6, failed: 0, skipped: 0 }, await report(enrols.report));
  });

  it('step 2: course_metabindings_sample.csv links the meta courses as enrol_meta does; unresolved courses are row errors', async () => {
    const content = sample('course_metabindings_sample.csv');
    await log.mark();
    const t0 = now();
    const r = await run('metas', 'metacourses.csv', content);
    assert.deepEqual(r.rows, { total: 7, applied: 4, failed: 3, skipped: 0 });
    const text = await report(r.report);
    assert.match(text, /line 2: applied: meta link MASTER1 \(id \d+\) -> META10 \(id \d+\) created \(instance \d+\): 3 enrolled, 2 role\(s\) assigned; enabled the meta link enrolment plugin/);
    assert.match(text, /line 3: applied: meta link MASTER1 .* -> META11 .* created/);
    assert.doesNotMatch(text.split('\n').filter((l) => !l.startsWith('line 2:')).join('\n'), /enabled the meta/, 'the plugin is enabled once');
    assert.match(text, /line 6: failed: master: no course with shortname "FAILED1"/);
    assert.match(text, /line 7: failed: meta: no course with shortname "FAILED1"/);
    assert.match(text, /line 8: failed: master: no course with shortname "FAILED1"; meta: no course with shortname "FAILED2"/);
    const lines = content.split('\n');
    assert.equal((await report(r.tryback)).replace(/\n$/, ''), [lines[0], ...lines.slice(5)].join('\n').replace(/\n$/, ''));

    // enable an enrol plugin (moodle-writes.md): config, config_log, dirtycontexts /1.
    const [enabled] = await rows(sb.db, "SELECT value FROM mdl_config WHERE name = 'enrol_plugins_enabled'");
    assert.equal(enabled.value, 'manual,guest,self,cohort,meta');
    const configLogs = await rows(sb.db, "SELECT userid, plugin, name, value, oldvalue, timemodified FROM mdl_config_log WHERE plugin = 'meta'");
    assert.deepEqual(configLogs.map((l) => [l.userid, l.plugin, l.name, l.value, l.oldvalue]), [[2, 'meta', 'enrol_plugins_enabled', '1', '0']]);
    recent(configLogs[0].timemodified, 'config_log.timemodified');
    assert.ok((await dirtyContexts()).includes('/1'));

    // meta link (moodle-writes.md): the enrol row, column by column.
    const inst = await metaInstance('MASTER1', 'META10');
    recent(inst.timecreated, 'enrol.timecreated');
    assert.deepEqual({ ...inst, id: 0, timecreated: 0, timemodified: 0 }, {
      id: 0, enrol: 'meta', status: 0, courseid: course.META10.id, sortorder: 3, name: null, enrolperiod: 0, enrolstartdate: 0, enrolenddate: 0,
      expirynotify: 0, expirythreshold: 0, notifyall: 0, password: null, cost: null, currency: null, roleid: 0, customint1: course.MASTER1.id,
      customint2: null, customint3: null, customint4: null, customint5: null, customint6: null, customint7: null, customint8: null,
      customchar1: null, customchar2: null, customchar3: null, customdec1: null, customdec2: null,
      customtext1: null, customtext2: null, customtext3: null, customtext4: null, timecreated: 0, timemodified: 0,
    });
    assert.equal(inst.timemodified, inst.timecreated);
    for (const [m, k] of [['MASTER1', 'META11'], ['MASTER2', 'META20'], ['MASTER2', 'META21']]) {
      const i = await metaInstance(m, k);
      assert.deepEqual([i.status, i.sortorder, i.roleid, i.customint2], [0, 3, 0, null], `${m} -> ${k}`);
    }
    // The master's enrolments as enrol_meta_sync makes them: status and dates from the parent; s3's parent enrolment is suspended.
    const start = parseMoodleTime('2026-09-01', 'Europe/London');
    const end = parseMoodleTime('2027-06-30 18:00:00', 'Europe/London');
    assert.ok(start.ok && end.ok);
    const [parentS2] = await rows(sb.db, "SELECT ue.timestart FROM mdl_user_enrolments ue JOIN mdl_enrol e ON e.id = ue.enrolid AND e.enrol = 'manual' WHERE e.courseid = ? AND ue.userid = ?", [course.MASTER1.id, uid.s2]);
    assert.deepEqual(await enrolmentsIn(inst.id), [
      [uid.s1, 0, start.value, end.value, 2],
      [uid.s2, 0, parentS2.timestart, 0, 2],
      [uid.s3, 1, 0, 0, 2],
    ]);
    const ue = await rows(sb.db, 'SELECT timecreated, timemodified FROM mdl_user_enrolments WHERE enrolid = ?', [inst.id]);
    ue.forEach((u) => { recent(u.timecreated, 'ue.timecreated'); assert.equal(u.timemodified, u.timecreated); });
    const roles = await metaRoles('META10');
    assert.deepEqual(roles.map((x) => [x.roleid, x.userid, x.component, x.itemid, x.sortorder, x.modifierid]), [
      [STUDENT, uid.s1, 'enrol_meta', inst.id, 0, 2],
      [EDITINGTEACHER, uid.s2, 'enrol_meta', inst.id, 0, 2],
    ]);
    const [parentS4] = await rows(sb.db, "SELECT ue.timestart FROM mdl_user_enrolments ue JOIN mdl_enrol e ON e.id = ue.enrolid AND e.enrol = 'manual' WHERE e.courseid = ? AND ue.userid = ?", [course.MASTER2.id, uid.s4]);
    assert.deepEqual(await enrolmentsIn((await metaInstance('MASTER2', 'META20')).id), [[uid.s4, 0, parentS4.timestart, 0, 2]]);
    const dirty = (await rows(sb.db, "SELECT name FROM mdl_cache_flags WHERE flagtype = 'accesslib/dirtyusers'")).map((d) => Number(d.name));
    for (const u of ['s1', 's2', 's3', 's4']) assert.ok(dirty.includes(uid[u]), `dirtyusers for ${u}`);

    // The event log: enabling the plugin (add_to_config_log), then per link add_instance and enrol_meta_sync's enrol_user and role_assign.
    const [configLog] = await rows(sb.db, "SELECT id FROM mdl_config_log WHERE plugin = 'meta'");
    const expected = [logRow('config_log_created', SYSTEM_CTX, Number(configLog.id), null, '{"name":"enrol_plugins_enabled","oldvalue":false,"value":1,"plugin":"meta"}')];
    for (const [master, meta, members] of [['MASTER1', 'META10', [['s1', STUDENT], ['s2', EDITINGTEACHER], ['s3', 0]]], ['MASTER1', 'META11', [['s1', STUDENT], ['s2', EDITINGTEACHER], ['s3', 0]]],
      ['MASTER2', 'META20', [['s4', STUDENT]]], ['MASTER2', 'META21', [['s4', STUDENT]]]] as const) {
      const link = await metaInstance(master, meta);
      expected.push(logRow('enrol_instance_created', ctxOf(meta), link.id, null, '{"enrol":"meta"}'));
      for (const [u] of members) expected.push(logRow('user_enrolment_created', ctxOf(meta), Number((await ueRow(link.id, uid[u])).id), uid[u], '{"enrol":"meta"}'));
      for (const [u, role] of members) {
        if (role) expected.push(logRow('role_assigned', ctxOf(meta), role, uid[u], `{"id":${await raId(meta, uid[u], role, 'enrol_meta')},"component":"enrol_meta","itemid":"${link.id}"}`));
      }
    }
    assert.deepEqual(await log.since(t0), expected);
  });

  it('del disables a link (roles go, enrolments stay); add revives it; other commands are row errors', async () => {
    const inst = await metaInstance('MASTER1', 'META10');
    const before = await enrolmentsIn(inst.id);
    const oldRoles = (await metaRoles('META10')).map((x) => x.id);
    await sb.db.query("DELETE FROM mdl_cache_flags WHERE flagtype = 'accesslib/dirtycontexts'");
    const file = 'master;meta;cmd\nMASTER1;META10;del\nMASTER2;META10;del\nMASTER1;META11;frob\n';
    await log.mark();
    let t0 = now();
    let r = await run('metas', 'metas-del.csv', file);
    assert.deepEqual(r.rows, { total: 3, applied: 1, failed: 1, skipped: 1 });
    const text = await report(r.report);
    assert.match(text, /line 2: applied: meta link MASTER1 .* -> META10 .* disabled \(instance \d+\): 2 role\(s\) removed/);
    assert.match(text, /line 3: skipped: meta link MASTER2 .* -> META10 .*: no such link, nothing to disable/);
    assert.match(text, /line 4: failed: cmd: "frob" is not a command; use add or del/);
    assert.equal(await report(r.tryback), 'master;meta;cmd\nMASTER1;META11;frob\n');
    const disabled = await metaInstance('MASTER1', 'META10');
    assert.equal(disabled.status, 1);
    recent(disabled.timemodified, 'enrol.timemodified');
    assert.deepEqual(await metaRoles('META10'), []);
    assert.deepEqual(await enrolmentsIn(inst.id), before, 'user_enrolments untouched');
    assert.deepEqual(await dirtyContexts(), [course.META10.path]);
    // update_status, then the sync removing the link's roles (from the deleted rows: strings); the skipped and failed rows log nothing.
    assert.deepEqual(await log.since(t0), [
      logRow('enrol_instance_updated', ctxOf('META10'), inst.id, null, '{"enrol":"meta"}'),
      unassigned('META10', STUDENT, uid.s1, Number(oldRoles[0]), 'enrol_meta', inst.id),
      unassigned('META10', EDITINGTEACHER, uid.s2, Number(oldRoles[1]), 'enrol_meta', inst.id),
    ]);

    t0 = now();
    r = await run('metas', 'metas-add.csv', 'master;meta\nMASTER1;META10\nMASTER1;META11\n');
    assert.deepEqual(r.rows, { total: 2, applied: 1, failed: 0, skipped: 1 });
    assert.match(await report(r.report), /line 2: applied: meta link MASTER1 .* -> META10 .* revived \(instance \d+ enabled\): 2 role\(s\) assigned\n/);
    assert.match(await report(r.report), /line 3: skipped: meta link MASTER1 .* -> META11 .* already active \(instance \d+\): nothing to sync/);
    assert.equal((await metaInstance('MASTER1', 'META10')).status, 0);
    const roles = await metaRoles('META10');
    assert.deepEqual(roles.map((x) => [x.roleid, x.userid, x.component, x.itemid]), [[STUDENT, uid.s1, 'enrol_meta', inst.id], [EDITINGTEACHER, uid.s2, 'enrol_meta', inst.id]]);
    assert.ok(roles.every((x) => !oldRoles.includes(x.id)), 'new role assignments');
    assert.deepEqual(await log.since(t0), [
      logRow('enrol_instance_updated', ctxOf('META10'), inst.id, null, '{"enrol":"meta"}'),
      logRow('role_assigned', ctxOf('META10'), STUDENT, uid.s1, `{"id":${roles[0].id},"component":"enrol_meta","itemid":"${inst.id}"}`),
      logRow('role_assigned', ctxOf('META10'), EDITINGTEACHER, uid.s2, `{"id":${roles[1].id},"component":"enrol_meta","itemid":"${inst.id}"}`),
    ], 'the active link synced nothing and logs nothing');
  });

  it('check reports exists / missing and writes nothing to Moodle', async () => {
    const before = await snapshotTables(sb.db);
    // Reference 5.1.3: a line is `<identifier>[;<description>]`; more fields are a row error.
    const r = await run('check', 'courses.csv', 'TESTCOURSE1\nNOPE99;the old physics course\n# a comment\nMASTER1\nMASTER2;a;b\n');
    assert.deepEqual(r.rows, { total: 4, applied: 2, failed: 1, skipped: 1 });
    assert.match(await report(r.report), /line 5: failed: line 5: 3 values for 2 columns/);
    const text = await report(r.report);
    assert.match(text, new RegExp(`line 1: applied: exists: shortname "TESTCOURSE1" is course ${course.TESTCOURSE1.id}, TESTCOURSE1 "Test course for creation 1"`));
    assert.match(text, /line 2: skipped: missing: no course with shortname "NOPE99"/);
    assert.match(text, /line 4: applied: exists: shortname "MASTER1"/);
    assert.deepEqual([...diffSnapshots(before, await snapshotTables(sb.db)).keys()], []);
  });

  it('step 11: course_delete_sample.csv deletes TESTCOURSE1..3 with everything Moodle deletes', async () => {
    const t1 = course.TESTCOURSE1;
    // What other tools and Moodle pages add to a course: a plain role, a grouping, the forum's module context with a role in it, a cohort instance, ...
    await sb.db.query("INSERT INTO mdl_role_assignments (roleid, contextid, userid, timemodified, modifierid, component, itemid, sortorder) VALUES (?, ?, ?, 0, 2, '', 0, 0)", [TEACHER, t1.contextid, uid.s3]);
    const [red] = await rows(sb.db, "SELECT id FROM mdl_groups WHERE courseid = ? AND name = 'Red'", [t1.id]);
    const [grouping] = await sb.db.query<ResultSetHeader>("INSERT INTO mdl_groupings (courseid, name, idnumber, description, descriptionformat, configdata, timecreated, timemodified) VALUES (?, 'G', '', '', 1, NULL, 0, 0)", [t1.id]);
    await sb.db.query('INSERT INTO mdl_groupings_groups (groupingid, groupid, timeadded) VALUES (?, ?, 0)', [grouping.insertId, red.id]);
    const [cm] = await rows(sb.db, 'SELECT id FROM mdl_course_modules WHERE course = ?', [t1.id]);
    assert.ok(cm, 'TESTCOURSE1 has its news forum');
    const [modctx] = await sb.db.query<ResultSetHeader>('INSERT INTO mdl_context (contextlevel, instanceid, path, depth, locked) VALUES (70, ?, NULL, ?, 0)', [cm.id, t1.path.split('/').length]);
    await sb.db.query('UPDATE mdl_context SET path = ? WHERE id = ?', [`${t1.path}/${modctx.insertId}`, modctx.insertId]);
    await sb.db.query("INSERT INTO mdl_role_assignments (roleid, contextid, userid, timemodified, modifierid, component, itemid, sortorder) VALUES (?, ?, ?, 0, 2, '', 0, 0)", [TEACHER, modctx.insertId, uid.s2]);
    await sb.db.query("INSERT INTO mdl_role_names (roleid, contextid, name) VALUES (5, ?, 'Learner')", [t1.contextid]);
    await sb.db.query('INSERT INTO mdl_user_lastaccess (userid, courseid, timeaccess) VALUES (?, ?, 0)', [uid.s1, t1.id]);
    await sb.db.query("INSERT INTO mdl_favourite (component, itemtype, itemid, contextid, userid, ordering, timecreated, timemodified) VALUES ('core_course', 'courses', ?, ?, ?, NULL, 0, 0)", [t1.id, t1.contextid, uid.s1]);
    const t2 = course.TESTCOURSE2;
    const [cohort] = await rows(sb.db, "SELECT id FROM mdl_cohort WHERE idnumber = 'C1'");
    const [ci] = await sb.db.query<ResultSetHeader>("INSERT INTO mdl_enrol (enrol, status, courseid, sortorder, roleid, customint1, customint2, timecreated, timemodified) VALUES ('cohort', 0, ?, 3, 5, ?, 0, 0, 0)", [t2.id, cohort.id]);
    await sb.db.query('INSERT INTO mdl_user_enrolments (status, enrolid, userid, timestart, timeend, modifierid, timecreated, timemodified) VALUES (0, ?, ?, 0, 0, 2, 0, 0)', [ci.insertId, uid.s4]);
    await sb.db.query("INSERT INTO mdl_role_assignments (roleid, contextid, userid, timemodified, modifierid, component, itemid, sortorder) VALUES (5, ?, ?, 0, 2, 'enrol_cohort', ?, 0)", [t2.contextid, uid.s4, ci.insertId]);
    await sb.db.query("INSERT INTO mdl_course_modules (course, module, instance, section, added) SELECT ?, id, 999, 0, 0 FROM mdl_modules WHERE name = 'assign'", [course.GUARDED.id]);
    await sb.db.query("DELETE FROM mdl_cache_flags WHERE flagtype LIKE 'accesslib/%'");

    const doomed = ['TESTCOURSE1', 'TESTCOURSE2', 'TESTCOURSE3'].map((s) => course[s]);
    const ids = doomed.map((c) => c.id);
    const [tests] = await rows(sb.db, 'SELECT id, sortorder FROM mdl_course_categories WHERE id = ?', [t1.category]);
    // What the event log needs of the rows about to go.
    const instances = { t1: await instancesOf('TESTCOURSE1'), t2: await instancesOf('TESTCOURSE2'), t3: await instancesOf('TESTCOURSE3') };
    const s1ue = await ueRow(Number(instances.t1[0].id), uid.s1);
    const s4ue = await ueRow(ci.insertId, uid.s4);
    const ras = { s1: await raId('TESTCOURSE1', uid.s1, STUDENT), s3: await raId('TESTCOURSE1', uid.s3, TEACHER), s4: await raId('TESTCOURSE2', uid.s4, STUDENT, 'enrol_cohort') };
    await log.mark();
    const t0 = now();
    const r = await run('delete', 'deletecourses.csv', sample('course_delete_sample.csv'));
    assert.deepEqual(r.rows, { total: 3, applied: 3, failed: 0, skipped: 0 });
    const text = await report(r.report);
    for (const [n, s] of [[1, 'TESTCOURSE1'], [2, 'TESTCOURSE2'], [3, 'TESTCOURSE3']]) {
      assert.match(text, new RegExp(`line ${n}: applied: deleted ${s} \\(id ${course[s as string].id}\\) "Test course for creation ${n}"`));
    }
    // Nothing of theirs is left in the tables we write.
    const ctxIds = (await rows(sb.db, 'SELECT id FROM mdl_context WHERE id IN (?) OR path LIKE ? OR path LIKE ? OR path LIKE ?', [doomed.map((c) => c.contextid), ...doomed.map((c) => `${c.path}/%`)]));
    assert.deepEqual(ctxIds, [], 'contexts (course and module) deleted');
    for (const [table, col] of [['course', 'id'], ['course_sections', 'course'], ['course_format_options', 'courseid'], ['course_modules', 'course'], ['forum', 'course'],
      ['enrol', 'courseid'], ['groups', 'courseid'], ['groupings', 'courseid'], ['user_lastaccess', 'courseid'], ['grade_items', 'courseid'], ['grade_categories', 'courseid']]) {
      assert.deepEqual(await rows(sb.db, `SELECT id FROM mdl_${table} WHERE ${col} IN (?)`, [ids]), [], `${table} emptied`);
    }
    for (const table of ['role_assignments', 'role_names', 'favourite']) {
      assert.deepEqual(await rows(sb.db, `SELECT id FROM mdl_${table} WHERE contextid IN (?)`, [[...doomed.map((c) => c.contextid), modctx.insertId]]), [], `${table} emptied`);
    }
    assert.deepEqual(await rows(sb.db, 'SELECT id FROM mdl_groupings_groups WHERE groupingid = ? OR groupid = ?', [grouping.insertId, red.id]), []);
    assert.deepEqual(await rows(sb.db, 'SELECT id FROM mdl_groups_members WHERE groupid = ?', [red.id]), []);
    assert.deepEqual(await rows(sb.db, 'SELECT id FROM mdl_user_enrolments WHERE enrolid = ?', [ci.insertId]), [], 'the cohort instance enrolments');
    assert.equal((await rows(sb.db, 'SELECT id FROM mdl_cohort_members WHERE cohortid = ?', [cohort.id])).length, 1, 'the cohort itself stays');
    // What Moodle leaves: grade history of the course grade category and item it makes and deletes, dirty flags.
    const cats = await rows(sb.db, 'SELECT * FROM mdl_grade_categories_history WHERE courseid IN (?) ORDER BY id', [ids]);
    assert.equal(cats.length, 9);
    const first = cats.filter((c) => c.courseid === t1.id);
    assert.deepEqual(first.map((c) => [c.action, c.source, c.depth, c.path, c.parent, c.fullname, c.aggregation, c.aggregateonlygraded, c.loggeduser]), [
      [1, 'system', 0, null, null, '?', 13, 1, 2],
      [2, 'system', 1, `/${first[0].oldid}/`, null, '?', 13, 1, 2],
      [3, 'coursedelete', 1, `/${first[0].oldid}/`, null, '?', 13, 1, 2],
    ]);
    assert.ok(first.every((c) => c.oldid === first[0].oldid));
    const items = await rows(sb.db, 'SELECT * FROM mdl_grade_items_history WHERE courseid = ? ORDER BY id', [t1.id]);
    assert.deepEqual(items.map((i) => [i.action, i.source, i.itemtype, i.iteminstance, i.gradetype, i.grademax, i.grademin, i.sortorder, i.needsupdate, i.loggeduser]), [
      [1, 'system', 'course', first[0].oldid, 1, '100.00000', '0.00000', 1, 1, 2],
      [3, 'coursedelete', 'course', first[0].oldid, 1, '100.00000', '0.00000', 1, 1, 2],
    ]);
    assert.deepEqual((await dirtyContexts()).sort(), doomed.map((c) => c.path).sort());
    const dirty = (await rows(sb.db, "SELECT name FROM mdl_cache_flags WHERE flagtype = 'accesslib/dirtyusers'")).map((d) => Number(d.name)).sort();
    assert.deepEqual(dirty, [uid.s1, uid.s2, uid.s3, uid.s4].sort(), 'every user who had a role or an enrolment there');
    // fix_course_sortorder: coursecount recounted, the category's courses numbered from its sortorder + 1.
    const left = await rows(sb.db, 'SELECT id, sortorder FROM mdl_course WHERE category = ? ORDER BY sortorder', [t1.category]);
    assert.equal(left.length, 6);
    assert.deepEqual(left.map((c) => c.sortorder), [1, 2, 3, 4, 5, 6].map((i) => Number(tests.sortorder) + i));
    assert.equal((await rows(sb.db, 'SELECT coursecount FROM mdl_course_categories WHERE id = ?', [t1.category]))[0].coursecount, 6);

    // The event log, course by course as delete_course logs (moodle-writes.md, without the recycle bin): the gradebook, each
    // enrolled user's unenrol_user then enrol_instance_deleted per instance (sortorder), the plain role left, groupings, groups,
    // remove_course_contents, the course. The module context's role goes with its context, unlogged.
    const gone = (key: keyof typeof instances, shortname: string) => instances[key].map((e) => logRow('enrol_instance_deleted', ctxOf(shortname), Number(e.id), null, `{"enrol":"${e.enrol}"}`));
    assert.deepEqual(await log.since(t0), [
      ...await gradeEvents('TESTCOURSE1'),
      unassigned('TESTCOURSE1', STUDENT, uid.s1, ras.s1),
      logRow('group_member_removed', ctxOf('TESTCOURSE1'), Number(red.id), uid.s1, 'null'),
      logRow('user_enrolment_deleted', ctxOf('TESTCOURSE1'), Number(s1ue.id), uid.s1, deletedUe(s1ue, t1.id, 'manual')),
      ...gone('t1', 'TESTCOURSE1'),
      unassigned('TESTCOURSE1', TEACHER, uid.s3, ras.s3),
      logRow('grouping_deleted', ctxOf('TESTCOURSE1'), grouping.insertId, null, 'null'),
      logRow('group_deleted', ctxOf('TESTCOURSE1'), Number(red.id), null, 'null'),
      ...courseGone('TESTCOURSE1', 'Test course for creation 1'),
      ...await gradeEvents('TESTCOURSE2'),
      ...gone('t2', 'TESTCOURSE2').slice(0, 3),
      unassigned('TESTCOURSE2', STUDENT, uid.s4, ras.s4, 'enrol_cohort', ci.insertId),
      logRow('user_enrolment_deleted', ctxOf('TESTCOURSE2'), Number(s4ue.id), uid.s4, deletedUe(s4ue, t2.id, 'cohort')),
      ...gone('t2', 'TESTCOURSE2').slice(3),
      ...courseGone('TESTCOURSE2', 'Test course for creation 2'),
      ...await gradeEvents('TESTCOURSE3'),
      ...gone('t3', 'TESTCOURSE3'),
      ...courseGone('TESTCOURSE3', 'Test course for creation 3'),
    ]);
    assert.deepEqual(instances.t2.map((e) => e.enrol), ['manual', 'guest', 'self', 'cohort']);

  });

  it('deleting a master detaches its meta links as enrol_meta does; unknown and undeletable courses are row errors', async () => {
    const links = [await metaInstance('MASTER2', 'META20'), await metaInstance('MASTER2', 'META21')];
    const m2 = await instancesOf('MASTER2');
    const s4ue = await ueRow(Number(m2[0].id), uid.s4);
    const s4ra = await raId('MASTER2', uid.s4, STUDENT);
    const linked = await Promise.all(links.map(async (l, i) => {
      const meta = i ? 'META21' : 'META20';
      return { meta, ue: Number((await ueRow(l.id, uid.s4)).id), ra: await raId(meta, uid.s4, STUDENT, 'enrol_meta') };
    }));
    await log.mark();
    const t0 = now();
    const r = await run('delete', 'deletecourses-2.csv', 'GUARDED\nNOPE99\nMASTER2\n');
    assert.deepEqual(r.rows, { total: 3, applied: 1, failed: 2, skipped: 0 });
    const text = await report(r.report);
    assert.match(text, /line 1: failed: GUARDED \(id \d+\) not deleted: it holds activities assign ×1, which moodle-sync does not delete; delete it in Moodle/);
    assert.match(text, /line 2: failed: identifier: no course with shortname "NOPE99"/);
    assert.equal(await report(r.tryback), 'GUARDED\nNOPE99\n');
    assert.ok((await rows(sb.db, 'SELECT id FROM mdl_course WHERE id = ?', [course.GUARDED.id])).length, 'GUARDED stays');
    // enrol_meta's course_deleted observer with unenrolaction 3: links disabled, enrolments suspended, their roles removed.
    assert.match(text, /line 3: applied: deleted MASTER2 .*; meta link in META20 disabled \(1 suspended, 1 role\(s\) removed\); meta link in META21 disabled \(1 suspended, 1 role\(s\) removed\)/);
    for (const [i, l] of links.entries()) {
      const [now1] = await rows(sb.db, 'SELECT status, customint1 FROM mdl_enrol WHERE id = ?', [l.id]);
      assert.deepEqual([now1.status, now1.customint1], [1, l.customint1]);
      assert.deepEqual((await enrolmentsIn(l.id)).map((e) => [e[0], e[1]]), [[uid.s4, 1]]);
      assert.deepEqual(await metaRoles(i ? 'META21' : 'META20'), []);
    }
    // The master's deletion, then enrol_meta's course_deleted observer per link: update_status, the sync suspending and removing roles.
    assert.deepEqual(await log.since(t0), [
      ...await gradeEvents('MASTER2'),
      unassigned('MASTER2', STUDENT, uid.s4, s4ra),
      logRow('user_enrolment_deleted', ctxOf('MASTER2'), Number(s4ue.id), uid.s4, deletedUe(s4ue, course.MASTER2.id, 'manual')),
      ...m2.map((e) => logRow('enrol_instance_deleted', ctxOf('MASTER2'), Number(e.id), null, `{"enrol":"${e.enrol}"}`)),
      ...courseGone('MASTER2', 'Test course for metacourse mastering 1'),
      ...linked.flatMap((l, i) => [
        logRow('enrol_instance_updated', ctxOf(l.meta), links[i].id, null, '{"enrol":"meta"}'),
        logRow('user_enrolment_updated', ctxOf(l.meta), l.ue, uid.s4, '{"enrol":"meta"}'),
        unassigned(l.meta, STUDENT, uid.s4, l.ra, 'enrol_meta', links[i].id),
      ]),
    ], 'the failed rows log nothing');
  });

  it('a course created and then deleted leaves no row behind (full table comparison, logs aside)', async () => {
    await sb.db.query('DELETE FROM mdl_course_modules WHERE course = ? AND instance = 999', [course.GUARDED.id]);
    const r = await run('delete', 'deletecourses-all.csv', 'MASTER1\nMETA10\nMETA11\nMETA20\nMETA21\nGUARDED\n');
    assert.deepEqual(r.rows, { total: 6, applied: 6, failed: 0, skipped: 0 });
    const diff = diffSnapshots(s0, await snapshotTables(sb.db));
    const deletedIds = new Set(Object.values(course).map((c) => c.id));
    const newCategories = new Set<number>();
    for (const [table, d] of diff) {
      const where = `${table}: ${JSON.stringify(d).slice(0, 600)}`;
      switch (table) {
        case 'grade_items_history':
        case 'grade_categories_history':
          // Kept by Moodle's delete_course: only rows added, all of deleted courses.
          assert.ok(!d.removed.length && !d.changed.length && d.added.every((x) => deletedIds.has(Number(x.courseid))), where);
          assert.equal(d.added.length, deletedIds.size * (table === 'grade_items_history' ? 2 : 3), where);
          break;
        case 'cache_flags':
          assert.ok(!d.removed.length && [...d.added, ...d.changed.map((c) => c.after)].every((x) => String(x.flagtype).startsWith('accesslib/')), where);
          break;
        case 'config':
          assert.deepEqual(d.changed.map((c) => [c.after.name, changedColumns(c)]), [['enrol_plugins_enabled', ['value']]], where);
          assert.ok(!d.added.length && !d.removed.length, where);
          break;
        case 'config_log':
          assert.deepEqual(d.added.map((x) => [x.plugin, x.name]), [['meta', 'enrol_plugins_enabled']], where);
          break;
        case 'course_categories':
          // The categories course_create_sample.csv made stay, empty.
          assert.ok(!d.removed.length && !d.changed.length && d.added.every((x) => Number(x.coursecount) === 0), where);
          d.added.forEach((x) => newCategories.add(Number(x.id)));
          break;
        case 'context':
          assert.ok(!d.removed.length && !d.changed.length && d.added.every((x) => Number(x.contextlevel) === 40), where);
          break;
        case 'course':
          // Only the site course, whose sortorder fix_course_sortorder sets to 1.
          assert.deepEqual(d.changed.map((c) => [c.after.id, changedColumns(c)]), [[1, ['sortorder']]], where);
          assert.ok(!d.added.length && !d.removed.length, where);
          break;
        default:
          assert.fail(`a row left behind or changed in ${where}`);
      }
    }
    assert.ok(newCategories.size > 0, 'the sample made its categories');
    assert.equal((await rows(sb.db, 'SELECT id FROM mdl_context WHERE contextlevel = 40 AND instanceid IN (?)', [[...newCategories]])).length, newCategories.size);
  });
});
