/**
 * The enrolments tool through the real path: CLI, worker, Temporal dev server, the Moodle database.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { configure, openSandbox, runToolFile, storeText, type Sandbox } from './support/sandbox';
import { createCourse, rows } from './support/moodle';
import { parseMoodleTime } from '../activities/moodle/time';

const STUDENT = 5;
const TEACHER = 4;
const EDITINGTEACHER = 3;

describe('enrols: enrolments, roles and groups', () => {
  let sb: Sandbox;
  let math: Awaited<ReturnType<typeof createCourse>>;
  let phys: Awaited<ReturnType<typeof createCourse>>;
  let chem: Awaited<ReturnType<typeof createCourse>>;
  const uid: Record<string, number> = {};

  const runFile = (name: string, content: string, extra: string[] = []) => runToolFile(sb, 'enrols', name, content, extra);
  const report = (p: string) => storeText(sb, p);
  const setting = (k: string, v: string) => configure(sb, { [k]: v });
  const rolesIn = async (contextid: number, user: string) =>
    (await rows(sb.db, 'SELECT roleid, component, itemid FROM mdl_role_assignments WHERE contextid = ? AND userid = ? ORDER BY roleid', [contextid, uid[user]]))
      .map((r) => [r.roleid, r.component, r.itemid]);
  const groupsOf = async (courseid: number, user: string) =>
    (await rows(sb.db, 'SELECT g.name, m.component FROM mdl_groups_members m JOIN mdl_groups g ON g.id = m.groupid WHERE g.courseid = ? AND m.userid = ? ORDER BY g.name', [courseid, uid[user]]))
      .map((r) => `${r.name}:${r.component}`);
  const enrolment = async (enrolid: number, user: string) =>
    (await rows(sb.db, 'SELECT status, timestart, timeend, timemodified FROM mdl_user_enrolments WHERE enrolid = ? AND userid = ?', [enrolid, uid[user]]))[0];

  before(async () => {
    sb = await openSandbox('enrols');
    for (const [k, v] of [['storereport', '1'], ['filefailed', '1'], ['users_primaryidentity', 'username']]) await setting(k, v);
    math = await createCourse(sb.db, 'MATH101');
    phys = await createCourse(sb.db, 'PHYS201');
    chem = await createCourse(sb.db, 'CHEM301');
    await sb.db.query('UPDATE mdl_enrol SET status = 1, timemodified = 0 WHERE id = ?', [chem.manualEnrolId]);
    await sb.startWorker();
    await fsp.mkdir(sb.storeRoot, { recursive: true });
    await fsp.writeFile(path.join(sb.storeRoot, 'people.csv'), ['username;firstname;lastname;idnumber', ...[1, 2, 3, 4, 5, 6].map((n) => `s${n};First${n};Last${n};S${n}`)].join('\n') + '\n');
    const r = await sb.cli(['run', 'users', '--file', 'people.csv', '--wait', '--json']);
    assert.equal(r.json.rows.applied, 6, r.stdout + r.stderr);
    for (const u of await rows(sb.db, "SELECT id, username FROM mdl_user WHERE username LIKE 's_'")) uid[u.username] = Number(u.id);
  });
  after(async () => {
    await sb?.close();
  });

  it('add enrols with the first enabled instance, dates and role; row errors go to the report and the tryback', async () => {
    const file = [
      'cmd;rolename;cid;uid;enrol;starttime;endtime',
      'add;student;MATH101;S1;manual;2026-09-01;2027-06-30 18:00:00',
      'add;editingteacher;MATH101;S2;;;',
      'add;student;NOPE999;S1;manual;;',
      'add;student;;S1;manual;;',
      'add;student;MATH101;NOBODY;manual;;',
      'add;nosuchrole;MATH101;S3;manual;;',
      'frob;student;MATH101;S3;manual;;',
      ';student;MATH101;S3;manual;;',
      'add;student;MATH101;S3;manual;2026-13-45;',
      'add;student;CHEM301;S3;manual;;',
      'add;student;MATH101;S4;self;;',
    ];
    const r = await runFile('enrols-add.csv', `${file.join('\n')}\n`);
    assert.deepEqual(r.rows, { total: 11, applied: 2, failed: 9, skipped: 0 });
    const start = parseMoodleTime('2026-09-01', 'Europe/London');
    const end = parseMoodleTime('2027-06-30 18:00:00', 'Europe/London');
    assert.ok(start.ok && end.ok);
    const ue = await rows(sb.db, 'SELECT userid, status, timestart, timeend, modifierid FROM mdl_user_enrolments ORDER BY userid');
    assert.deepEqual(ue.map((e) => [e.userid, e.status, e.timestart, e.timeend, e.modifierid]), [
      [uid.s1, 0, start.value, end.value, 2],
      [uid.s2, 0, ue[1].timestart, 0, 2],
    ]);
    assert.ok(Math.abs(Number(ue[1].timestart) - Date.now() / 1000) < 120, 'no start date means now');
    assert.deepEqual(await rolesIn(math.contextid, 's1'), [[STUDENT, '', 0]]);
    assert.deepEqual(await rolesIn(math.contextid, 's2'), [[EDITINGTEACHER, '', 0]]);
    assert.equal((await rows(sb.db, 'SELECT * FROM mdl_role_assignments')).length, 2);
    const dirty = await rows(sb.db, "SELECT name, value FROM mdl_cache_flags WHERE flagtype = 'accesslib/dirtyusers'");
    assert.deepEqual(dirty.map((d) => d.name).sort(), [String(uid.s1), String(uid.s2)].sort());

    const text = await report(r.report);
    assert.match(text, /line 2: applied: add user s1 \(S1\): enrolled in MATH101 \(manual, student\)/);
    assert.match(text, /line 3: applied: .*enrolled in MATH101 \(manual, editingteacher\)/);
    assert.match(text, /line 4: failed: cid: no course with shortname "NOPE999"/);
    assert.match(text, /line 5: failed: cid: empty/);
    assert.match(text, /line 6: failed: uid: no user with idnumber "NOBODY"/);
    assert.match(text, /line 7: failed: rolename: no role "nosuchrole"/);
    assert.match(text, /line 8: failed: cmd: "frob" is not a command/);
    assert.match(text, /line 9: failed: cmd: empty/);
    assert.match(text, /line 10: failed: starttime: "2026-13-45" is not a real date/);
    assert.match(text, /line 11: failed: enrol: course CHEM301 has no enabled "manual" enrolment instance/);
    assert.match(text, /line 12: failed: enrol: course MATH101 has no enabled "self" enrolment instance/);
    assert.equal(await report(r.tryback), `${[file[0], ...file.slice(3)].join('\n')}\n`);
  });

  it('add into a disabled instance enables it when enrols_enableenrolondisabled is on', async () => {
    await setting('enrols_enableenrolondisabled', '1');
    try {
      const r = await runFile('enrols-disabled.csv', 'rolename;cid;uid;enrol\nstudent;CHEM301;S3;manual\n');
      assert.deepEqual(r.rows, { total: 1, applied: 1, failed: 0, skipped: 0 });
      const [e] = await rows(sb.db, 'SELECT status, timemodified FROM mdl_enrol WHERE id = ?', [chem.manualEnrolId]);
      assert.equal(e.status, 0);
      assert.ok(Number(e.timemodified) > 0);
      const [ctx] = await rows(sb.db, 'SELECT path FROM mdl_context WHERE id = ?', [chem.contextid]);
      assert.equal((await rows(sb.db, "SELECT * FROM mdl_cache_flags WHERE flagtype = 'accesslib/dirtycontexts' AND name = ?", [ctx.path])).length, 1);
      assert.equal((await enrolment(chem.manualEnrolId, 's3')).status, 0);
      assert.deepEqual(await rolesIn(chem.contextid, 's3'), [[STUDENT, '', 0]]);
      assert.match(await report(r.report), /enabled the disabled "manual" enrolment of CHEM301/);
    } finally {
      await setting('enrols_enableenrolondisabled', '0');
    }
  });

  it('without an enrol column, add and del assign and remove a plain course role only', async () => {
    let r = await runFile('roles-add.csv', 'rolename;cid;uid\nteacher;PHYS201;S1\n');
    assert.deepEqual(r.rows, { total: 1, applied: 1, failed: 0, skipped: 0 });
    assert.deepEqual(await rolesIn(phys.contextid, 's1'), [[TEACHER, '', 0]]);
    assert.equal((await rows(sb.db, 'SELECT * FROM mdl_user_enrolments WHERE enrolid = ?', [phys.manualEnrolId])).length, 0);
    await sb.db.query("UPDATE mdl_cache_flags SET timemodified = 0 WHERE flagtype = 'accesslib/dirtyusers'");
    r = await runFile('roles-del.csv', 'cmd;rolename;cid;uid\ndel;teacher;PHYS201;S1\n');
    assert.deepEqual(r.rows, { total: 1, applied: 1, failed: 0, skipped: 0 });
    assert.deepEqual(await rolesIn(phys.contextid, 's1'), []);
    assert.deepEqual(await rolesIn(math.contextid, 's1'), [[STUDENT, '', 0]], 'other courses untouched');
    const [flag] = await rows(sb.db, "SELECT timemodified FROM mdl_cache_flags WHERE flagtype = 'accesslib/dirtyusers' AND name = ?", [String(uid.s1)]);
    assert.ok(Number(flag.timemodified) > 0, 'dirtyusers refreshed');
    assert.match(await report(r.report), /role teacher removed in PHYS201/);
  });

  it('group commands: gaddcreate, gadd of a missing group, no role, greplacecreate, gdel', async () => {
    const file = [
      'cmd;rolename;cid;uid;enrol;gcmd;g1;g2',
      'add;student;MATH101;S1;manual;gaddcreate;Red;Blue',
      'add;student;MATH101;S5;manual;gadd;Nope;',
      'del;student;MATH101;S6;manual;gadd;Red;',
      'add;student;MATH101;S1;manual;gjump;Red;',
    ];
    let r = await runFile('groups-1.csv', `${file.join('\n')}\n`);
    assert.deepEqual(r.rows, { total: 4, applied: 1, failed: 3, skipped: 0 });
    assert.deepEqual(await groupsOf(math.id, 's1'), ['Blue:', 'Red:']);
    assert.equal(await enrolment(math.manualEnrolId, 's5'), undefined, 'a failed row leaves no enrolment behind');
    let text = await report(r.report);
    assert.match(text, /added to group "Red" \(created\); added to group "Blue" \(created\)/);
    assert.match(text, /line 3: failed: g1: no group "Nope" in MATH101/);
    assert.match(text, /line 4: failed: gcmd: gadd: user s6 has no role in MATH101/);
    assert.match(text, /line 5: failed: gcmd: "gjump" is not a group command/);
    assert.equal(await report(r.tryback), `${[file[0], ...file.slice(2)].join('\n')}\n`);

    r = await runFile('groups-2.csv', 'rolename;cid;uid;gcmd;g1\nstudent;MATH101;S1;greplacecreate;Green\n');
    assert.deepEqual(r.rows, { total: 1, applied: 1, failed: 0, skipped: 0 });
    assert.deepEqual(await groupsOf(math.id, 's1'), ['Green:']);
    r = await runFile('groups-3.csv', 'rolename;cid;uid;gcmd;g1;g2\nstudent;MATH101;S1;gdel;Green;Nope\n');
    assert.deepEqual(r.rows, { total: 1, applied: 1, failed: 0, skipped: 0 });
    assert.deepEqual(await groupsOf(math.id, 's1'), []);
    text = await report(r.report);
    assert.match(text, /no group "Nope" in MATH101; removed from 1 group/);
  });

  it('with enrols_protectgroups, our memberships are tool_sync ones and greplace/gdel touch only those', async () => {
    await setting('enrols_protectgroups', '1');
    try {
      const [blue] = await rows(sb.db, "SELECT id FROM mdl_groups WHERE courseid = ? AND name = 'Blue'", [math.id]);
      await sb.db.query("INSERT INTO mdl_groups_members (groupid, userid, timeadded, component, itemid) VALUES (?, ?, 0, '', 0)", [blue.id, uid.s2]);
      let r = await runFile('protect-1.csv', 'rolename;cid;uid;gcmd;g1\neditingteacher;MATH101;S2;gadd;Red\n');
      assert.equal(r.rows.applied, 1);
      assert.deepEqual(await groupsOf(math.id, 's2'), ['Blue:', 'Red:tool_sync']);
      r = await runFile('protect-2.csv', 'rolename;cid;uid;gcmd;g1\neditingteacher;MATH101;S2;greplacecreate;Yellow\n');
      assert.equal(r.rows.applied, 1);
      assert.deepEqual(await groupsOf(math.id, 's2'), ['Blue:', 'Yellow:tool_sync']);
      r = await runFile('protect-3.csv', 'rolename;cid;uid;gcmd;g1;g2\neditingteacher;MATH101;S2;gdel;Blue;Yellow\n');
      assert.equal(r.rows.applied, 1);
      assert.deepEqual(await groupsOf(math.id, 's2'), ['Blue:'], 'a manual membership is protected');
    } finally {
      await setting('enrols_protectgroups', '0');
    }
    const r = await runFile('unprotected.csv', 'rolename;cid;uid;gcmd;g1\neditingteacher;MATH101;S2;gdel;Blue\n');
    assert.equal(r.rows.applied, 1);
    assert.deepEqual(await groupsOf(math.id, 's2'), []);
  });

  it('shift replaces the other course roles, keeping the enrolment', async () => {
    await sb.db.query("INSERT INTO mdl_role_assignments (roleid, contextid, userid, timemodified, modifierid, component, itemid, sortorder) VALUES (?, ?, ?, 0, 2, '', 0, 0)", [TEACHER, math.contextid, uid.s1]);
    const r = await runFile('shift.csv', 'cmd;rolename;cid;uid;enrol\nshift;editingteacher;MATH101;S1;manual\nshift;nosuchrole;MATH101;S1;manual\n');
    assert.deepEqual(r.rows, { total: 2, applied: 1, failed: 1, skipped: 0 });
    assert.deepEqual(await rolesIn(math.contextid, 's1'), [[EDITINGTEACHER, '', 0]]);
    assert.equal((await enrolment(math.manualEnrolId, 's1')).status, 0);
    assert.match(await report(r.report), /line 2: applied: shift user s1 \(S1\): 2 other roles removed in MATH101; updated in MATH101 \(manual, editingteacher\)/);
  });

  it('disable suspends and enable reactivates the enrolment; not enrolled is a row error', async () => {
    await sb.db.query('UPDATE mdl_user_enrolments SET timemodified = 0 WHERE enrolid = ?', [math.manualEnrolId]);
    const before = await enrolment(math.manualEnrolId, 's1');
    let r = await runFile('disable.csv', 'cmd;rolename;cid;uid;enrol\ndisable;student;MATH101;S1;manual\ndisable;student;MATH101;S6;manual\n');
    assert.deepEqual(r.rows, { total: 2, applied: 1, failed: 1, skipped: 0 });
    const after = await enrolment(math.manualEnrolId, 's1');
    assert.equal(after.status, 1);
    assert.ok(Number(after.timemodified) > 0);
    assert.deepEqual([after.timestart, after.timeend], [before.timestart, before.timeend], 'dates unchanged');
    assert.deepEqual(await rolesIn(math.contextid, 's1'), [[EDITINGTEACHER, '', 0]], 'roles stay');
    assert.match(await report(r.report), /line 3: failed: cmd: cannot disable: user s6 is not enrolled in MATH101 \(manual\)/);
    r = await runFile('enable.csv', 'cmd;rolename;cid;uid\nenable;student;MATH101;S1\n');
    assert.equal(r.rows.applied, 1);
    assert.equal((await enrolment(math.manualEnrolId, 's1')).status, 0);
  });

  it('del unenrols as Moodle does: enrolment, course roles and course group memberships go', async () => {
    let r = await runFile('pre-del.csv', 'rolename;cid;uid;enrol;gcmd;g1\nstudent;MATH101;S1;manual;gadd;Red\nteacher;PHYS201;S1;manual;gaddcreate;Lab\n');
    assert.equal(r.rows.applied, 2);
    await sb.db.query('UPDATE mdl_groups SET timemodified = 0');
    r = await runFile('del.csv', 'cmd;rolename;cid;uid;enrol\ndelete;student;MATH101;S1;manual\ndel;student;MATH101;S6;manual\n');
    assert.deepEqual(r.rows, { total: 2, applied: 2, failed: 0, skipped: 0 });
    assert.equal(await enrolment(math.manualEnrolId, 's1'), undefined);
    assert.deepEqual(await rolesIn(math.contextid, 's1'), []);
    assert.deepEqual(await groupsOf(math.id, 's1'), []);
    const [red] = await rows(sb.db, "SELECT timemodified FROM mdl_groups WHERE courseid = ? AND name = 'Red'", [math.id]);
    assert.ok(Number(red.timemodified) > 0, 'the group left is touched');
    const [lab] = await rows(sb.db, "SELECT timemodified FROM mdl_groups WHERE courseid = ? AND name = 'Lab'", [phys.id]);
    assert.equal(lab.timemodified, 0, 'other courses untouched');
    assert.deepEqual(await groupsOf(phys.id, 's1'), ['Lab:']);
    assert.deepEqual(await rolesIn(phys.contextid, 's1'), [[TEACHER, '', 0]]);
    assert.ok(await enrolment(phys.manualEnrolId, 's1'));
    const text = await report(r.report);
    assert.match(text, /unenrolled from MATH101 \(manual\)/);
    assert.match(text, /was not enrolled in MATH101 \(manual\): nothing to do/);
  });

  it('enrolments in a master course reach its meta courses at once, as enrol_meta\'s observers do', async () => {
    const master = await createCourse(sb.db, 'MASTERM');
    const child = await createCourse(sb.db, 'CHILDM');
    await fsp.writeFile(path.join(sb.storeRoot, 'metas.csv'), 'master;meta;cmd\nMASTERM;CHILDM;add\n');
    const link = await sb.cli(['run', 'courses', '--op', 'metas', '--file', 'metas.csv', '--wait', '--json']);
    assert.equal(link.json?.rows?.applied, 1, link.stdout + link.stderr);
    const [inst] = await rows(sb.db, "SELECT id FROM mdl_enrol WHERE enrol = 'meta' AND courseid = ?", [child.id]);
    const metaState = async (user: string) => ({
      enrolment: (await rows(sb.db, 'SELECT status FROM mdl_user_enrolments WHERE enrolid = ? AND userid = ?', [inst.id, uid[user]])).map((e) => e.status),
      roles: await rolesIn(child.contextid, user),
    });

    let r = await runFile('master-add.csv', 'rolename;cid;uid;enrol\nstudent;MASTERM;S4;manual\nteacher;MASTERM;S5;manual\n');
    assert.equal(r.rows.applied, 2);
    assert.deepEqual(await metaState('s4'), { enrolment: [0], roles: [[STUDENT, 'enrol_meta', inst.id]] });
    assert.deepEqual(await metaState('s5'), { enrolment: [0], roles: [[TEACHER, 'enrol_meta', inst.id]] });

    // A suspended master enrolment suspends the meta one; unenrolling follows enrol_meta's
    // unenrolaction (default 3: suspend and remove the synced roles).
    r = await runFile('master-change.csv', 'cmd;rolename;cid;uid;enrol\ndisable;student;MASTERM;S4;manual\ndel;teacher;MASTERM;S5;manual\n');
    assert.equal(r.rows.applied, 2);
    assert.deepEqual(await metaState('s4'), { enrolment: [1], roles: [] });
    assert.deepEqual(await metaState('s5'), { enrolment: [1], roles: [] });
  });

  it('a simulation writes nothing', async () => {
    const r = await runFile('sim.csv', 'rolename;cid;uid;enrol\nstudent;PHYS201;S6;manual\n', ['--simulate']);
    assert.equal(r.rows.applied, 1);
    assert.equal(await enrolment(phys.manualEnrolId, 's6'), undefined);
  });
});
