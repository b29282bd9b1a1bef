/**
 * The cohorts tool through the real path (CLI, worker, Temporal dev server, the Moodle database):
 * the original's scenario on its samples (reference 11.1 steps 6 and 7, with its settings), the
 * rows compared table by table with moodle-writes.md (create a cohort, add a cohort member,
 * cohort enrolment with and without a group, remove a member under each unenrolaction, delete a
 * cohort that courses use), binding commands, and row errors (report and tryback). The event log
 * rows (logstore_standard_log) of each of these are compared column by column, in log order.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import type { RowDataPacket } from 'mysql2';
import { openSandbox, runToolFile, storeText, type Sandbox } from './support/sandbox';
import { createCourse, rows } from './support/moodle';
import { LogReader, SYSTEM_CTX, categoryCtx, courseCtx, logRow } from './support/logstore';
import { samplesDir } from '../scripts/fixture';
import { parseMoodleTime } from '../activities/moodle/time';
import { openMoodleDb, type MoodleDb } from '../activities/moodle/db';
import { setSetting } from '../activities/settings/store';

const EDITINGTEACHER = 3;
const TEACHER = 4;
const STUDENT = 5;
const GROUPED = ['UGR1', 'UGR2', 'UGR3', 'UGR4', 'UGR11', 'UGR12', 'UGR13', 'UGR14'];
const nowSec = () => Math.floor(Date.now() / 1000);

describe('cohorts tool', () => {
  let sb: Sandbox;
  let moodle: MoodleDb;
  const uid: Record<string, number> = {}; // by idnumber
  const course: Record<string, Awaited<ReturnType<typeof createCourse>>> = {};

  const sample = (name: string) => fsp.readFile(path.join(samplesDir(), name), 'utf8');
  const run = async (op: 'members' | 'bindings', name: string, content: string) => {
    const t0 = nowSec();
    const r = await runToolFile(sb, 'cohorts', name, content, ['--op', op]);
    assert.equal(r.status, 'completed', JSON.stringify(r));
    return { ...r, t0, t1: nowSec() };
  };
  const runSample = async (op: 'members' | 'bindings', name: string) => run(op, name, await sample(name));
  /** Settings through the store's own validation (what `moodle-sync config set` runs), without a CLI process each. */
  const setting = async (pairs: Record<string, string>) => {
    for (const [k, v] of Object.entries(pairs)) await setSetting(moodle, k, v);
  };
  /** enrol_cohort's own setting (Moodle's, not ours): written as the admin page would. */
  const unenrolAction = (v: number) => sb.db.query("UPDATE mdl_config_plugins SET value = ? WHERE plugin = 'enrol_cohort' AND name = 'unenrolaction'", [String(v)]);
  const report = (p: string) => storeText(sb, p);
  const cohorts = async () => (await rows(sb.db, 'SELECT * FROM mdl_cohort ORDER BY id'));
  const cohort = async (idnumber: string) => (await rows(sb.db, 'SELECT * FROM mdl_cohort WHERE idnumber = ?', [idnumber]))[0];
  /** idnumber -> member idnumbers, sorted. */
  const memberships = async () => {
    const r = await rows(sb.db, `SELECT c.idnumber AS c, u.idnumber AS u FROM mdl_cohort_members m JOIN mdl_cohort c ON c.id = m.cohortid JOIN mdl_user u ON u.id = m.userid ORDER BY c.idnumber, u.idnumber`);
    const out: Record<string, string[]> = {};
    for (const m of r) (out[m.c] ??= []).push(m.u);
    return out;
  };
  const instances = async (cohortid: number) => rows(sb.db, "SELECT * FROM mdl_enrol WHERE enrol = 'cohort' AND customint1 = ? ORDER BY id", [cohortid]);
  const enrolmentsOf = async (enrolid: number) => rows(sb.db, 'SELECT * FROM mdl_user_enrolments WHERE enrolid = ? ORDER BY userid', [enrolid]);
  const rolesOf = async (itemid: number) => rows(sb.db, "SELECT * FROM mdl_role_assignments WHERE component = 'enrol_cohort' AND itemid = ? ORDER BY userid", [itemid]);
  const ids = (...idnumbers: string[]) => idnumbers.map((i) => uid[i]).sort((a, b) => a - b);
  const within = (t: unknown, r: { t0: number; t1: number }, what: string) => assert.ok(Number(t) >= r.t0 && Number(t) <= r.t1, `${what}: ${t} not within ${r.t0}..${r.t1}`);

  // ---- event log: what enrol_cohort's API and observers log (moodle-writes "cohort enrolment" and after) ----
  let log: LogReader;
  const ctxOf = (courseid: unknown) => courseCtx(Object.values(course).find((c) => c.id === Number(courseid))!);
  const COHORT_ENROL = '{"enrol":"cohort"}';
  /** role_assign(…, 'enrol_cohort', $instance->id): the new id as an integer, the instance id as the string the database gave. */
  const raOther = (raid: unknown, inst: unknown) => `{"id":${raid},"component":"enrol_cohort","itemid":"${inst}"}`;
  /** role_unassign_all: every value from the deleted record, so strings. */
  const raGone = (raid: unknown, inst: unknown) => `{"id":"${raid}","component":"enrol_cohort","itemid":"${inst}"}`;
  const gmOther = (inst: unknown) => `{"component":"enrol_cohort","itemid":"${inst}"}`;
  /** unenrol_user: the deleted row's columns as strings, then courseid, enrol, lastenrol. */
  const ueGone = (ue: Record<string, unknown>, courseid: unknown, last: boolean) => JSON.stringify({
    userenrolment: {
      ...Object.fromEntries(['id', 'status', 'enrolid', 'userid', 'timestart', 'timeend', 'modifierid', 'timecreated', 'timemodified'].map((c) => [c, String(ue[c])])),
      courseid: String(courseid), enrol: 'cohort', lastenrol: last,
    },
    enrol: 'cohort',
  });
  const enrolmentOf = async (enrolid: number, userid: number) => (await enrolmentsOf(enrolid)).find((u) => u.userid === userid);
  const roleOf = async (enrolid: number, userid: number) => (await rolesOf(enrolid)).find((a) => a.userid === userid);
  const membersByJoin = async (cohortid: number) => (await rows(sb.db, 'SELECT userid FROM mdl_cohort_members WHERE cohortid = ? ORDER BY id', [cohortid])).map((m) => Number(m.userid));
  /** An enrolled member's events in one instance: user_enrolment_created, role_assigned, then group_member_added with a group. */
  const enrolledEvents = async (e: Record<string, any>, userid: number) => {
    const ctx = ctxOf(e.courseid);
    const out = [
      logRow('user_enrolment_created', ctx, (await enrolmentOf(e.id, userid))!.id, userid, COHORT_ENROL),
      logRow('role_assigned', ctx, e.roleid, userid, raOther((await roleOf(e.id, userid))!.id, e.id)),
    ];
    if (e.customint2 > 0) out.push(logRow('group_member_added', ctx, e.customint2, userid, gmOther(e.id)));
    return out;
  };

  before(async () => {
    sb = await openSandbox('cohorts');
    moodle = openMoodleDb(sb.env.MOODLE_DB_URL!, 'mdl_', 'msync_');
    // Reference 11.1: users by username; cohorts: users by idnumber, cohorts by idnumber, roles and courses by shortname, autocreate on.
    await setting({
      storereport: '1', filearchive: '1', filefailed: '1', filecleanup: '0', users_primaryidentity: 'username',
      cohorts_useridentifier: 'idnumber', cohorts_cohortidentifier: 'idnumber', cohorts_roleidentifier: 'shortname', cohorts_courseidentifier: 'shortname', cohorts_autocreate: '1',
    });
    for (const c of ['TESTCOURSE1', 'TESTCOURSE2', 'TESTCOURSE3']) course[c] = await createCourse(sb.db, c);
    await sb.startWorker();
    // The accounts of reference 11.1 step 4 (user_update_sample.csv creates them with idnumbers U0001..U0005, UGR1..4, UGR11..14).
    const r = await runToolFile(sb, 'users', 'user_update_sample.csv', await sample('user_update_sample.csv'));
    assert.deepEqual(r.rows, { total: 13, applied: 13, failed: 0, skipped: 0 });
    for (const u of await rows(sb.db, "SELECT id, idnumber FROM mdl_user WHERE idnumber <> ''")) uid[u.idnumber] = Number(u.id);
    assert.equal(Object.keys(uid).length, 13);
    log = new LogReader(sb.db);
  });
  after(async () => {
    await moodle?.close();
    await sb?.close();
  });

  it('the samples by name: create by name, then delete members and whole cohorts by name held in cid', async () => {
    await setting({ cohorts_cohortidentifier: 'name' });
    let r = await runSample('members', 'cohort_create_sample_by_name.csv');
    assert.deepEqual(r.rows, { total: 8, applied: 8, failed: 0, skipped: 0 });
    assert.deepEqual((await cohorts()).map((c) => [c.name, c.idnumber, c.description]), [
      ['COHORT1', 'COH001', 'Teacher Cohort 1'], ['COHORT2', 'COH002', 'Generated Cohort 2'], ['COHORT3', 'COH003', 'Generated Cohort 3'], ['COHORT4', null, ''],
    ]);
    // The cohort_delete_sample.csv key column is cid, holding names: with identifier name it names the cohorts.
    r = await runSample('members', 'cohort_delete_sample.csv');
    assert.deepEqual(r.rows, { total: 5, applied: 5, failed: 0, skipped: 0 });
    assert.deepEqual((await cohorts()).map((c) => c.name), ['COHORT1', 'COHORT2']);
    assert.deepEqual(await memberships(), { COH002: ['U0004'] });
    const text = await report(r.report);
    assert.match(text, /line 2: applied: cohort "COHORT1" \(COH001\): user john\.doe removed/);
    assert.match(text, /line 5: applied: cohort "COHORT3" \(COH003\) deleted/);
    await setting({ cohorts_cohortidentifier: 'idnumber' });
  });

  describe("reference 11.1 step 6, in the scenario's order", () => {
    it('cohort_create_only.csv then, by name, cohort_delete_only_by_name.csv: no cohort left', async () => {
      let r = await runSample('members', 'cohort_create_only.csv');
      assert.deepEqual(r.rows, { total: 5, applied: 5, failed: 0, skipped: 0 });
      assert.deepEqual((await cohorts()).map((c) => [c.name, c.idnumber]).sort(), [
        ['COHORT1', 'COH001'], ['COHORT2', 'COH002'], ['COHORT3', 'COH003'], ['COHORT4', 'COH004'], ['GROUPEDUSERS', 'COHGRP']]);
      await setting({ cohorts_cohortidentifier: 'name' });
      r = await runSample('members', 'cohort_delete_only_by_name.csv');
      assert.deepEqual(r.rows, { total: 5, applied: 5, failed: 0, skipped: 0 });
      assert.deepEqual(await cohorts(), []);
      assert.equal((await rows(sb.db, 'SELECT * FROM mdl_cohort_members')).length, 0);
      await setting({ cohorts_cohortidentifier: 'idnumber' });
    });

    it('recreated (every column as cohort_add_cohort writes it), then cohort_delete_only_by_idnumber.csv: no cohort left; cohort_created and cohort_deleted each', async () => {
      await log.mark();
      let r = await runSample('members', 'cohort_create_only.csv');
      assert.deepEqual(r.rows, { total: 5, applied: 5, failed: 0, skipped: 0 });
      const all = await cohorts();
      assert.equal(all.length, 5);
      // moodle-writes "create a cohort": contextid 1, visible 1, component '', theme '', timecreated = timemodified = now.
      const { id, timecreated, timemodified, ...rest } = all[0];
      assert.deepEqual(rest, { contextid: 1, name: 'COHORT1', idnumber: 'COH001', description: 'Teacher Cohort 1', descriptionformat: 0, visible: 1, component: '', theme: '' });
      within(timecreated, r, 'timecreated');
      assert.equal(timemodified, timecreated);
      assert.match(await report(r.report), /line 2: applied: cohort "COHORT1" \(COH001\) created/);
      // cohort_add_cohort in the system context, in file order.
      assert.deepEqual(await log.since(r.t0), all.map((c) => logRow('cohort_created', SYSTEM_CTX, c.id, null, 'null')));
      r = await runSample('members', 'cohort_delete_only_by_idnumber.csv');
      assert.deepEqual(r.rows, { total: 5, applied: 5, failed: 0, skipped: 0 });
      assert.deepEqual(await cohorts(), []);
      assert.deepEqual(await log.since(r.t0), all.map((c) => logRow('cohort_deleted', SYSTEM_CTX, c.id, null, 'null')));
    });

    const full = {
      COH001: ['U0001', 'U0002'], COH002: ['U0003', 'U0004'], COH003: ['U0004', 'U0005'], COH004: ['U0001', 'U0004'], COHGRP: [...GROUPED].sort(),
    };

    it('cohort_create_sample.csv: cohorts and memberships', async () => {
      const r = await runSample('members', 'cohort_create_sample.csv');
      assert.deepEqual(r.rows, { total: 16, applied: 16, failed: 0, skipped: 0 });
      assert.deepEqual(await memberships(), full);
      assert.equal((await cohort('COH002')).description, 'Generated Cohort 2', 'an empty cdescription keeps the description');
      // moodle-writes "add a cohort member": cohortid, userid, timeadded = now.
      const [m] = await rows(sb.db, 'SELECT * FROM mdl_cohort_members WHERE userid = ? AND cohortid = ?', [uid.U0001, (await cohort('COH001')).id]);
      within(m.timeadded, r, 'timeadded');
      assert.match(await report(r.report), /line 3: applied: cohort "COHORT1" \(COH001\) exists; user amelie\.dupont added/);
    });

    it('cohort_free_cohorts_by_idnumber.csv empties them (cohort_member_removed each); cohort_add_members_by_idnumber.csv (no cmd: add) fills them again', async () => {
      const freed = [];
      for (const idnumber of ['COH001', 'COH002', 'COH003', 'COH004', 'COHGRP']) {
        const c = await cohort(idnumber);
        freed.push(...(await membersByJoin(c.id)).map((u) => logRow('cohort_member_removed', SYSTEM_CTX, c.id, u, 'null')));
      }
      await log.mark();
      let r = await runSample('members', 'cohort_free_cohorts_by_idnumber.csv');
      assert.deepEqual(r.rows, { total: 5, applied: 5, failed: 0, skipped: 0 });
      assert.deepEqual(await memberships(), {});
      assert.equal((await cohorts()).length, 5);
      assert.match(await report(r.report), /line 6: applied: cohort "GROUPEDUSERS" \(COHGRP\) freed: 8 members removed/);
      // cohort_remove_member for every member, in the order they joined; no enrolment follows the cohorts yet.
      assert.equal(freed.length, 16);
      assert.deepEqual(await log.since(r.t0), freed);
      r = await runSample('members', 'cohort_add_members_by_idnumber.csv');
      assert.deepEqual(r.rows, { total: 16, applied: 16, failed: 0, skipped: 0 });
      assert.deepEqual(await memberships(), full);
    });

    it('cohort_delete_members_by_idnumber.csv removes the members; the cohorts stay', async () => {
      const before = await cohort('COH001');
      const r = await runSample('members', 'cohort_delete_members_by_idnumber.csv');
      assert.deepEqual(r.rows, { total: 8, applied: 8, failed: 0, skipped: 0 });
      assert.deepEqual(await memberships(), { COHGRP: full.COHGRP });
      assert.equal((await cohorts()).length, 5);
      assert.deepEqual(await cohort('COH001'), before, 'moodle-writes: the cohort row is not touched');
    });
  });

  it('reference 11.1 step 7: cohort_bind_courses_sample.csv binds and enrols as enrol_cohort add_instance + sync write it', async () => {
    const r = await runSample('bindings', 'cohort_bind_courses_sample.csv');
    assert.deepEqual(r.rows, { total: 6, applied: 6, failed: 0, skipped: 0 });
    const grp = await cohort('COHGRP');
    const inst = await instances(grp.id);
    assert.deepEqual(inst.map((e) => [e.courseid, e.sortorder, e.roleid]), [[course.TESTCOURSE1.id, 4, STUDENT], [course.TESTCOURSE2.id, 4, STUDENT], [course.TESTCOURSE3.id, 4, STUDENT]]);
    const [coh1] = await instances((await cohort('COH001')).id);
    // moodle-writes "cohort enrolment": every column of the instance.
    const { id, timecreated, timemodified, ...rest } = coh1;
    assert.deepEqual(rest, {
      enrol: 'cohort', status: 0, courseid: course.TESTCOURSE1.id, sortorder: 3, name: null, enrolperiod: 0, enrolstartdate: 0, enrolenddate: 0,
      expirynotify: 0, expirythreshold: 0, notifyall: 0, password: null, cost: null, currency: null, roleid: TEACHER,
      customint1: (await cohort('COH001')).id, customint2: 0, customint3: null, customint4: null, customint5: null, customint6: null, customint7: null, customint8: null,
      customchar1: null, customchar2: null, customchar3: null, customdec1: null, customdec2: null, customtext1: null, customtext2: null, customtext3: null, customtext4: null,
    });
    within(timecreated, r, 'enrol.timecreated');
    assert.equal(timemodified, timecreated);
    // Every COHGRP member enrolled in the three courses: user_enrolments and role_assignments as the sync writes them.
    for (const e of inst) {
      const ues = await enrolmentsOf(e.id);
      assert.deepEqual(ues.map((u) => u.userid), ids(...GROUPED));
      for (const ue of ues) {
        const { id: _i, userid: _u, timecreated: tc, timemodified: tm, ...cols } = ue;
        assert.deepEqual(cols, { status: 0, enrolid: e.id, timestart: 0, timeend: 0, modifierid: 2 });
        within(tc, r, 'ue.timecreated');
        assert.equal(tm, tc);
      }
      const ras = await rolesOf(e.id);
      const ctx = Object.values(course).find((c) => c.id === e.courseid)!.contextid;
      assert.deepEqual(ras.map(({ id: _i, timemodified: _t, ...cols }) => cols), ids(...GROUPED).map((userid) => ({
        roleid: STUDENT, contextid: ctx, userid, modifierid: 2, component: 'enrol_cohort', itemid: e.id, sortorder: 0,
      })));
    }
    const dirty = await rows(sb.db, "SELECT name, value, expiry, timemodified FROM mdl_cache_flags WHERE flagtype = 'accesslib/dirtyusers' AND name IN (?)", [ids(...GROUPED).map(String)]);
    assert.equal(dirty.length, 8);
    for (const d of dirty) assert.equal(Number(d.expiry) - Number(d.timemodified), 28800);
    const text = await report(r.report);
    assert.match(text, /line 4: applied: add cohort "COHORT1" \(COH001\) in TESTCOURSE1 as teacher: binding created \(enrol instance \d+\); members in step/);
    assert.match(text, /line 7: applied: add cohort "GROUPEDUSERS" \(COHGRP\) in TESTCOURSE1 as student: binding created \(enrol instance \d+\); 8 enrolled, 8 roles assigned/);
  });

  it('members rows: a new member is enrolled at once in the courses that follow the cohort; row errors go to the report and the tryback', async () => {
    const file = [
      'cmd;cname;userid;cidnumber;ccatcontext',
      'add;GROUPEDUSERS;U0001;COHGRP;',
      'add;COHORT1;NOBODY;COH001;',
      'add;New cohort;NOBODY;COH100;',
      'del;;NOBODY;COHGRP;',
      'add;COHORT2;;COH200;',
      'add;Other;;;',
      'frob;X;;COH001;',
      'del;;;NOPE;',
      'add;Category cohort;;COH300;1',
      'add;Bad category;;COH301;999',
      'add;;U0001;COH400;',
      'add;COHORT3 renamed;;COH003;',
    ];
    await log.mark();
    const r = await run('members', 'members-rows.csv', `${file.join('\n')}\n`);
    assert.deepEqual(r.rows, { total: 12, applied: 3, failed: 9, skipped: 0 });
    const text = await report(r.report);
    assert.match(text, /line 2: applied: cohort "GROUPEDUSERS" \(COHGRP\) exists; user john\.doe added; enrolled in TESTCOURSE1 \(student\); enrolled in TESTCOURSE2 \(student\); enrolled in TESTCOURSE3 \(student\)/);
    assert.match(text, /line 3: failed: cohort "COHORT1" \(COH001\) exists; NOT DONE: userid: no user with idnumber "NOBODY"/);
    assert.match(text, /line 4: failed: cohort "New cohort" \(COH100\) created; NOT DONE: userid: no user with idnumber "NOBODY"/);
    assert.match(text, /line 5: failed: userid: no user with idnumber "NOBODY"; the cohort is kept/);
    assert.match(text, /line 6: failed: cname: conflict: cohort \d+ "COHORT2" \(COH002\) already has name "COHORT2" \(cohorts are identified by idnumber\)/);
    assert.match(text, /line 7: failed: cidnumber: empty \(cohorts are found by idnumber\)/);
    assert.match(text, /line 8: failed: cmd: "frob" is not a command; use add, del, free/);
    assert.match(text, /line 9: failed: cidnumber: no cohort with idnumber "NOPE"/);
    assert.match(text, /line 10: applied: cohort "Category cohort" \(COH300\) created/);
    assert.match(text, /line 11: failed: ccatcontext: no course category with id "999"/);
    assert.match(text, /line 12: failed: cname: empty; the new cohort idnumber "COH400" needs a name/);
    assert.match(text, /line 13: applied: cohort "COHORT3 renamed" \(COH003\) updated \(name\)/);
    assert.equal(await report(r.tryback), `${[file[0], ...file.slice(2, 9), file[10], file[11]].join('\n')}\n`);

    // Decision 13: the unknown user deleted nothing; the failed add kept its cohort (the reference's behaviour) but no member.
    assert.equal((await memberships()).COHGRP.length, 9);
    assert.ok(await cohort('COH100'));
    assert.equal((await rows(sb.db, 'SELECT * FROM mdl_cohort_members WHERE cohortid = ?', [(await cohort('COH100')).id])).length, 0);
    assert.equal((await cohort('COH300')).contextid, 3, 'the context of category 1');
    for (const gone of ['COH200', 'COH301', 'COH400']) assert.equal(await cohort(gone), undefined);

    // The observer's writes for john.doe, in each course that follows COHGRP.
    for (const e of await instances((await cohort('COHGRP')).id)) {
      const [ue] = (await enrolmentsOf(e.id)).filter((u) => u.userid === uid.U0001);
      assert.deepEqual([ue.status, ue.timestart, ue.timeend, ue.modifierid], [0, 0, 0, 2]);
      within(ue.timecreated, r, 'ue.timecreated');
      const ra = (await rolesOf(e.id)).filter((a) => a.userid === uid.U0001);
      assert.deepEqual(ra.map((a) => [a.roleid, a.component, a.itemid]), [[STUDENT, 'enrol_cohort', e.id]]);
    }

    // The log: cohort_member_added then, per instance that follows the cohort, the observer's enrolment and role;
    // a cohort created (kept though its member failed), one in a category context, one renamed. Rolled-back rows log nothing.
    const grp = await cohort('COHGRP');
    const expected = [logRow('cohort_member_added', SYSTEM_CTX, grp.id, uid.U0001, 'null')];
    for (const e of await instances(grp.id)) expected.push(...(await enrolledEvents(e, uid.U0001)));
    expected.push(
      logRow('cohort_created', SYSTEM_CTX, (await cohort('COH100')).id, null, 'null'),
      logRow('cohort_created', categoryCtx(1, 3), (await cohort('COH300')).id, null, 'null'),
      logRow('cohort_updated', SYSTEM_CTX, (await cohort('COH003')).id, null, 'null'),
    );
    assert.equal(expected.length, 10);
    assert.deepEqual(await log.since(r.t0), expected);
  });

  it('bindings rows: makegroup creates "<cohort> cohort" (numbered when taken), dates are honoured, row errors', async () => {
    await sb.db.query("INSERT INTO mdl_groups (courseid, idnumber, name, descriptionformat, timecreated, timemodified) VALUES (?, '', 'GROUPEDUSERS cohort', 1, 0, 0)", [course.TESTCOURSE3.id]);
    const file = [
      'cmd;cohort;course;role;makegroup;enrolstart;enrolend',
      'add;COHGRP;TESTCOURSE2;editingteacher;1;;',
      ';COHGRP;TESTCOURSE3;teacher;yes;2026-09-01;2027-06-30 18:00',
      'add;NOPE;TESTCOURSE1;student;;;',
      'add;COHGRP;NOPE;student;;;',
      'add;COHGRP;TESTCOURSE1;nosuchrole;;;',
      'add;COHGRP;TESTCOURSE1;*;;;',
      'add;COHGRP;TESTCOURSE1;student;maybe;;',
      'add;COHGRP;TESTCOURSE1;student;;2027-01-01;2026-01-01',
      'jump;COHGRP;TESTCOURSE1;student;;;',
      'add;COHGRP;TESTCOURSE1;student;;2026-02-30;',
    ];
    await log.mark();
    const r = await run('bindings', 'bindings-rows.csv', `${file.join('\n')}\n`);
    assert.deepEqual(r.rows, { total: 10, applied: 2, failed: 8, skipped: 0 });
    const text = await report(r.report);
    assert.match(text, /line 2: applied: add cohort "GROUPEDUSERS" \(COHGRP\) in TESTCOURSE2 as editingteacher: binding created \(enrol instance \d+\); group "GROUPEDUSERS cohort" created; 9 enrolled, 9 roles assigned, 9 added to the group/);
    assert.match(text, /line 3: applied: .*group "GROUPEDUSERS cohort \(2\)" created; 9 enrolled, 9 roles assigned, 9 added to the group/);
    assert.match(text, /line 4: failed: cohort: no cohort with idnumber "NOPE"/);
    assert.match(text, /line 5: failed: course: no course with shortname "NOPE"/);
    assert.match(text, /line 6: failed: role: no role with shortname "nosuchrole"/);
    assert.match(text, /line 7: failed: role: "\*" \(every role\) only applies to del, restore and fulldel/);
    assert.match(text, /line 8: failed: makegroup: "maybe" is not a yes\/no value/);
    assert.match(text, /line 9: failed: enrolend: "2026-01-01" is before enrolstart "2027-01-01"/);
    assert.match(text, /line 10: failed: cmd: "jump" is not a command; use add, del, restore, fulldel/);
    assert.match(text, /line 11: failed: enrolstart: "2026-02-30" is not a real date/);
    assert.equal(await report(r.tryback), `${[file[0], ...file.slice(3)].join('\n')}\n`);

    const grp = await cohort('COHGRP');
    const members = (await rows(sb.db, 'SELECT userid FROM mdl_cohort_members WHERE cohortid = ? ORDER BY userid', [grp.id])).map((m) => m.userid);
    const [t2] = (await instances(grp.id)).filter((e) => e.courseid === course.TESTCOURSE2.id && e.roleid === EDITINGTEACHER);
    // moodle-writes "cohort enrolment" with customint2 = -1: the group, then the instance holding its id.
    const [g] = await rows(sb.db, 'SELECT * FROM mdl_groups WHERE id = ?', [t2.customint2]);
    const { id: _g, timecreated, timemodified, ...gcols } = g;
    assert.deepEqual(gcols, {
      courseid: course.TESTCOURSE2.id, idnumber: '', name: 'GROUPEDUSERS cohort', description: null, descriptionformat: 0, enrolmentkey: null,
      picture: 0, visibility: 0, participation: 1,
    });
    within(timecreated, r, 'groups.timecreated');
    within(timemodified, r, 'groups.timemodified');
    assert.equal(t2.sortorder, 5);
    const gm = await rows(sb.db, 'SELECT * FROM mdl_groups_members WHERE groupid = ? ORDER BY userid', [g.id]);
    assert.deepEqual(gm.map(({ id: _i, timeadded: _t, ...cols }) => cols), members.map((userid) => ({ groupid: g.id, userid, component: 'enrol_cohort', itemid: t2.id })));
    for (const m of gm) within(m.timeadded, r, 'groups_members.timeadded');
    assert.deepEqual((await rolesOf(t2.id)).map((a) => [a.userid, a.roleid]), members.map((u) => [u, EDITINGTEACHER]));

    // Dates (decision 9, site time zone Europe/London): the instance's window, carried by its enrolments.
    const start = parseMoodleTime('2026-09-01', 'Europe/London');
    const end = parseMoodleTime('2027-06-30 18:00', 'Europe/London');
    assert.ok(start.ok && end.ok);
    const [t3] = (await instances(grp.id)).filter((e) => e.courseid === course.TESTCOURSE3.id && e.roleid === TEACHER);
    assert.deepEqual([t3.enrolstartdate, t3.enrolenddate], [start.value, end.value]);
    assert.equal((await rows(sb.db, 'SELECT name FROM mdl_groups WHERE id = ?', [t3.customint2]))[0].name, 'GROUPEDUSERS cohort (2)');
    assert.deepEqual((await enrolmentsOf(t3.id)).map((u) => [u.userid, u.timestart, u.timeend]), members.map((u) => [u, start.value, end.value]));

    // moodle-writes "cohort enrolment" with a new group: group_created, enrol_instance_created, then the sync's
    // user_enrolment_created for all, role_assigned for all, group_member_added for all. The failed rows log nothing.
    const expected = [];
    for (const e of [t2, t3]) {
      const ctx = ctxOf(e.courseid);
      const ues = await enrolmentsOf(e.id);
      expected.push(
        logRow('group_created', ctx, e.customint2, null, 'null'),
        logRow('enrol_instance_created', ctx, e.id, null, COHORT_ENROL),
        ...ues.map((ue) => logRow('user_enrolment_created', ctx, ue.id, ue.userid, COHORT_ENROL)),
        ...(await rolesOf(e.id)).map((ra) => logRow('role_assigned', ctx, e.roleid, ra.userid, raOther(ra.id, e.id))),
        ...ues.map((ue) => logRow('group_member_added', ctx, e.customint2, ue.userid, gmOther(e.id))),
      );
    }
    assert.equal(expected.length, 2 * (2 + 3 * 9));
    assert.deepEqual(await log.since(r.t0), expected);
  });

  it('removing a member follows enrol_cohort unenrolaction: 3 suspends and removes roles, 2 suspends only, 0 unenrols; adding back reactivates', async () => {
    const grp = await cohort('COHGRP');
    const [t1] = (await instances(grp.id)).filter((e) => e.courseid === course.TESTCOURSE1.id);
    const ue = async (user: string) => (await enrolmentsOf(t1.id)).find((u) => u.userid === uid[user])!;
    const roles = async (user: string) => (await rolesOf(t1.id)).filter((a) => a.userid === uid[user]).map((a) => a.roleid);
    // Every instance that follows COHGRP, by id (the order enrol_cohort_handler walks them).
    const followers = await instances(grp.id);
    assert.equal(followers.length, 5);
    const removed = (user: string) => logRow('cohort_member_removed', SYSTEM_CTX, grp.id, uid[user], 'null');
    const suspended = async (e: Record<string, any>, user: string) => logRow('user_enrolment_updated', ctxOf(e.courseid), (await enrolmentOf(e.id, uid[user]))!.id, uid[user], COHORT_ENROL);
    try {
      await unenrolAction(3);
      const held = await Promise.all(followers.map((e) => roleOf(e.id, uid.UGR1)));
      await log.mark();
      let r = await run('members', 'remove-3.csv', 'cmd;userid;cidnumber\ndel;UGR1;COHGRP\n');
      assert.equal(r.rows.applied, 1);
      // moodle-writes "remove a cohort member", 3: cohort_member_removed, then per instance user_enrolment_updated and role_unassigned.
      const expect3 = [removed('UGR1')];
      for (const [i, e] of followers.entries()) {
        expect3.push(await suspended(e, 'UGR1'), logRow('role_unassigned', ctxOf(e.courseid), e.roleid, uid.UGR1, raGone(held[i]!.id, e.id)));
      }
      assert.deepEqual(await log.since(r.t0), expect3);
      assert.deepEqual([(await ue('UGR1')).status, await roles('UGR1')], [1, []]);
      within((await ue('UGR1')).timemodified, r, 'ue.timemodified');
      const [t2] = (await instances(grp.id)).filter((e) => e.roleid === EDITINGTEACHER);
      assert.equal((await rows(sb.db, 'SELECT * FROM mdl_groups_members WHERE groupid = ? AND userid = ?', [t2.customint2, uid.UGR1])).length, 1, 'suspension keeps the group');
      assert.match(await report(r.report), /user ugr1 removed; enrolment suspended in TESTCOURSE1 \(student\); role removed in TESTCOURSE1 \(student\)/);

      await unenrolAction(2);
      await log.mark();
      r = await run('members', 'remove-2.csv', 'cmd;userid;cidnumber\nadd;UGR1;COHGRP\ndel;UGR2;COHGRP\n');
      // Adding back: user_enrolment_updated and a new role_assigned per instance; 2 suspends only.
      const expect2 = [logRow('cohort_member_added', SYSTEM_CTX, grp.id, uid.UGR1, 'null')];
      for (const e of followers) {
        expect2.push(await suspended(e, 'UGR1'), logRow('role_assigned', ctxOf(e.courseid), e.roleid, uid.UGR1, raOther((await roleOf(e.id, uid.UGR1))!.id, e.id)));
      }
      expect2.push(removed('UGR2'));
      for (const e of followers) expect2.push(await suspended(e, 'UGR2'));
      assert.deepEqual(await log.since(r.t0), expect2);
      assert.deepEqual([(await ue('UGR1')).status, await roles('UGR1')], [0, [STUDENT]], 'adding back reactivates and gives the role again');
      assert.deepEqual([(await ue('UGR2')).status, await roles('UGR2')], [1, [STUDENT]], 'unenrolaction 2 keeps the role');
      assert.match(await report(r.report), /line 2: applied: .*user ugr1 added; enrolment reactivated in TESTCOURSE1 \(student\)/);
    } finally {
      await unenrolAction(0);
    }
    await sb.db.query('UPDATE mdl_groups SET timemodified = 0');
    const ugr3 = await Promise.all(followers.map(async (e) => ({
      ue: (await enrolmentOf(e.id, uid.UGR3))!, ra: (await roleOf(e.id, uid.UGR3))!,
      gm: await rows(sb.db, "SELECT groupid FROM mdl_groups_members WHERE userid = ? AND component = 'enrol_cohort' AND itemid = ? ORDER BY id", [uid.UGR3, e.id]),
    })));
    await log.mark();
    // COH003 (bound to TESTCOURSE2 by the sample) gets a member for the deletion test below.
    const r = await run('members', 'remove-0.csv', 'cmd;userid;cidnumber\ndel;UGR3;COHGRP\nadd;U0004;COH003\nadd;U0005;COHGRP\n');
    assert.equal(await ue('UGR3'), undefined);
    assert.deepEqual(await roles('UGR3'), []);
    assert.equal((await rows(sb.db, "SELECT * FROM mdl_groups_members WHERE userid = ? AND component = 'enrol_cohort'", [uid.UGR3])).length, 0);
    for (const g of await rows(sb.db, "SELECT timemodified FROM mdl_groups WHERE name LIKE 'GROUPEDUSERS cohort%' AND timecreated > 0")) within(g.timemodified, r, 'groups.timemodified');
    assert.equal((await rows(sb.db, 'SELECT * FROM mdl_user_enrolments WHERE userid = ?', [uid.UGR3])).length, 0, 'unenrolled from every course that follows COHGRP');
    assert.match(await report(r.report), /line 3: applied: .*user ggrass added; enrolled in TESTCOURSE2 \(student\)/);
    // moodle-writes "cohort enrolment": a later cohort_add_member also joins the instance's group (component enrol_cohort, itemid the instance).
    const joined = await rows(sb.db, `SELECT m.*, g.timemodified AS gtime FROM mdl_groups_members m JOIN mdl_groups g ON g.id = m.groupid WHERE m.userid = ? ORDER BY m.groupid`, [uid.U0005]);
    const grouped = (await instances(grp.id)).filter((e) => e.customint2 > 0);
    assert.deepEqual(joined.map((m) => [m.groupid, m.component, m.itemid]), grouped.map((e) => [e.customint2, 'enrol_cohort', e.id]));
    for (const m of joined) { within(m.timeadded, r, 'groups_members.timeadded'); within(m.gtime, r, 'groups.timemodified'); }
    const [t3] = grouped.filter((e) => e.courseid === course.TESTCOURSE3.id);
    const [dated] = (await enrolmentsOf(t3.id)).filter((u) => u.userid === uid.U0005);
    assert.deepEqual([dated.timestart, dated.timeend], [t3.enrolstartdate, t3.enrolenddate], 'the instance dates');

    // 0: unenrol_user per instance: group_member_removed (with a group), role_unassigned, user_enrolment_deleted, whose
    // lastenrol is true when no later instance of the same course still enrols the user. Then two members added.
    const expect0 = [removed('UGR3')];
    for (const [i, e] of followers.entries()) {
      const ctx = ctxOf(e.courseid);
      const last = !followers.slice(i + 1).some((o) => o.courseid === e.courseid);
      expect0.push(...ugr3[i].gm.map((m) => logRow('group_member_removed', ctx, m.groupid, uid.UGR3, 'null')),
        logRow('role_unassigned', ctx, e.roleid, uid.UGR3, raGone(ugr3[i].ra.id, e.id)),
        logRow('user_enrolment_deleted', ctx, ugr3[i].ue.id, uid.UGR3, ueGone(ugr3[i].ue, e.courseid, last)));
    }
    assert.deepEqual(ugr3.map((x) => x.gm.length), [0, 0, 0, 1, 1], 'in the groups of the two grouped instances');
    const coh3 = await cohort('COH003');
    expect0.push(logRow('cohort_member_added', SYSTEM_CTX, coh3.id, uid.U0004, 'null'), ...(await enrolledEvents((await instances(coh3.id))[0], uid.U0004)));
    expect0.push(logRow('cohort_member_added', SYSTEM_CTX, grp.id, uid.U0005, 'null'));
    for (const e of followers) expect0.push(...(await enrolledEvents(e, uid.U0005)));
    assert.deepEqual(await log.since(r.t0), expect0);
  });

  it('bindings del disables (roles go, enrolments stay), restore re-enables, fulldel deletes the instances as delete_instance does', async () => {
    const grp = await cohort('COHGRP');
    const [t1] = (await instances(grp.id)).filter((e) => e.courseid === course.TESTCOURSE1.id);
    await sb.db.query("DELETE FROM mdl_cache_flags WHERE flagtype = 'accesslib/dirtycontexts'");
    let r = await run('bindings', 'del.csv', 'cmd;cohort;course;role\ndel;COHGRP;TESTCOURSE1;*\ndel;COH004;TESTCOURSE1;*\n');
    assert.deepEqual(r.rows, { total: 2, applied: 2, failed: 0, skipped: 0 });
    const [e1] = await rows(sb.db, 'SELECT status, timemodified FROM mdl_enrol WHERE id = ?', [t1.id]);
    assert.equal(e1.status, 1);
    within(e1.timemodified, r, 'enrol.timemodified');
    assert.deepEqual(await rolesOf(t1.id), []);
    // UGR2's suspended enrolment (left by unenrolaction 2) goes now that unenrolaction is 0, as the sync of update_status does.
    assert.deepEqual((await enrolmentsOf(t1.id)).map((u) => u.status), [0, 0, 0, 0, 0, 0, 0, 0], 'the members\' enrolments are not touched');
    assert.equal((await rows(sb.db, "SELECT * FROM mdl_cache_flags WHERE flagtype = 'accesslib/dirtycontexts' AND name = ?", [`/1/3/${course.TESTCOURSE1.contextid}`])).length, 1);
    let text = await report(r.report);
    assert.match(text, /line 2: applied: del cohort "GROUPEDUSERS" \(COHGRP\) in TESTCOURSE1 as every role: binding \(enrol instance \d+, student\) disabled; 1 unenrolled, 8 roles removed/);
    assert.match(text, /line 3: applied: del cohort "COHORT4" \(COH004\) in TESTCOURSE1 as every role: no such binding, nothing to do/);

    const t2 = (await instances(grp.id)).filter((e) => e.courseid === course.TESTCOURSE2.id);
    assert.equal(t2.length, 2);
    const groupid = t2.find((e) => e.customint2 > 0)!.customint2;
    r = await run('bindings', 'restore-fulldel.csv', 'cmd;cohort;course;role\nrestore;COHGRP;TESTCOURSE1;student\nfulldel;COHGRP;TESTCOURSE2;*\n');
    assert.deepEqual(r.rows, { total: 2, applied: 2, failed: 0, skipped: 0 });
    assert.equal((await rows(sb.db, 'SELECT status FROM mdl_enrol WHERE id = ?', [t1.id]))[0].status, 0);
    assert.equal((await rolesOf(t1.id)).length, 8, 'roles back for the active enrolments');
    text = await report(r.report);
    assert.match(text, /line 2: applied: .*re-enabled; 8 roles assigned/);
    for (const e of t2) {
      assert.equal((await rows(sb.db, 'SELECT * FROM mdl_enrol WHERE id = ?', [e.id])).length, 0);
      assert.deepEqual(await enrolmentsOf(e.id), []);
      assert.deepEqual(await rolesOf(e.id), []);
    }
    assert.equal((await rows(sb.db, 'SELECT * FROM mdl_groups WHERE id = ?', [groupid])).length, 1, 'the group stays');
    assert.equal((await rows(sb.db, 'SELECT * FROM mdl_groups_members WHERE groupid = ?', [groupid])).length, 0, 'empty');
  });

  it('deleting a cohort that courses use: unenrolaction 0 deletes its instances, 3 disables them and suspends', async () => {
    const grp = await cohort('COHGRP');
    const before = await instances(grp.id);
    assert.equal(before.length, 3);
    const keptGroup = before.find((e) => e.customint2 > 0)!.customint2;
    const coh3 = await cohort('COH003');
    const [t2coh3] = await instances(coh3.id);
    await sb.db.query("DELETE FROM mdl_cache_flags WHERE flagtype = 'accesslib/dirtycontexts'");
    // moodle-writes "delete a cohort that courses use", 0: cohort_deleted first (no cohort_member_removed), then per
    // instance delete_instance: each enrolment (by id) unenrolled as unenrol_user logs it, then enrol_instance_deleted.
    const allUes = await rows(sb.db, 'SELECT ue.*, e.courseid FROM mdl_user_enrolments ue JOIN mdl_enrol e ON e.id = ue.enrolid ORDER BY ue.id');
    const remaining = new Set(allUes.map((u) => u.id));
    const expectDelete = [logRow('cohort_deleted', SYSTEM_CTX, grp.id, null, 'null')];
    for (const e of before) {
      const ctx = ctxOf(e.courseid);
      for (const { courseid: _c, ...ue } of allUes.filter((u) => u.enrolid === e.id)) {
        remaining.delete(ue.id);
        const last = !allUes.some((o) => remaining.has(o.id) && o.userid === ue.userid && o.courseid === e.courseid);
        const gms = await rows(sb.db, "SELECT groupid FROM mdl_groups_members WHERE userid = ? AND component = 'enrol_cohort' AND itemid = ? ORDER BY id", [ue.userid, e.id]);
        const ras = await rows(sb.db, "SELECT id, roleid FROM mdl_role_assignments WHERE userid = ? AND contextid = ? AND component = 'enrol_cohort' AND itemid = ? ORDER BY id", [ue.userid, ctx.id, e.id]);
        expectDelete.push(...gms.map((m) => logRow('group_member_removed', ctx, m.groupid, ue.userid, 'null')),
          ...ras.map((a) => logRow('role_unassigned', ctx, a.roleid, ue.userid, raGone(a.id, e.id))),
          logRow('user_enrolment_deleted', ctx, ue.id, ue.userid, ueGone(ue, e.courseid, last)));
      }
      expectDelete.push(logRow('enrol_instance_deleted', ctx, e.id, null, COHORT_ENROL));
    }
    assert.ok(expectDelete.length > 40, `${expectDelete.length} rows expected`);
    await log.mark();
    let r = await run('members', 'delete-grp.csv', 'cmd;cidnumber\ndel;COHGRP\n');
    assert.deepEqual(await log.since(r.t0), expectDelete);
    assert.match(await report(r.report), /cohort "GROUPEDUSERS" \(COHGRP\) deleted; its enrolments in TESTCOURSE1 \(student\), TESTCOURSE3 \(student\), TESTCOURSE3 \(teacher\) deleted/);
    assert.equal(await cohort('COHGRP'), undefined);
    assert.equal((await rows(sb.db, 'SELECT * FROM mdl_cohort_members WHERE cohortid = ?', [grp.id])).length, 0);
    for (const e of before) {
      assert.equal((await rows(sb.db, 'SELECT * FROM mdl_enrol WHERE id = ?', [e.id])).length, 0);
      assert.deepEqual(await enrolmentsOf(e.id), []);
      assert.deepEqual(await rolesOf(e.id), []);
    }
    assert.equal((await rows(sb.db, "SELECT * FROM mdl_groups_members WHERE component = 'enrol_cohort'")).length, 0);
    const [kg] = await rows(sb.db, 'SELECT * FROM mdl_groups WHERE id = ?', [keptGroup]);
    assert.ok(kg, 'the group made for the cohort is kept');
    within(kg.timemodified, r, 'groups.timemodified');
    const dirty = await rows(sb.db, "SELECT name FROM mdl_cache_flags WHERE flagtype = 'accesslib/dirtycontexts' ORDER BY name");
    assert.deepEqual(dirty.map((d) => d.name), [`/1/3/${course.TESTCOURSE1.contextid}`, `/1/3/${course.TESTCOURSE3.contextid}`]);

    const u4 = { ue: (await enrolmentOf(t2coh3.id, uid.U0004))!, ra: (await roleOf(t2coh3.id, uid.U0004))! };
    try {
      await unenrolAction(3);
      await log.mark();
      r = await run('members', 'delete-coh3.csv', 'cmd;cidnumber\ndel;COH003\n');
      // 3: cohort_deleted, role_unassigned × n, enrol_instance_updated (disabled), user_enrolment_updated (suspended by the sync).
      const ctx = ctxOf(t2coh3.courseid);
      assert.deepEqual(await log.since(r.t0), [
        logRow('cohort_deleted', SYSTEM_CTX, coh3.id, null, 'null'),
        logRow('role_unassigned', ctx, STUDENT, uid.U0004, raGone(u4.ra.id, t2coh3.id)),
        logRow('enrol_instance_updated', ctx, t2coh3.id, null, COHORT_ENROL),
        logRow('user_enrolment_updated', ctx, u4.ue.id, uid.U0004, COHORT_ENROL),
      ]);
      assert.match(await report(r.report), /cohort "COHORT3 renamed" \(COH003\) deleted; its enrolments in TESTCOURSE2 \(student\) disabled \(enrol_cohort unenrolaction 3\)/);
    } finally {
      await unenrolAction(0);
    }
    const [kept] = await rows(sb.db, 'SELECT status, timemodified FROM mdl_enrol WHERE id = ?', [t2coh3.id]);
    assert.equal(kept.status, 1);
    within(kept.timemodified, r, 'enrol.timemodified');
    assert.deepEqual((await enrolmentsOf(t2coh3.id)).map((u) => [u.userid, u.status]), [[uid.U0004, 1]]);
    assert.deepEqual(await rolesOf(t2coh3.id), []);
  });

  it('cohorts_autocreate off: a missing cohort is a row error', async () => {
    await setting({ cohorts_autocreate: '0' });
    try {
      const r = await run('members', 'noauto.csv', 'cname;cidnumber\nNever;COH900\n');
      assert.deepEqual(r.rows, { total: 1, applied: 0, failed: 1, skipped: 0 });
      assert.match(await report(r.report), /line 2: failed: cidnumber: no cohort with idnumber "COH900" \(cohorts_autocreate is off\)/);
      assert.equal(await cohort('COH900'), undefined);
    } finally {
      await setting({ cohorts_autocreate: '1' });
    }
  });

  it('a file without the key column of the configured identifier is refused before any write', async () => {
    await fsp.writeFile(path.join(sb.storeRoot, 'nokey.csv'), 'cname;userid\nX;U0001\n');
    const r = await sb.cli(['run', 'cohorts', '--op', 'members', '--file', 'nokey.csv', '--wait', '--json']);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.json.refusal, /bad header \(line 1\): no cohort key column: cohorts_cohortidentifier is idnumber, so cohorts are named in column "cidnumber" \(or "cid"\)/);
    assert.equal((await rows<RowDataPacket>(sb.db, "SELECT * FROM mdl_cohort WHERE name = 'X'")).length, 0);
  });
});
