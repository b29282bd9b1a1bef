/**
 * The event log (logstore_standard_log) through the real path: CLI, worker, Temporal dev server, the
 * Moodle database. Every row is compared column by column, in log order, with what Moodle 5.1's own
 * API logs for the same operation (moodle-writes.md section 2; static properties from each event
 * class's init()).
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { openSandbox, runToolFile, type Sandbox } from './support/sandbox';
import { createCourse, rows } from './support/moodle';

const STUDENT = 5;
const TEACHER = 4;
const EDITINGTEACHER = 3;

/** Moodle's event classes: [target, action, objecttable, crud, edulevel]. */
const CLASSES: Record<string, [string, string, string | null, string, number]> = {
  user_created: ['user', 'created', 'user', 'c', 0],
  user_updated: ['user', 'updated', 'user', 'u', 0],
  user_deleted: ['user', 'deleted', 'user', 'd', 0],
  user_password_updated: ['user_password', 'updated', null, 'u', 0],
  user_enrolment_created: ['user_enrolment', 'created', 'user_enrolments', 'c', 0],
  user_enrolment_updated: ['user_enrolment', 'updated', 'user_enrolments', 'u', 0],
  user_enrolment_deleted: ['user_enrolment', 'deleted', 'user_enrolments', 'd', 0],
  role_assigned: ['role', 'assigned', 'role', 'c', 0],
  role_unassigned: ['role', 'unassigned', 'role', 'd', 0],
  enrol_instance_created: ['enrol_instance', 'created', 'enrol', 'c', 0],
  enrol_instance_updated: ['enrol_instance', 'updated', 'enrol', 'u', 0],
  cohort_created: ['cohort', 'created', 'cohort', 'c', 0],
  cohort_member_added: ['cohort_member', 'added', 'cohort', 'c', 0],
  group_created: ['group', 'created', 'groups', 'c', 0],
  group_member_added: ['group_member', 'added', 'groups', 'c', 0],
  group_member_removed: ['group_member', 'removed', 'groups', 'd', 0],
};

interface Ctx { id: number; level: number; instance: number; course: number }

/** The full row Moodle writes: the acting admin (2), from the CLI, no IP, nobody logged in as. */
function expected(name: string, ctx: Ctx, objectid: number | null, relateduserid: number | null, other: string) {
  const [target, action, objecttable, crud, edulevel] = CLASSES[name];
  return {
    eventname: `\\core\\event\\${name}`, component: 'core', action, target, objecttable, objectid, crud, edulevel,
    contextid: ctx.id, contextlevel: ctx.level, contextinstanceid: ctx.instance, userid: 2, courseid: ctx.course, relateduserid,
    anonymous: 0, other, origin: 'cli', ip: null, realuserid: null,
  };
}

const num = (v: unknown) => (v === null ? null : Number(v));

describe('events: logstore rows of the users and enrolments tools', () => {
  let sb: Sandbox;
  let math: Awaited<ReturnType<typeof createCourse>>;
  let chem: Awaited<ReturnType<typeof createCourse>>;
  let seen = 0;
  const uid: Record<string, number> = {};
  const userCtx: Record<string, Ctx> = {};
  let mathCtx: Ctx;
  let chemCtx: Ctx;
  const system: Ctx = { id: 1, level: 10, instance: 0, course: 0 };

  const users = (name: string, content: string, extra: string[] = []) => runToolFile(sb, 'users', name, content, extra);
  const enrols = (name: string, content: string) => runToolFile(sb, 'enrols', name, content);
  const setting = async (k: string, v: string) => assert.equal((await sb.cli(['config', 'set', k, v])).code, 0);

  /** The log rows written since the last call, in log order; their time is the run's. */
  async function newEvents(since: number) {
    const got = await rows(sb.db, 'SELECT * FROM mdl_logstore_standard_log WHERE id > ? ORDER BY id', [seen]);
    if (got.length) seen = Number(got[got.length - 1].id);
    for (const r of got) assert.ok(Number(r.timecreated) >= since && Number(r.timecreated) <= Date.now() / 1000 + 1, `timecreated ${r.timecreated} is the run's time`);
    return got.map((r) => ({
      eventname: r.eventname, component: r.component, action: r.action, target: r.target, objecttable: r.objecttable, objectid: num(r.objectid),
      crud: r.crud, edulevel: Number(r.edulevel), contextid: Number(r.contextid), contextlevel: Number(r.contextlevel), contextinstanceid: Number(r.contextinstanceid),
      userid: Number(r.userid), courseid: num(r.courseid), relateduserid: num(r.relateduserid), anonymous: Number(r.anonymous), other: r.other,
      origin: r.origin, ip: r.ip, realuserid: num(r.realuserid),
    }));
  }
  const now = () => Math.floor(Date.now() / 1000);
  async function learnUsers(...names: string[]) {
    for (const n of names) {
      const [u] = await rows(sb.db, 'SELECT u.id, x.id AS ctx FROM mdl_user u JOIN mdl_context x ON x.contextlevel = 30 AND x.instanceid = u.id WHERE u.username = ?', [n]);
      uid[n] = Number(u.id);
      userCtx[n] = { id: Number(u.ctx), level: 30, instance: Number(u.id), course: 0 };
    }
  }
  const ueOf = async (enrolid: number, user: string) => (await rows(sb.db, 'SELECT * FROM mdl_user_enrolments WHERE enrolid = ? AND userid = ?', [enrolid, uid[user]]))[0];
  const raId = async (roleid: number, ctx: Ctx, user: string) =>
    Number((await rows(sb.db, 'SELECT id FROM mdl_role_assignments WHERE roleid = ? AND contextid = ? AND userid = ?', [roleid, ctx.id, uid[user]]))[0].id);
  const groupId = async (name: string) => Number((await rows(sb.db, 'SELECT id FROM mdl_groups WHERE name = ?', [name]))[0].id);
  /** The deleted user enrolment as unenrol_user logs it: the row's columns as strings, then courseid, enrol, lastenrol. */
  const deletedUe = (ue: Record<string, unknown>, courseid: number, plugin: string, last: boolean) => JSON.stringify({
    userenrolment: {
      ...Object.fromEntries(['id', 'status', 'enrolid', 'userid', 'timestart', 'timeend', 'modifierid', 'timecreated', 'timemodified'].map((c) => [c, String(ue[c])])),
      courseid: String(courseid), enrol: plugin, lastenrol: last,
    },
    enrol: plugin,
  });

  before(async () => {
    sb = await openSandbox('events');
    for (const [k, v] of [['users_primaryidentity', 'username'], ['enrols_useridentifier', 'username']]) await setting(k, v);
    math = await createCourse(sb.db, 'MATH101');
    chem = await createCourse(sb.db, 'CHEM301');
    await sb.db.query('UPDATE mdl_enrol SET status = 1 WHERE id = ?', [chem.manualEnrolId]);
    mathCtx = { id: math.contextid, level: 50, instance: math.id, course: math.id };
    chemCtx = { id: chem.contextid, level: 50, instance: chem.id, course: chem.id };
    await sb.startWorker();
  });
  after(async () => {
    await sb?.close();
  });

  it('creating a user with a password logs user_password_updated then user_created; without one, user_created only', async () => {
    const t = now();
    await users('ev-create-pw.csv', 'username;firstname;lastname;email;password\nev1;Eve;One;ev1@example.com;Secret-Pass-1\n');
    await users('ev-create.csv', 'username;firstname;lastname;email\nev2;Eve;Two;ev2@example.com\nev3;Eve;Three;ev3@example.com\n');
    await learnUsers('ev1', 'ev2', 'ev3');
    assert.deepEqual(await newEvents(t), [
      expected('user_password_updated', userCtx.ev1, null, uid.ev1, '{"forgottenreset":false}'),
      expected('user_created', userCtx.ev1, uid.ev1, uid.ev1, 'null'),
      expected('user_created', userCtx.ev2, uid.ev2, uid.ev2, 'null'),
      expected('user_created', userCtx.ev3, uid.ev3, uid.ev3, 'null'),
    ]);
  });

  it('an update logs user_updated, a new password user_password_updated first; suspending logs user_updated; nothing changed logs nothing', async () => {
    const t = now();
    await users('ev-newpw.csv', 'username;firstname;lastname;password\nev1;Eve;One;New-Secret-2\n');
    await users('ev-rename.csv', 'username;firstname;lastname\nev2;Evelyn;Two\nev3;Eve;Three\n');
    await users('ev-suspend.csv', 'username\nev2\n', ['--op', 'suspend']);
    assert.deepEqual(await newEvents(t), [
      expected('user_password_updated', userCtx.ev1, null, uid.ev1, '{"forgottenreset":false}'),
      expected('user_updated', userCtx.ev1, uid.ev1, uid.ev1, 'null'),
      expected('user_updated', userCtx.ev2, uid.ev2, uid.ev2, 'null'),
      expected('user_updated', userCtx.ev2, uid.ev2, uid.ev2, 'null'),
    ]);
  });

  it('plain adds (written together) log user_enrolment_created and role_assigned per row, in file order; a failed row logs nothing', async () => {
    const t = now();
    const r = await enrols('ev-add.csv', 'cmd;rolename;cid;uid;enrol\nadd;student;MATH101;ev3;manual\nadd;student;NOPE999;ev1;manual\nadd;student;MATH101;ev1;manual\n');
    assert.deepEqual(r.rows, { total: 3, applied: 2, failed: 1, skipped: 0 });
    const [ue3, ue1] = [await ueOf(math.manualEnrolId, 'ev3'), await ueOf(math.manualEnrolId, 'ev1')];
    assert.deepEqual(await newEvents(t), [
      expected('user_enrolment_created', mathCtx, Number(ue3.id), uid.ev3, '{"enrol":"manual"}'),
      expected('role_assigned', mathCtx, STUDENT, uid.ev3, `{"id":${await raId(STUDENT, mathCtx, 'ev3')},"component":"","itemid":0}`),
      expected('user_enrolment_created', mathCtx, Number(ue1.id), uid.ev1, '{"enrol":"manual"}'),
      expected('role_assigned', mathCtx, STUDENT, uid.ev1, `{"id":${await raId(STUDENT, mathCtx, 'ev1')},"component":"","itemid":0}`),
    ]);
  });

  it('a second role and a new group log role_assigned, group_created, group_member_added; a row rolled back to its savepoint logs nothing', async () => {
    const t = now();
    const r = await enrols('ev-second.csv', [
      'cmd;rolename;cid;uid;enrol;gcmd;g1',
      'add;editingteacher;MATH101;ev1;manual;gaddcreate;Team A',
      'add;student;MATH101;ev2;manual;gadd;No Such Group',
      'add;student;MATH101;ev1;manual;;',
    ].join('\n') + '\n');
    assert.deepEqual(r.rows, { total: 3, applied: 2, failed: 1, skipped: 0 });
    const team = await groupId('Team A');
    assert.deepEqual(await newEvents(t), [
      expected('role_assigned', mathCtx, EDITINGTEACHER, uid.ev1, `{"id":${await raId(EDITINGTEACHER, mathCtx, 'ev1')},"component":"","itemid":0}`),
      expected('group_created', mathCtx, team, null, 'null'),
      expected('group_member_added', mathCtx, team, uid.ev1, '{"component":"","itemid":0}'),
    ]);
  });

  it('disable and enable log user_enrolment_updated each', async () => {
    const t = now();
    await enrols('ev-status.csv', 'cmd;rolename;cid;uid;enrol\ndisable;student;MATH101;ev3;manual\nenable;student;MATH101;ev3;manual\n');
    const ue3 = Number((await ueOf(math.manualEnrolId, 'ev3')).id);
    assert.deepEqual(await newEvents(t), [
      expected('user_enrolment_updated', mathCtx, ue3, uid.ev3, '{"enrol":"manual"}'),
      expected('user_enrolment_updated', mathCtx, ue3, uid.ev3, '{"enrol":"manual"}'),
    ]);
  });

  it('a role-only add and del log role_assigned (integers) and role_unassigned (strings)', async () => {
    const t = now();
    await enrols('ev-role-add.csv', 'cmd;rolename;cid;uid\nadd;teacher;MATH101;ev2\n');
    const ra = await raId(TEACHER, mathCtx, 'ev2');
    await enrols('ev-role-del.csv', 'cmd;rolename;cid;uid\ndel;teacher;MATH101;ev2\n');
    assert.deepEqual(await newEvents(t), [
      expected('role_assigned', mathCtx, TEACHER, uid.ev2, `{"id":${ra},"component":"","itemid":0}`),
      expected('role_unassigned', mathCtx, TEACHER, uid.ev2, `{"id":"${ra}","component":"","itemid":"0"}`),
    ]);
  });

  it('unenrolling logs role_unassigned per role, group_member_removed, then user_enrolment_deleted with the deleted row', async () => {
    const ue = await ueOf(math.manualEnrolId, 'ev1');
    const [student, teacher] = [await raId(STUDENT, mathCtx, 'ev1'), await raId(EDITINGTEACHER, mathCtx, 'ev1')];
    const team = await groupId('Team A');
    const t = now();
    await enrols('ev-del.csv', 'cmd;rolename;cid;uid;enrol\ndel;student;MATH101;ev1;manual\n');
    assert.deepEqual(await newEvents(t), [
      expected('role_unassigned', mathCtx, STUDENT, uid.ev1, `{"id":"${student}","component":"","itemid":"0"}`),
      expected('role_unassigned', mathCtx, EDITINGTEACHER, uid.ev1, `{"id":"${teacher}","component":"","itemid":"0"}`),
      expected('group_member_removed', mathCtx, team, uid.ev1, 'null'),
      expected('user_enrolment_deleted', mathCtx, Number(ue.id), uid.ev1, deletedUe(ue, math.id, 'manual', true)),
    ]);
  });

  it('enrolling through a disabled instance enables it first: enrol_instance_updated, then the enrolment', async () => {
    await setting('enrols_enableenrolondisabled', '1');
    const t = now();
    await enrols('ev-enable.csv', 'cmd;rolename;cid;uid;enrol\nadd;student;CHEM301;ev3;manual\n');
    assert.deepEqual(await newEvents(t), [
      expected('enrol_instance_updated', chemCtx, chem.manualEnrolId, null, '{"enrol":"manual"}'),
      expected('user_enrolment_created', chemCtx, Number((await ueOf(chem.manualEnrolId, 'ev3')).id), uid.ev3, '{"enrol":"manual"}'),
      expected('role_assigned', chemCtx, STUDENT, uid.ev3, `{"id":${await raId(STUDENT, chemCtx, 'ev3')},"component":"","itemid":0}`),
    ]);
  });

  it('deleting an enrolled, grouped cohort member logs the unenrolment, then user_deleted with the old identity; no cohort event', async () => {
    let t = now();
    await users('ev-create-full.csv', 'username;firstname;lastname;email;cohort;course1;role1;enrol1;group1\nev4;Eve;Four;ev4@example.com;Year 9;MATH101;student;manual;Team B\n');
    await learnUsers('ev4');
    const cohort = Number((await rows(sb.db, "SELECT id FROM mdl_cohort WHERE name = 'Year 9'"))[0].id);
    const team = await groupId('Team B');
    const ue = await ueOf(math.manualEnrolId, 'ev4');
    const ra = await raId(STUDENT, mathCtx, 'ev4');
    assert.deepEqual(await newEvents(t), [
      expected('user_created', userCtx.ev4, uid.ev4, uid.ev4, 'null'),
      expected('cohort_created', system, cohort, null, 'null'),
      expected('cohort_member_added', system, cohort, uid.ev4, 'null'),
      expected('user_enrolment_created', mathCtx, Number(ue.id), uid.ev4, '{"enrol":"manual"}'),
      expected('role_assigned', mathCtx, STUDENT, uid.ev4, `{"id":${ra},"component":"","itemid":0}`),
      expected('group_created', mathCtx, team, null, 'null'),
      expected('group_member_added', mathCtx, team, uid.ev4, '{"component":"","itemid":0}'),
    ]);

    t = now();
    await users('ev-delete.csv', 'username;firstname;lastname;deleted\nev4;Eve;Four;1\n');
    assert.deepEqual(await newEvents(t), [
      expected('role_unassigned', mathCtx, STUDENT, uid.ev4, `{"id":"${ra}","component":"","itemid":"0"}`),
      expected('group_member_removed', mathCtx, team, uid.ev4, 'null'),
      expected('user_enrolment_deleted', mathCtx, Number(ue.id), uid.ev4, deletedUe(ue, math.id, 'manual', true)),
      expected('user_deleted', userCtx.ev4, uid.ev4, uid.ev4, '{"username":"ev4","email":"ev4@example.com","idnumber":"","picture":"0","mnethostid":"1"}'),
    ]);
    assert.equal((await rows(sb.db, 'SELECT * FROM mdl_cohort_members WHERE userid = ?', [uid.ev4])).length, 0);
  });

  it('a users file that adds a member to a cohort bound to a course logs what enrol_cohort\'s observer logs, after cohort_member_added', async () => {
    for (const [k, v] of [['cohorts_cohortidentifier', 'name'], ['cohorts_courseidentifier', 'shortname']]) await setting(k, v);
    let t = now();
    const bind = await runToolFile(sb, 'cohorts', 'ev-bind.csv', 'cohort;course;role;makegroup\nYear 9;MATH101;student;1\n', ['--op', 'bindings']);
    assert.equal(bind.rows.applied, 1);
    const cohort = Number((await rows(sb.db, "SELECT id FROM mdl_cohort WHERE name = 'Year 9'"))[0].id);
    const [inst] = await rows(sb.db, "SELECT id, customint2 FROM mdl_enrol WHERE enrol = 'cohort' AND customint1 = ?", [cohort]);
    const group = Number(inst.customint2);
    // The cohort has no member (ev4 was deleted): the group, then the instance, nothing to sync.
    assert.deepEqual(await newEvents(t), [
      expected('group_created', mathCtx, group, null, 'null'),
      expected('enrol_instance_created', mathCtx, Number(inst.id), null, '{"enrol":"cohort"}'),
    ]);

    t = now();
    await users('ev-cohort-member.csv', 'username;firstname;lastname;email;cohort\nev5;Eve;Five;ev5@example.com;Year 9\n');
    await learnUsers('ev5');
    const ue = await ueOf(Number(inst.id), 'ev5');
    assert.deepEqual(await newEvents(t), [
      expected('user_created', userCtx.ev5, uid.ev5, uid.ev5, 'null'),
      expected('cohort_member_added', system, cohort, uid.ev5, 'null'),
      expected('user_enrolment_created', mathCtx, Number(ue.id), uid.ev5, '{"enrol":"cohort"}'),
      expected('role_assigned', mathCtx, STUDENT, uid.ev5, `{"id":${await raId(STUDENT, mathCtx, 'ev5')},"component":"enrol_cohort","itemid":"${inst.id}"}`),
      expected('group_member_added', mathCtx, group, uid.ev5, `{"component":"enrol_cohort","itemid":"${inst.id}"}`),
    ]);
  });

  it('a site whose standard log store is off (tool_log enabled_stores) gets no log rows, as from Moodle', async () => {
    await sb.db.query("UPDATE mdl_config_plugins SET value = '' WHERE plugin = 'tool_log' AND name = 'enabled_stores'");
    try {
      const t = now();
      const r = await users('ev-nolog.csv', 'username;firstname;lastname;email\nevnolog;No;Log;evnolog@example.com\n');
      assert.equal(r.rows.applied, 1);
      assert.deepEqual(await newEvents(t), []);
    } finally {
      await sb.db.query("UPDATE mdl_config_plugins SET value = 'logstore_standard' WHERE plugin = 'tool_log' AND name = 'enabled_stores'");
    }
  });

  it('a simulation logs nothing', async () => {
    const t = now();
    const r = await runToolFile(sb, 'enrols', 'ev-sim.csv', 'cmd;rolename;cid;uid;enrol\nadd;student;MATH101;ev2;manual\n', ['--simulate']);
    assert.equal(r.rows.applied, 1);
    assert.deepEqual(await newEvents(t), []);
  });
});
