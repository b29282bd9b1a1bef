/**
 * The users file's enrolment (course<N>...), cohort and password-mail columns, through the real
 * path: CLI, worker, Temporal dev server, the Moodle database and a real SMTP listener.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { configure, openSandbox, runToolFile, storeText, type Sandbox } from './support/sandbox';
import { startSmtpListener, type SmtpListener } from './support/smtp';
import { createCourse, rows } from './support/moodle';
import { parseMoodleTime } from '../activities/moodle/time';

describe('users: enrolment, cohort and password-mail columns', () => {
  let sb: Sandbox;
  let smtp: SmtpListener;
  let c1: Awaited<ReturnType<typeof createCourse>>;
  let c2: Awaited<ReturnType<typeof createCourse>>;

  const runFile = (name: string, content: string, extra: string[] = []) => runToolFile(sb, 'users', name, content, extra);
  const report = (p: string) => storeText(sb, p);

  before(async () => {
    smtp = await startSmtpListener();
    sb = await openSandbox('userenrol');
    await configure(sb, { storereport: '1', filefailed: '1', users_primaryidentity: 'username', users_sendpasswordtousers: '1' });
    c1 = await createCourse(sb.db, 'MATH101');
    c2 = await createCourse(sb.db, 'PHYS201');
    await sb.startWorker({ SMTP_URL: smtp.url });
  });
  after(async () => {
    await sb?.close();
    await smtp?.close();
  });

  it('enrols with dates and a group, assigns a plain role, joins a cohort, and mails the password after the commit', async () => {
    const file = [
      'username;firstname;lastname;email;password;cohort;cohortid;course1;role1;enrol1;start1;end1;group1;course2;role2',
      'stud1;Ada;Lovelace;ada@example.org;Pass-Word-1;Year 1;Y1;MATH101;student;manual;2026-09-01;2027-06-30 18:00:00;Group A;PHYS201;editingteacher',
      'stud2;Alan;Turing;alan@example.org;;Year 1;Y1;MATH101;;manual;;;Group A;;',
      'stud3;Grace;Hopper;grace@example.org;;;;NOPE999;student;manual;;;;;',
    ].join('\n');
    const r = await runFile('enrol-users.csv', `${file}\n`);
    assert.deepEqual(r.rows, { total: 3, applied: 2, failed: 1, skipped: 0 });
    const [u1, u2, u3] = await rows(sb.db, "SELECT id FROM mdl_user WHERE username IN ('stud1','stud2','stud3') ORDER BY username");
    assert.ok(u3, 'the account of a row whose enrolment failed is still created');

    const ue = await rows(sb.db, 'SELECT userid, status, timestart, timeend, modifierid FROM mdl_user_enrolments WHERE enrolid = ? ORDER BY userid', [c1.manualEnrolId]);
    const start = parseMoodleTime('2026-09-01', 'Europe/London');
    const end = parseMoodleTime('2027-06-30 18:00:00', 'Europe/London');
    assert.ok(start.ok && end.ok);
    assert.deepEqual(ue.map((e) => [e.userid, e.status, e.timestart, e.timeend, e.modifierid]), [
      [u1.id, 0, start.value, end.value, 2],
      [u2.id, 0, ue[1].timestart, 0, 2],
    ]);
    assert.ok(Math.abs(Number(ue[1].timestart) - Date.now() / 1000) < 120, 'no start date means now');
    const ra = await rows(sb.db, 'SELECT userid, roleid, contextid, component, itemid FROM mdl_role_assignments ORDER BY userid, contextid');
    assert.deepEqual(ra.map((a) => [a.userid, a.roleid, a.contextid, a.component, a.itemid]), [
      [u1.id, 5, c1.contextid, '', 0],
      [u1.id, 3, c2.contextid, '', 0],
      [u2.id, 5, c1.contextid, '', 0],
    ]);
    const dirty = await rows(sb.db, "SELECT name, value FROM mdl_cache_flags WHERE flagtype = 'accesslib/dirtyusers' ORDER BY name");
    assert.deepEqual(dirty.map((d) => d.name).sort(), [String(u1.id), String(u2.id)].sort());
    const groups = await rows(sb.db, 'SELECT id, courseid, name, idnumber, timemodified FROM mdl_groups');
    assert.equal(groups.length, 1);
    assert.deepEqual([groups[0].courseid, groups[0].name], [c1.id, 'Group A']);
    const members = await rows(sb.db, 'SELECT userid, component, itemid FROM mdl_groups_members WHERE groupid = ? ORDER BY userid', [groups[0].id]);
    assert.deepEqual(members.map((m) => [m.userid, m.component, m.itemid]), [[u1.id, '', 0], [u2.id, '', 0]]);
    const cohorts = await rows(sb.db, 'SELECT id, contextid, name, idnumber, visible, component FROM mdl_cohort');
    assert.deepEqual(cohorts.map((c) => [c.contextid, c.name, c.idnumber, c.visible, c.component]), [[1, 'Year 1', 'Y1', 1, '']]);
    assert.equal((await rows(sb.db, 'SELECT * FROM mdl_cohort_members WHERE cohortid = ?', [cohorts[0].id])).length, 2);

    const text = await report(r.report);
    assert.match(text, /line 2: applied: user stud1 \(id \d+\) created; added to cohort "Year 1" \(created\); enrolled in MATH101 \(manual, student\); added to group "Group A" \(created\); role editingteacher in PHYS201/);
    assert.match(text, /line 4: failed: user stud3 .* NOT DONE: course1: no course with shortname "NOPE999"/);
    assert.equal(await fsp.readFile(path.join(sb.storeRoot, r.tryback), 'utf8'), `${file.split('\n')[0]}\n${file.split('\n')[3]}\n`);

    // The password mail: one, to the new user, after the account was committed; never the hash.
    const mails = smtp.received.filter((m) => m.rcptTo.includes('ada@example.org'));
    assert.equal(mails.length, 1);
    assert.match(mails[0].mail.text ?? '', /Username: stud1\nPassword: Pass-Word-1/);
    assert.equal(smtp.received.length, 1, 'no mail for rows without a clear password');
    assert.ok(!text.includes('Pass-Word-1'), 'the report never shows a password');
  });

  it('a second run of the same enrolments changes nothing (absent dates keep the enrolment dates)', async () => {
    const before = await rows(sb.db, 'SELECT (SELECT COUNT(*) FROM mdl_user_enrolments) ue, (SELECT COUNT(*) FROM mdl_role_assignments) ra, (SELECT COUNT(*) FROM mdl_groups_members) gm, (SELECT COUNT(*) FROM mdl_cohort_members) cm, (SELECT COUNT(*) FROM mdl_groups) g');
    const file = 'username;firstname;lastname;course1;role1;enrol1;group1;cohort\nstud2;Alan;Turing;MATH101;;manual;Group A;Year 1\n';
    const r = await runFile('again.csv', file);
    assert.deepEqual(r.rows, { total: 1, applied: 1, failed: 0, skipped: 0 });
    const after = await rows(sb.db, 'SELECT (SELECT COUNT(*) FROM mdl_user_enrolments) ue, (SELECT COUNT(*) FROM mdl_role_assignments) ra, (SELECT COUNT(*) FROM mdl_groups_members) gm, (SELECT COUNT(*) FROM mdl_cohort_members) cm, (SELECT COUNT(*) FROM mdl_groups) g');
    assert.deepEqual(after, before);
    assert.match(await report(r.report), /already enrolled in MATH101.*already in group "Group A"/);
  });

  it('a simulation mails nobody and writes nothing', async () => {
    const mailsBefore = smtp.received.length;
    const r = await runFile('sim.csv', 'username;firstname;lastname;email;password;course1;enrol1\nsim1;Sim;One;sim1@example.org;Sim-Pass-1;PHYS201;manual\n', ['--simulate']);
    assert.equal(r.simulate, true);
    assert.equal(r.rows.applied, 1);
    assert.equal((await rows(sb.db, "SELECT id FROM mdl_user WHERE username = 'sim1'")).length, 0);
    assert.equal(smtp.received.length, mailsBefore);
    assert.match(await report(r.report), /SIMULATION/);
  });

  it('never copies a clear password into the tryback: the failed line keeps every other byte', async () => {
    const header = 'username;firstname;lastname;password;course1;role1';
    const r = await runFile('secret.csv', `${header}\nsec1;Sec;One;"Top;Secret-9";NOPE999;student\n`);
    assert.equal(r.rows.failed, 1);
    const tryback = await fsp.readFile(path.join(sb.storeRoot, r.tryback), 'utf8');
    assert.equal(tryback, `${header}\nsec1;Sec;One;;NOPE999;student\n`);
    assert.ok(!(await report(r.report)).includes('Secret-9'));
  });

  it('a new member of a cohort bound to a course is enrolled there at once, and an enrolment in a master course reaches its meta course', async () => {
    await configure(sb, { cohorts_cohortidentifier: 'idnumber', cohorts_courseidentifier: 'shortname', courses_filemetabindingidentifier: 'shortname' });
    const bind = await runToolFile(sb, 'cohorts', 'bind.csv', 'course;cohort;role\nPHYS201;Y1;student\n', ['--op', 'bindings']);
    assert.equal(bind.rows.applied, 1, JSON.stringify(bind));
    const child = await createCourse(sb.db, 'CHILDU');
    const link = await runToolFile(sb, 'courses', 'link.csv', 'master;meta;cmd\nMATH101;CHILDU;add\n', ['--op', 'metas']);
    assert.equal(link.rows.applied, 1, JSON.stringify(link));

    const r = await runFile('member.csv', 'username;firstname;lastname;cohort;cohortid;course1;role1;enrol1\nstud5;New;Member;Year 1;Y1;MATH101;student;manual\n');
    assert.equal(r.rows.applied, 1, await report(r.report));
    assert.match(await report(r.report), /added to cohort "Year 1"; enrolled through the cohort in PHYS201; enrolled in MATH101 \(manual, student\)/);
    const [u5] = await rows(sb.db, "SELECT id FROM mdl_user WHERE username = 'stud5'");
    const via = async (courseid: number, plugin: string) => (await rows(sb.db,
      `SELECT ue.status, ra.roleid, ra.component, ra.itemid = e.id AS own FROM mdl_user_enrolments ue JOIN mdl_enrol e ON e.id = ue.enrolid AND e.enrol = ?
         JOIN mdl_context x ON x.contextlevel = 50 AND x.instanceid = e.courseid LEFT JOIN mdl_role_assignments ra ON ra.contextid = x.id AND ra.userid = ue.userid
        WHERE e.courseid = ? AND ue.userid = ?`, [plugin, courseid, u5.id])).map((x) => [x.status, x.roleid, x.component, Number(x.own)]);
    assert.deepEqual(await via(c2.id, 'cohort'), [[0, 5, 'enrol_cohort', 1]]);
    assert.deepEqual(await via(child.id, 'meta'), [[0, 5, 'enrol_meta', 1]]);
  });

  it('sync-all runs every operation in dependency order, each on its configured files', async () => {
    await fsp.writeFile(path.join(sb.storeRoot, 'sa-1.csv'), 'username;firstname;lastname\nsa1;Sync;One\nsa2;Sync;Two\n');
    await fsp.writeFile(path.join(sb.storeRoot, 'sa-2.csv'), 'username;firstname;lastname;suspended\nsa1;Sync;One;0\n');
    await fsp.writeFile(path.join(sb.storeRoot, 'usersuspend.csv'), 'username\nsa2\n');
    assert.equal((await sb.cli(['config', 'set', 'users_filelocation', 'sa-*.csv'])).code, 0);
    const r = await sb.cli(['sync-all', '--wait', '--json']);
    assert.equal(r.code, 0, r.stderr);
    // Spec decision 19: courses (delete, create/update, metas), users (add/update, suspend, delete),
    // user pictures, cohorts (members, then bindings), enrolments, groups (groups, then members).
    const plan = ['courses:delete', 'courses:create', 'courses:metas', 'users:add', 'users:suspend', 'users:delete', 'userpictures:sync',
      'cohorts:members', 'cohorts:bindings', 'enrols:sync', 'groups:groups', 'groups:members'];
    assert.deepEqual(r.json.runs.map((x: { tool: string; op: string }) => `${x.tool}:${x.op}`), plan);
    const run = (name: string) => r.json.runs[plan.indexOf(name)];
    assert.deepEqual(run('users:add').files.map((f: { file: string }) => f.file), ['sa-1.csv', 'sa-2.csv']);
    assert.deepEqual(run('users:suspend').files.map((f: { file: string }) => f.file), ['usersuspend.csv']);
    for (const name of plan.filter((n) => n !== 'users:add' && n !== 'users:suspend')) assert.match(run(name).message, /no input file/, name);
    const users = await rows(sb.db, "SELECT username, suspended FROM mdl_user WHERE username IN ('sa1','sa2') ORDER BY username");
    assert.deepEqual(users.map((u) => [u.username, u.suspended]), [['sa1', 0], ['sa2', 1]]);
  });
});
