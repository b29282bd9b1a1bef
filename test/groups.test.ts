/**
 * The groups tool through the real path (CLI, worker, Temporal dev server, the Moodle database),
 * with reference 11.1's configuration and samples (step 9), rows compared column by column with
 * what moodle-writes.md says Moodle's group API writes, and every other Moodle table unchanged but
 * the event log, whose rows (logstore_standard_log) are compared column by column, in log order.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import mysql from 'mysql2/promise';
import { openSandbox, runToolFile, storeText, type Sandbox } from './support/sandbox';
import { createCourse, rows } from './support/moodle';
import { LogReader, courseCtx, logRow } from './support/logstore';
import { samplesDir } from '../scripts/fixture';
import { openMoodleDb, type MoodleDb } from '../activities/moodle/db';
import { setSetting } from '../activities/settings/store';

type Course = Awaited<ReturnType<typeof createCourse>>;
const now = () => Math.floor(Date.now() / 1000);

/** A checksum of every Moodle table (moodle-sync's own tables aside). */
async function tableSums(db: mysql.Connection): Promise<Map<string, string>> {
  const tables = await rows(db, "SELECT table_name AS t FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name LIKE 'mdl\\_%'");
  const sums = await rows(db, `CHECKSUM TABLE ${tables.map((t) => mysql.escapeId(String(t.t))).join(', ')}`);
  return new Map(sums.map((s) => [String(s.Table).split('.').pop()!.replace(/^mdl_/, ''), String(s.Checksum)]));
}

describe('groups: groups, groupings and members', () => {
  let sb: Sandbox;
  let moodle: MoodleDb;
  const course: Record<string, Course> = {};
  const uid: Record<string, number> = {};
  let t0 = 0;

  const runFile = (op: string, name: string, content: string, extra: string[] = []) => runToolFile(sb, 'groups', name, content, ['--op', op, ...extra]);
  const sample = (name: string) => fsp.readFile(path.join(samplesDir(), name), 'utf8');
  const report = (p: string) => storeText(sb, p);
  // The settings store itself (validation included), without a CLI process per key.
  const setting = (k: string, v: string) => setSetting(moodle, k, v);
  /** Runs `action` and returns the Moodle tables whose content it changed. */
  const changedBy = async (action: () => Promise<unknown>): Promise<string[]> => {
    const before = await tableSums(sb.db);
    await action();
    const after = await tableSums(sb.db);
    return [...after].filter(([t, sum]) => before.get(t) !== sum).map(([t]) => t).sort();
  };
  /** A time written by this test's runs shows as 'now'. */
  const stamp = (v: unknown) => (Number(v) >= t0 && Number(v) <= now() ? 'now' : Number(v));
  const shortname = (id: number) => Object.entries(course).find(([, c]) => c.id === id)?.[0] ?? id;
  /** Every column but id; times as 'now', course ids as shortnames. */
  const table = async (name: string, order = 'id') => (await rows(sb.db, `SELECT * FROM ${mysql.escapeId(`mdl_${name}`)} ORDER BY ${order}`)).map((r) => {
    const { id: _id, ...rest } = r as Record<string, unknown>;
    for (const k of ['timecreated', 'timemodified', 'timeadded']) if (k in rest) rest[k] = stamp(rest[k]);
    if ('courseid' in rest) rest.courseid = shortname(Number(rest.courseid));
    return rest;
  });
  const links = async () => (await rows(sb.db, `SELECT gi.idnumber AS grouping, g.idnumber AS grp, gg.timeadded FROM mdl_groupings_groups gg
      JOIN mdl_groupings gi ON gi.id = gg.groupingid JOIN mdl_groups g ON g.id = gg.groupid ORDER BY gi.courseid, gi.idnumber, g.idnumber`))
    .map((r) => `${r.grouping}:${r.grp}:${stamp(r.timeadded)}`);
  const members = async (courseName = 'TESTCOURSE1') => (await rows(sb.db, `SELECT g.idnumber, u.username, m.component, m.itemid, m.timeadded FROM mdl_groups_members m
      JOIN mdl_groups g ON g.id = m.groupid JOIN mdl_user u ON u.id = m.userid WHERE g.courseid = ? ORDER BY g.idnumber, u.username`, [course[courseName].id]))
    .map((r) => `${r.idnumber}:${r.username}:${r.component}:${r.itemid}:${stamp(r.timeadded)}`);
  // ---- event log ----
  let log: LogReader;
  const ctx = (courseName: string) => courseCtx(course[courseName]);
  const idOf = async (table: 'groups' | 'groupings', courseName: string, idnumber: string) =>
    Number((await rows(sb.db, `SELECT id FROM ${mysql.escapeId(`mdl_${table}`)} WHERE courseid = ? AND idnumber = ?`, [course[courseName].id, idnumber]))[0].id);
  /** groups_add_member(…, 'tool_sync'): itemid 0 stays the integer the API defaults to. */
  const OWN = '{"component":"tool_sync","itemid":0}';
  const joined = async (idnumber: string, user: string) => logRow('group_member_added', ctx('TESTCOURSE1'), await idOf('groups', 'TESTCOURSE1', idnumber), uid[user], OWN);
  const left = async (idnumber: string, user: string) => logRow('group_member_removed', ctx('TESTCOURSE1'), await idOf('groups', 'TESTCOURSE1', idnumber), uid[user], 'null');
  const groupTimes = async () => new Map((await rows(sb.db, 'SELECT idnumber, courseid, timemodified FROM mdl_groups')).map((g) => [`${shortname(Number(g.courseid))}/${g.idnumber}`, stamp(g.timemodified)]));

  before(async () => {
    sb = await openSandbox('groups');
    moodle = openMoodleDb(sb.env.MOODLE_DB_URL!, 'mdl_', 'msync_');
    // Reference 11.1: csvseparator ;, report, archive, tryback on, no cleanup; groups by course
    // shortname, group and grouping idnumber, user username.
    for (const [k, v] of [
      ['csvseparator', ';'], ['storereport', '1'], ['filearchive', '1'], ['filefailed', '1'], ['filecleanup', '0'],
      ['users_primaryidentity', 'username'], ['groups_courseidentifier', 'shortname'], ['groups_groupidentifier', 'idnumber'],
      ['groups_groupingidentifier', 'idnumber'], ['groups_useridentifier', 'username'],
    ]) await setting(k, v);
    for (const c of ['TESTCOURSE1', 'TESTCOURSE2', 'TESTCOURSE3']) course[c] = await createCourse(sb.db, c);
    await sb.startWorker();
    // The sample members need a role in TESTCOURSE1 (the reference scenario leaves that implicit).
    const people = ['ugr1', 'ugr2', 'ugr3', 'ugr4', 'ugr10'].map((u) => `${u};User;${u};${u}@example.org;TESTCOURSE1;student;manual`);
    const r = await runToolFile(sb, 'users', 'people.csv', `${['username;firstname;lastname;email;course1;role1;enrol1', ...people, 'outsider;Out;Sider;out@example.org;;;'].join('\n')}\n`);
    assert.equal(r.rows.applied, 6, JSON.stringify(r));
    for (const u of await rows(sb.db, "SELECT id, username FROM mdl_user WHERE username LIKE 'ugr%' OR username = 'outsider'")) uid[u.username] = Number(u.id);
    log = new LogReader(sb.db);
    t0 = now();
  });
  after(async () => {
    await moodle?.close();
    await sb?.close();
  });

  it('reference 11.1 step 9, groups.csv: groupings, groups and their links, exactly as the group API writes them', async () => {
    let r: any;
    const since = now();
    await log.mark();
    const changed = await changedBy(async () => { r = await runFile('groups', 'groups.csv', await sample('groups.csv')); });
    assert.deepEqual(r.rows, { total: 10, applied: 10, failed: 0, skipped: 0 });
    // groups_create_group, groups_create_grouping, groups_assign_grouping; no cache_flags, no course change.
    assert.deepEqual(changed, ['groupings', 'groupings_groups', 'groups', 'logstore_standard_log']);
    // Row by row: grouping_created; group_created then grouping_group_assigned (the group id as a string); selfgrouping
    // creates the grouping between the two.
    const c1 = ctx('TESTCOURSE1');
    const c2 = ctx('TESTCOURSE2');
    const expected = [
      logRow('grouping_created', c1, await idOf('groupings', 'TESTCOURSE1', 'GRPA'), null, 'null'),
      logRow('grouping_created', c1, await idOf('groupings', 'TESTCOURSE1', 'GRPB'), null, 'null'),
    ];
    for (const [n, grouping] of [[1, 'GRPA'], [2, 'GRPA'], [3, 'GRPB'], [4, 'GRPB']] as const) {
      const g = await idOf('groups', 'TESTCOURSE1', `TC1_GR${n}`);
      expected.push(logRow('group_created', c1, g, null, 'null'), logRow('grouping_group_assigned', c1, await idOf('groupings', 'TESTCOURSE1', grouping), null, `{"groupid":"${g}"}`));
    }
    for (const n of [1, 2, 3, 4]) {
      const [g, own] = [await idOf('groups', 'TESTCOURSE2', `TC2_GR${n}`), await idOf('groupings', 'TESTCOURSE2', `TC2_GR${n}`)];
      expected.push(logRow('group_created', c2, g, null, 'null'), logRow('grouping_created', c2, own, null, 'null'), logRow('grouping_group_assigned', c2, own, null, `{"groupid":"${g}"}`));
    }
    assert.deepEqual(await log.since(since), expected);
    const group = (c: string, idnumber: string, name: string, description: string) => ({
      courseid: c, idnumber, name, description, descriptionformat: 0, enrolmentkey: null, picture: 0, visibility: 0, participation: 1, timecreated: 'now', timemodified: 'now',
    });
    assert.deepEqual(await table('groups'), [
      ...[1, 2, 3, 4].map((n) => group('TESTCOURSE1', `TC1_GR${n}`, `Group ${n}`, `Test group for creation ${n}`)),
      ...[1, 2, 3, 4].map((n) => group('TESTCOURSE2', `TC2_GR${n}`, `Group ${n}B`, `Test group for creation ${n}`)),
    ]);
    const grouping = (c: string, idnumber: string, name: string, description: string) => ({
      courseid: c, name, idnumber, description, descriptionformat: 1, configdata: null, timecreated: 'now', timemodified: 'now',
    });
    assert.deepEqual(await table('groupings'), [
      grouping('TESTCOURSE1', 'GRPA', 'Grouping A', 'Test grouping for creation A'),
      grouping('TESTCOURSE1', 'GRPB', 'Grouping B', 'Test grouping for creation B'),
      ...[1, 2, 3, 4].map((n) => grouping('TESTCOURSE2', `TC2_GR${n}`, `Group ${n}B`, `Test group for creation ${n}`)),
    ]);
    // TC1_GR1 in Grouping A (the reference's check); selfgrouping puts each group in its own grouping.
    assert.deepEqual(await links(), ['GRPA:TC1_GR1:now', 'GRPA:TC1_GR2:now', 'GRPB:TC1_GR3:now', 'GRPB:TC1_GR4:now',
      ...[1, 2, 3, 4].map((n) => `TC2_GR${n}:TC2_GR${n}:now`)]);
    const text = await report(r.report);
    assert.match(text, /line 2: applied: grouping "Grouping A" \(GRPA\) created in TESTCOURSE1\n/);
    assert.match(text, /line 4: applied: group "Group 1" \(TC1_GR1\) created in TESTCOURSE1; added to grouping "Grouping A" \(GRPA\)\n/);
    assert.match(text, /line 8: applied: group "Group 1B" \(TC2_GR1\) created in TESTCOURSE2; added to grouping "Group 1B" \(TC2_GR1\) \(created\)\n/);
    assert.ok(r.archive, 'filearchive keeps a copy');

    // The same file again changes nothing (and logs nothing).
    const again = await changedBy(async () => { r = await runFile('groups', 'groups.csv', await sample('groups.csv')); });
    assert.deepEqual(r.rows, { total: 10, applied: 10, failed: 0, skipped: 0 });
    assert.deepEqual(again, []);
    assert.match(await report(r.report), /line 4: applied: group "Group 1" \(TC1_GR1\) already in TESTCOURSE1, kept as it is; already in grouping "Grouping A" \(GRPA\)\n/);
  });

  it('reference 11.1 step 9, group_members.csv: tool_sync memberships; a group of another course is a row error', async () => {
    await sb.db.query('UPDATE mdl_groups SET timemodified = 0');
    let r: any;
    const since = now();
    await log.mark();
    const changed = await changedBy(async () => { r = await runFile('members', 'group_members.csv', await sample('group_members.csv')); });
    assert.deepEqual(r.rows, { total: 12, applied: 8, failed: 4, skipped: 0 });
    // groups_add_member: groups_members +1 and groups.timemodified, nothing else; group_member_added per row, the failed rows none.
    assert.deepEqual(changed, ['groups', 'groups_members', 'logstore_standard_log']);
    assert.deepEqual(await log.since(since), [
      await joined('TC1_GR1', 'ugr1'), await joined('TC1_GR2', 'ugr2'), await joined('TC1_GR3', 'ugr3'), await joined('TC1_GR4', 'ugr4'),
      await joined('TC1_GR1', 'ugr10'), await joined('TC1_GR2', 'ugr10'), await joined('TC1_GR3', 'ugr10'), await joined('TC1_GR4', 'ugr10'),
    ]);
    assert.deepEqual(await members(), [
      'TC1_GR1:ugr1:tool_sync:0:now', 'TC1_GR1:ugr10:tool_sync:0:now', 'TC1_GR2:ugr10:tool_sync:0:now', 'TC1_GR2:ugr2:tool_sync:0:now',
      'TC1_GR3:ugr10:tool_sync:0:now', 'TC1_GR3:ugr3:tool_sync:0:now', 'TC1_GR4:ugr10:tool_sync:0:now', 'TC1_GR4:ugr4:tool_sync:0:now',
    ]);
    assert.deepEqual(await members('TESTCOURSE2'), []);
    const times = await groupTimes();
    for (const n of [1, 2, 3, 4]) {
      assert.equal(times.get(`TESTCOURSE1/TC1_GR${n}`), 'now');
      assert.equal(times.get(`TESTCOURSE2/TC2_GR${n}`), 0, 'groups nobody joined are not touched');
    }
    const text = await report(r.report);
    assert.match(text, /line 3: applied: add user ugr1: added to group "Group 1" of TESTCOURSE1\n/);
    assert.match(text, /line 11: failed: groupid: no group with idnumber "TC1_GR1" in TESTCOURSE2\n/);
    const sampleLines = (await sample('group_members.csv')).split('\n');
    assert.equal(await report(r.tryback), `${[sampleLines[1], ...sampleLines.slice(10)].join('\n')}\n`);
  });

  it('reference 11.1 step 9, shift_group_members.csv: each user moves to the named group', async () => {
    let r: any;
    const since = now();
    await log.mark();
    const changed = await changedBy(async () => { r = await runFile('members', 'shift_group_members.csv', await sample('shift_group_members.csv')); });
    assert.deepEqual(r.rows, { total: 8, applied: 8, failed: 0, skipped: 0 });
    assert.deepEqual(changed, ['groups', 'groups_members', 'logstore_standard_log']);
    // Each row: groups_remove_member of the user's other groups (by membership), then groups_add_member unless already in.
    assert.deepEqual(await log.since(since), [
      await left('TC1_GR1', 'ugr1'), await joined('TC1_GR2', 'ugr1'),
      await left('TC1_GR2', 'ugr2'), await joined('TC1_GR3', 'ugr2'),
      await left('TC1_GR3', 'ugr3'), await joined('TC1_GR4', 'ugr3'),
      await left('TC1_GR4', 'ugr4'), await joined('TC1_GR1', 'ugr4'),
      await left('TC1_GR1', 'ugr10'), await left('TC1_GR3', 'ugr10'), await left('TC1_GR4', 'ugr10'),
      await left('TC1_GR2', 'ugr10'), await joined('TC1_GR3', 'ugr10'),
      await left('TC1_GR3', 'ugr10'), await joined('TC1_GR4', 'ugr10'),
      await left('TC1_GR4', 'ugr10'), await joined('TC1_GR1', 'ugr10'),
    ]);
    // ugr1 in TC1_GR2 and ugr4 in TC1_GR1 (the reference's checks); ugr10 ends in the last group named.
    assert.deepEqual(await members(), [
      'TC1_GR1:ugr10:tool_sync:0:now', 'TC1_GR1:ugr4:tool_sync:0:now', 'TC1_GR2:ugr1:tool_sync:0:now', 'TC1_GR3:ugr2:tool_sync:0:now', 'TC1_GR4:ugr3:tool_sync:0:now',
    ]);
    assert.match(await report(r.report), /line 3: applied: shift user ugr1: left 1 other group of TESTCOURSE1; added to group "Group 2" of TESTCOURSE1\n/);
  });

  it('reference 11.1 step 9, groups_update.csv and groupings_update.csv: renamed, columns the file lacks kept', async () => {
    await sb.db.query('UPDATE mdl_groups SET timemodified = 0');
    const before = await table('groups');
    let r: any;
    let since = now();
    await log.mark();
    let changed = await changedBy(async () => { r = await runFile('groups', 'groups_update.csv', await sample('groups_update.csv')); });
    assert.deepEqual(r.rows, { total: 8, applied: 8, failed: 0, skipped: 0 });
    assert.deepEqual(changed, ['groups', 'logstore_standard_log']);
    // groups_update_group: group_updated per row, in the course context.
    const updated = [];
    for (const c of ['TESTCOURSE1', 'TESTCOURSE2']) {
      for (const n of [1, 2, 3, 4]) updated.push(logRow('group_updated', ctx(c), await idOf('groups', c, `TC${c.slice(-1)}_GR${n}`), null, 'null'));
    }
    assert.deepEqual(await log.since(since), updated);
    assert.deepEqual(await table('groups'), before.map((g) => ({
      ...g, name: `Group ${String(g.idnumber).slice(-1)} Updated`, description: `${g.description} Updated`, timemodified: 'now',
    })), 'name and description change; idnumber (no column) is kept');
    assert.match(await report(r.report), /line 2: applied: group "Group 1" \(TC1_GR1\) of TESTCOURSE1 updated \(name, description\)\n/);

    const groupingsBefore = await table('groupings');
    since = now();
    changed = await changedBy(async () => { r = await runFile('groups', 'groupings_update.csv', await sample('groupings_update.csv')); });
    assert.deepEqual(r.rows, { total: 2, applied: 2, failed: 0, skipped: 0 });
    assert.deepEqual(changed, ['groupings', 'logstore_standard_log']);
    assert.deepEqual(await log.since(since), [
      logRow('grouping_updated', ctx('TESTCOURSE1'), await idOf('groupings', 'TESTCOURSE1', 'GRPA'), null, 'null'),
      logRow('grouping_updated', ctx('TESTCOURSE1'), await idOf('groupings', 'TESTCOURSE1', 'GRPB'), null, 'null'),
    ]);
    const expected = groupingsBefore.map((g) => (g.courseid === 'TESTCOURSE1'
      ? { ...g, name: `${g.name} Updated`, description: `${g.description} has been updated`, timemodified: 'now' } : g));
    assert.deepEqual(await table('groupings'), expected);
    assert.equal(expected[0].name, 'Grouping A Updated');
  });

  it('update mode: the lookup stays in the row\'s course; an unknown key creates; an idnumber in use is a row error', async () => {
    const before = await table('groups');
    const since = now();
    await log.mark();
    let r = await runFile('groups', 'update-scope.csv', 'type;courseid;name;updateid\ngroup;TESTCOURSE3;Lab;TC1_GR1\ngrouping;TESTCOURSE3;Streams;STREAMS\n');
    assert.deepEqual(r.rows, { total: 2, applied: 2, failed: 0, skipped: 0 });
    let text = await report(r.report);
    assert.match(text, /line 2: applied: group "Lab" \(TC1_GR1\) created in TESTCOURSE3 \(none had idnumber "TC1_GR1"\)\n/);
    assert.match(text, /line 3: applied: grouping "Streams" \(STREAMS\) created in TESTCOURSE3 \(none had idnumber "STREAMS"\)\n/);
    const file = ['courseid;name;updateid;idnumber', 'TESTCOURSE1;Clash;TC1_GR2;TC1_GR3', 'TESTCOURSE1;Fresh;;FRESH1'];
    r = await runFile('groups', 'update-clash.csv', `${file.join('\n')}\n`);
    assert.deepEqual(r.rows, { total: 2, applied: 1, failed: 1, skipped: 0 });
    const after = await table('groups');
    assert.deepEqual(after.slice(0, before.length), before, 'TESTCOURSE1 groups untouched');
    // A new one keeps the idnumber it was looked for by (idnumbers are per course).
    assert.deepEqual(after.slice(before.length).map((g) => [g.courseid, g.name, g.idnumber, g.description]), [
      ['TESTCOURSE3', 'Lab', 'TC1_GR1', ''], ['TESTCOURSE1', 'Fresh', 'FRESH1', ''],
    ]);
    text = await report(r.report);
    assert.match(text, /line 2: failed: idnumber: group "Group 3 Updated" \(TC1_GR3\) of TESTCOURSE1 already has idnumber "TC1_GR3"\n/);
    assert.match(text, /line 3: applied: group "Fresh" \(FRESH1\) created in TESTCOURSE1\n/);
    assert.equal(await report(r.tryback), `${file[0]}\n${file[1]}\n`);
    assert.deepEqual(await log.since(since), [
      logRow('group_created', ctx('TESTCOURSE3'), await idOf('groups', 'TESTCOURSE3', 'TC1_GR1'), null, 'null'),
      logRow('grouping_created', ctx('TESTCOURSE3'), await idOf('groupings', 'TESTCOURSE3', 'STREAMS'), null, 'null'),
      logRow('group_created', ctx('TESTCOURSE1'), await idOf('groups', 'TESTCOURSE1', 'FRESH1'), null, 'null'),
    ], 'the clashing row rolled back logs nothing');
  });

  it('groups row errors: type, course, name, unknown grouping (the whole row rolls back)', async () => {
    const file = [
      'type;courseid;name;idnumber;selfgrouping;grouping',
      'team;TESTCOURSE1;Odd;ODD;;',
      'group;NOPE;Lost;LOST;;',
      'group;;Lost;LOST;;',
      'group;TESTCOURSE1;;NONAME;;',
      'group;TESTCOURSE1;Orphan;ORPHAN;1;NOGRP',
      'group;TESTCOURSE1;Maybe;MAYBE;perhaps;',
      'group;TESTCOURSE1;Good;GOOD;;GRPA',
    ];
    const before = await rows(sb.db, 'SELECT (SELECT COUNT(*) FROM mdl_groups) g, (SELECT COUNT(*) FROM mdl_groupings) gi, (SELECT COUNT(*) FROM mdl_groupings_groups) gg');
    const since = now();
    await log.mark();
    const r = await runFile('groups', 'bad-groups.csv', `${file.join('\n')}\n`);
    assert.deepEqual(r.rows, { total: 7, applied: 1, failed: 6, skipped: 0 });
    const after = await rows(sb.db, 'SELECT (SELECT COUNT(*) FROM mdl_groups) g, (SELECT COUNT(*) FROM mdl_groupings) gi, (SELECT COUNT(*) FROM mdl_groupings_groups) gg');
    assert.deepEqual([after[0].g - before[0].g, after[0].gi - before[0].gi, after[0].gg - before[0].gg], [1, 0, 1], 'only the good row wrote');
    // Only the good row logs: "Orphan" created a group and its own grouping before failing, and they went with its savepoint.
    const good = await idOf('groups', 'TESTCOURSE1', 'GOOD');
    assert.deepEqual(await log.since(since), [
      logRow('group_created', ctx('TESTCOURSE1'), good, null, 'null'),
      logRow('grouping_group_assigned', ctx('TESTCOURSE1'), await idOf('groupings', 'TESTCOURSE1', 'GRPA'), null, `{"groupid":"${good}"}`),
    ]);
    const text = await report(r.report);
    assert.match(text, /line 2: failed: type: "team" is neither group nor grouping\n/);
    assert.match(text, /line 3: failed: courseid: no course with shortname "NOPE"\n/);
    assert.match(text, /line 4: failed: courseid: empty \(courses are found by shortname\)\n/);
    assert.match(text, /line 5: failed: name: empty; a group needs a name\n/);
    assert.match(text, /line 6: failed: grouping: no grouping with idnumber "NOGRP" in TESTCOURSE1\n/);
    assert.match(text, /line 7: failed: selfgrouping: "perhaps" is not 0 or 1\n/);
    assert.match(text, /line 8: applied: group "Good" \(GOOD\) created in TESTCOURSE1; added to grouping "Grouping A Updated" \(GRPA\)\n/);
    assert.equal(await report(r.tryback), `${file.slice(0, 7).join('\n')}\n`);
  });

  it('members: no role, unknown user or command are row errors; del and shift touch only tool_sync memberships', async () => {
    const [gr2] = await rows(sb.db, "SELECT id FROM mdl_groups WHERE idnumber = 'TC1_GR2'");
    await sb.db.query("INSERT INTO mdl_groups_members (groupid, userid, timeadded, component, itemid) VALUES (?, ?, 0, '', 0)", [gr2.id, uid.ugr3]);
    await sb.db.query('UPDATE mdl_groups SET timemodified = 0');
    const file = [
      'cmd;courseid;groupid;userid',
      'add;TESTCOURSE1;TC1_GR1;outsider',
      'add;TESTCOURSE1;TC1_GR1;nobody',
      'move;TESTCOURSE1;TC1_GR1;ugr1',
      'add;TESTCOURSE1;NOPE;ugr1',
      'shift;TESTCOURSE1;TC1_GR3;ugr3',
      'del;TESTCOURSE1;TC1_GR2;ugr3',
      'del;TESTCOURSE1;TC1_GR1;ugr10',
      'del;TESTCOURSE1;TC1_GR1;ugr1',
    ];
    let r: any;
    const since = now();
    await log.mark();
    const changed = await changedBy(async () => { r = await runFile('members', 'members-mixed.csv', `${file.join('\n')}\n`); });
    assert.deepEqual(r.rows, { total: 8, applied: 3, failed: 4, skipped: 1 });
    // groups_remove_member and groups_add_member: groups_members and groups.timemodified only, and their events.
    assert.deepEqual(changed, ['groups', 'groups_members', 'logstore_standard_log']);
    assert.deepEqual(await log.since(since), [await left('TC1_GR4', 'ugr3'), await joined('TC1_GR3', 'ugr3'), await left('TC1_GR1', 'ugr10')]);
    assert.deepEqual(await members(), [
      'TC1_GR1:ugr4:tool_sync:0:now', 'TC1_GR2:ugr1:tool_sync:0:now', 'TC1_GR2:ugr3::0:0', 'TC1_GR3:ugr2:tool_sync:0:now', 'TC1_GR3:ugr3:tool_sync:0:now',
    ]);
    const times = await groupTimes();
    assert.deepEqual([1, 2, 3, 4].map((n) => times.get(`TESTCOURSE1/TC1_GR${n}`)), ['now', 0, 'now', 'now'], 'only the groups joined or left');
    const text = await report(r.report);
    assert.match(text, /line 2: failed: userid: user outsider has no role in TESTCOURSE1, so cannot join group "Group 1 Updated"\n/);
    assert.match(text, /line 3: failed: userid: no user with username "nobody"\n/);
    assert.match(text, /line 4: failed: cmd: "move" is not a command; use add, shift, del\n/);
    assert.match(text, /line 5: failed: groupid: no group with idnumber "NOPE" in TESTCOURSE1\n/);
    assert.match(text, /line 6: applied: shift user ugr3: left 1 other group of TESTCOURSE1; added to group "Group 3 Updated" of TESTCOURSE1\n/);
    assert.match(text, /line 7: skipped: del user ugr3: kept in group "Group 2 Updated" of TESTCOURSE1: the membership is not moodle-sync's \(component ""\)\n/);
    assert.match(text, /line 8: applied: del user ugr10: removed from group "Group 1 Updated" of TESTCOURSE1\n/);
    assert.match(text, /line 9: applied: del user ugr1: was not in group "Group 1 Updated" of TESTCOURSE1: nothing to do\n/);
    assert.equal(await report(r.tryback), `${file.slice(0, 5).join('\n')}\n`);
  });

  it('groups_purgeemptygroups purges only the courses the file names, after all its rows (across chunks)', async () => {
    // Empty groups in TESTCOURSE1 (one in a grouping) and TESTCOURSE3; an empty grouping in each.
    const g = await runFile('groups', 'purge-setup.csv', `${[
      'type;courseid;name;idnumber;grouping',
      'grouping;TESTCOURSE1;Empty grouping;EMPTYG;',
      'grouping;TESTCOURSE3;Other empty grouping;EMPTYG3;',
      'group;TESTCOURSE1;Empty 1;EMPTY1;GRPB',
      'group;TESTCOURSE3;Empty 3;EMPTY3;',
    ].join('\n')}\n`);
    assert.equal(g.rows.applied, 4);
    await setting('groups_purgeemptygroups', '2');
    try {
      // ugr2 leaves TC1_GR3 at the top and returns at the bottom of a file of more than one chunk:
      // a purge before the last row would have deleted the group.
      await sb.db.query("DELETE FROM mdl_groups_members WHERE userid = ? AND groupid = (SELECT id FROM mdl_groups WHERE idnumber = 'TC1_GR3')", [uid.ugr3]);
      const filler = Array.from({ length: 1100 }, () => 'add;TESTCOURSE1;TC1_GR4;ugr3');
      const file = ['cmd;courseid;groupid;userid', 'del;TESTCOURSE1;TC1_GR3;ugr2', ...filler, 'add;TESTCOURSE1;TC1_GR3;ugr2'];
      const before = { groups: await table('groups'), groupings: await table('groupings'), links: await links() };
      const doomed = [await idOf('groups', 'TESTCOURSE1', 'EMPTY1'), await idOf('groups', 'TESTCOURSE1', 'FRESH1'), await idOf('groups', 'TESTCOURSE1', 'GOOD')];
      const doomedGrouping = await idOf('groupings', 'TESTCOURSE1', 'EMPTYG');
      let r: any;
      const since = now();
      await log.mark();
      const changed = await changedBy(async () => { r = await runFile('members', 'purge.csv', `${file.join('\n')}\n`); });
      assert.deepEqual(r.rows, { total: 1102, applied: 1102, failed: 0, skipped: 0 });
      // The rows' memberships, then groups_delete_group / groups_delete_grouping: group_deleted, grouping_deleted, no per-member event.
      assert.deepEqual(await log.since(since), [
        await left('TC1_GR3', 'ugr2'), await joined('TC1_GR4', 'ugr3'), await joined('TC1_GR3', 'ugr2'),
        ...doomed.map((g) => logRow('group_deleted', ctx('TESTCOURSE1'), g, null, 'null')),
        logRow('grouping_deleted', ctx('TESTCOURSE1'), doomedGrouping, null, 'null'),
      ]);
      // groups_delete_group / groups_delete_grouping: groups, groupings and their links; course.defaultgroupingid and
      // course_modules.groupingid had nothing pointing at them.
      assert.deepEqual(changed, ['groupings', 'groupings_groups', 'groups', 'groups_members', 'logstore_standard_log']);
      // Empty at the end in TESTCOURSE1: EMPTY1 and the groups the earlier tests left empty.
      const gone = new Set(['EMPTY1', 'FRESH1', 'GOOD']);
      const after = await table('groups');
      assert.deepEqual(after.map((x) => `${x.courseid}/${x.idnumber}`),
        before.groups.filter((x) => !(x.courseid === 'TESTCOURSE1' && gone.has(String(x.idnumber)))).map((x) => `${x.courseid}/${x.idnumber}`),
        'only TESTCOURSE1\'s empty groups went; the empty ones of TESTCOURSE2 and TESTCOURSE3 stay');
      assert.ok(after.some((x) => x.idnumber === 'TC1_GR3'), 'emptied then refilled within the file: kept');
      assert.deepEqual(after, before.groups.filter((x) => after.some((y) => y.courseid === x.courseid && y.idnumber === x.idnumber)), 'the groups kept are unchanged');
      assert.deepEqual((await table('groupings')).map((x) => x.idnumber), before.groupings.filter((x) => x.idnumber !== 'EMPTYG').map((x) => x.idnumber));
      assert.deepEqual(await links(), before.links.filter((l) => !gone.has(l.split(':')[1])));
      const text = await report(r.report);
      assert.match(text, /after the rows: note: empty group "Empty 1" \(EMPTY1\) of TESTCOURSE1 deleted\nafter the rows: note: empty group "Fresh" \(FRESH1\) of TESTCOURSE1 deleted\nafter the rows: note: empty group "Good" \(GOOD\) of TESTCOURSE1 deleted\n/);
      assert.match(text, /after the rows: note: empty grouping "Empty grouping" \(EMPTYG\) of TESTCOURSE1 deleted\n/);
      assert.match(text, /after the rows: note: purge of empty groups and groupings in the courses the file names \(TESTCOURSE1\): 4 deleted\n/);
      assert.match(text, /\n1102 row\(s\): 1102 applied, 0 failed, 0 skipped\n/);

      // A simulation purges inside its rolled-back transaction: nothing changes.
      const sim = await changedBy(async () => { r = await runFile('members', 'purge-sim.csv', 'courseid;groupid;userid\nTESTCOURSE3;EMPTY3;ugr1\n', ['--simulate']); });
      assert.deepEqual(sim, []);
      assert.match(await report(r.report), /line 2: failed: userid: user ugr1 has no role in TESTCOURSE3[^\n]*\nafter the rows: note: empty group "Empty 3" \(EMPTY3\) of TESTCOURSE3 deleted\n/);
    } finally {
      await setting('groups_purgeemptygroups', '0');
    }
  });
});
