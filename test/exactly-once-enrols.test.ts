/**
 * Exactly once for enrolments, through the real path: a 20,000-row enrolments file (batched adds,
 * and rows that create and join a group one by one) keeps exact totals, report and tryback when
 * the worker is killed mid-run (SIGKILL).
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import type { RowDataPacket } from 'mysql2';
import { findOperation } from '../activities/tools';
import { configure, openSandbox, type Sandbox } from './support/sandbox';
import { createCourse } from './support/moodle';
import { assertRunOutputs, chunkAfters, killWorkerMidRun, mostChunksAtOnce } from './support/exactlyOnce';

const ROWS = 20_000;
const COURSES = 10;
const USERS = ROWS / COURSES;
const CHUNKS = ROWS / findOperation('enrols', 'sync').chunkSize!;
const HEADER = 'cmd;rolename;cid;uid;enrol;gcmd;g1';
const FILE = 'eoe-big.csv';

const user = (i: number) => `eou${Math.floor((i - 1) / COURSES) + 1}`;
const course = (i: number) => `EOC${((i - 1) % COURSES) + 1}`;
/**
 * In the last third, every 7th row also joins the course's group "Team", created by the first row
 * that needs it: those chunks share courses and run one after the other; before them, each chunk
 * holds its own users and runs beside another.
 */
const GROUPS_FROM = 13_001;
const withGroup = (i: number) => i >= GROUPS_FROM && i % 7 === 0;

const FAULTS: Record<number, [string, RegExp]> = {
  137: ['add;student;EOC7;nobody137;manual;;', /^uid: no user with username "nobody137"$/],
  2_345: ['add;student;EOC5', /^line \d+: 3 values for 7 columns$/],
  5_001: [`add;student;NOPE;${user(5_001)};manual;;`, /^cid: no course with shortname "NOPE"$/],
  9_999: [`add;bogus;${course(9_999)};${user(9_999)};manual;;`, /^rolename: no role "bogus"$/],
  12_502: [`frob;student;${course(12_502)};${user(12_502)};manual;;`, /^cmd: "frob" is not a command/],
  15_000: [`add;;${course(15_000)};${user(15_000)};manual;;`, /^rolename: empty; add needs a role$/],
  19_998: [`add;student;${course(19_998)};${user(19_998)};self;;`, /^enrol: course EOC\d+ has no enabled "self" enrolment instance/],
};

function bigEnrolsFile(): { content: string; bad: Map<number, RegExp>; good: number[] } {
  const lines = [HEADER];
  const bad = new Map<number, RegExp>();
  const good: number[] = [];
  for (let i = 1; i <= ROWS; i++) {
    const fault = FAULTS[i];
    if (fault) {
      lines.push(fault[0]);
      bad.set(i + 1, fault[1]);
    } else {
      lines.push(`add;student;${course(i)};${user(i)};manual;${withGroup(i) ? 'gaddcreate;Team' : ';'}`);
      good.push(i);
    }
  }
  return { content: `${lines.join('\n')}\n`, bad, good };
}

describe('exactly once on a 20,000-row enrolments file', () => {
  let sb: Sandbox;
  const courseIds: number[] = [];

  before(async () => {
    sb = await openSandbox('exactly_once_enrols');
    await configure(sb, { storereport: '1', filefailed: '1', enrols_useridentifier: 'username' });
    const now = Math.floor(Date.now() / 1000);
    await sb.db.query('INSERT INTO mdl_user (username, auth, confirmed, mnethostid, firstname, lastname, email, timecreated, timemodified) VALUES ?',
      [Array.from({ length: USERS }, (_, k) => [`eou${k + 1}`, 'manual', 1, 1, 'First', `Last${k + 1}`, `eou${k + 1}@example.com`, now, now])]);
    for (let k = 1; k <= COURSES; k++) courseIds.push((await createCourse(sb.db, `EOC${k}`)).id);
  });
  after(async () => sb?.close());

  it('keeps exact totals, report and tryback when the worker is killed mid-run', async (t) => {
    const file = bigEnrolsFile();
    await fsp.mkdir(sb.storeRoot, { recursive: true });
    await fsp.writeFile(path.join(sb.storeRoot, FILE), file.content);
    const enrolments = async () => {
      const [[r]] = await sb.db.query<RowDataPacket[]>(
        'SELECT COUNT(*) AS n FROM mdl_user_enrolments ue JOIN mdl_enrol e ON e.id = ue.enrolid WHERE e.courseid IN (?)', [courseIds]);
      return Number(r.n);
    };
    let workflowId = '';
    const { summary, diagnostic } = await killWorkerMidRun(sb, {
      file: FILE, chunks: CHUNKS, written: enrolments, total: file.good.length,
      start: async () => {
        const r = await sb.cli(['run', 'enrols', '--file', FILE, '--json']);
        assert.equal(r.code, 0, r.stderr);
        workflowId = r.json.workflowId;
        return workflowId;
      },
    });
    t.diagnostic(diagnostic);
    // Independent chunks ran two at a time; the group chunks waited for the ones sharing their courses.
    const after = await chunkAfters(sb, FILE);
    assert.deepEqual(after.slice(0, 12), Array(12).fill(-1), 'chunks of other users follow nothing');
    assert.deepEqual(after.slice(14), Array.from({ length: CHUNKS - 14 }, (_, k) => k + 13), 'chunks sharing courses follow each other');
    assert.equal(await mostChunksAtOnce(sb, `${workflowId}/${FILE}`), 2);

    assert.equal(summary.status, 'completed');
    const f = summary.files[0];
    assert.deepEqual(f.rows, { total: ROWS, applied: file.good.length, failed: file.bad.size, skipped: 0 });
    await assertRunOutputs(sb, f, {
      file: FILE, content: file.content, bad: file.bad, rows: ROWS, chunks: CHUNKS,
      applied: /^add user eou\d+ \(eou\d+\): enrolled in EOC\d+ \(manual, student\)(; added to group "Team"( \(created\))?)?$/,
    });

    // One enrolment and one student role per good row, and nothing else, in these courses.
    const pairs = (list: RowDataPacket[]) => list.map((r) => `${r.username}@${r.shortname}`).sort();
    const expected = file.good.map((i) => `${user(i)}@${course(i)}`).sort();
    const [ues] = await sb.db.query<RowDataPacket[]>(
      `SELECT u.username, c.shortname FROM mdl_user_enrolments ue JOIN mdl_enrol e ON e.id = ue.enrolid AND e.enrol = 'manual'
         JOIN mdl_user u ON u.id = ue.userid JOIN mdl_course c ON c.id = e.courseid WHERE c.id IN (?)`, [courseIds]);
    assert.deepEqual(pairs(ues), expected, 'one manual enrolment per good row');
    const [ras] = await sb.db.query<RowDataPacket[]>(
      `SELECT u.username, c.shortname FROM mdl_role_assignments ra JOIN mdl_context x ON x.id = ra.contextid AND x.contextlevel = 50
         JOIN mdl_course c ON c.id = x.instanceid JOIN mdl_user u ON u.id = ra.userid
        WHERE c.id IN (?) AND ra.roleid = 5 AND ra.component = '' AND ra.itemid = 0`, [courseIds]);
    assert.deepEqual(pairs(ras), expected, 'one student role per good row');
    const [[others]] = await sb.db.query<RowDataPacket[]>(
      'SELECT COUNT(*) AS n FROM mdl_role_assignments ra JOIN mdl_context x ON x.id = ra.contextid AND x.contextlevel = 50 WHERE x.instanceid IN (?)', [courseIds]);
    assert.equal(Number(others.n), expected.length, 'no other role assignment');
    // One group "Team" per course, whatever chunk the kill rolled back, with exactly the rows that joined it.
    const [teams] = await sb.db.query<RowDataPacket[]>('SELECT courseid, COUNT(*) AS n FROM mdl_groups WHERE courseid IN (?) GROUP BY courseid', [courseIds]);
    assert.deepEqual(teams.map((g) => Number(g.n)), courseIds.map(() => 1));
    const [members] = await sb.db.query<RowDataPacket[]>(
      `SELECT u.username, c.shortname FROM mdl_groups_members m JOIN mdl_groups g ON g.id = m.groupid AND g.name = 'Team'
         JOIN mdl_course c ON c.id = g.courseid JOIN mdl_user u ON u.id = m.userid WHERE c.id IN (?)`, [courseIds]);
    assert.deepEqual(pairs(members), file.good.filter(withGroup).map((i) => `${user(i)}@${course(i)}`).sort(), 'one membership per good row with a group');
    // Their log rows exactly once too, whichever attempt committed the chunk.
    const [ueIds] = await sb.db.query<RowDataPacket[]>(
      'SELECT ue.id FROM mdl_user_enrolments ue JOIN mdl_enrol e ON e.id = ue.enrolid WHERE e.courseid IN (?) ORDER BY ue.id', [courseIds]);
    const [created] = await sb.db.query<RowDataPacket[]>(
      "SELECT objectid FROM mdl_logstore_standard_log WHERE eventname = '\\\\core\\\\event\\\\user_enrolment_created' AND courseid IN (?) ORDER BY objectid", [courseIds]);
    assert.deepEqual(created.map((r) => Number(r.objectid)), ueIds.map((r) => Number(r.id)), 'one user_enrolment_created per enrolment');
    const [assigned] = await sb.db.query<RowDataPacket[]>(
      "SELECT COUNT(*) AS n, COUNT(DISTINCT contextid, relateduserid) AS pairs FROM mdl_logstore_standard_log WHERE eventname = '\\\\core\\\\event\\\\role_assigned' AND courseid IN (?)", [courseIds]);
    assert.deepEqual([Number(assigned[0].n), Number(assigned[0].pairs)], [expected.length, expected.length], 'one role_assigned per role assignment');
    // Every user whose access changed is flagged dirty, once.
    const [[dirty]] = await sb.db.query<RowDataPacket[]>(
      "SELECT COUNT(*) AS n, COUNT(DISTINCT name) AS names FROM mdl_cache_flags WHERE flagtype = 'accesslib/dirtyusers'");
    assert.equal(Number(dirty.n), Number(dirty.names));
    assert.ok(Number(dirty.n) >= new Set(file.good.map(user)).size);
  });
});
