/**
 * The users tool through the real path (the moodle-sync CLI and worker processes, a Temporal dev
 * server, a Moodle database copied from the fixture, real files): the original's own scenario
 * on its sample files (reference 11.1 steps 3, 4, 5 and 10), then passwords, the deleted,
 * oldusername and profile_field_* columns, e-mail protection, collisions, and the suspend,
 * restore and delete operations. What each write must look like is moodle-writes.md.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import type { ResultSetHeader, RowDataPacket } from 'mysql2';
import { configure, openSandbox, type CliResult, type Sandbox, type WorkerProcess } from './support/sandbox';
import { samplesDir } from '../scripts/fixture';
import { chunkAfters } from './support/exactlyOnce';
import { hashPassword, sha512crypt, verifyPassword } from '../activities/moodle/password';

const md5 = (s: string) => createHash('md5').update(s).digest('hex');
const nowSec = () => Math.floor(Date.now() / 1000);
const SHA512_HASH = /^\$6\$rounds=10000\$[./0-9A-Za-z]{16}\$[./0-9A-Za-z]{86}$/;

/** True when `text` appears anywhere in `value`: strings, and byte arrays (Temporal payloads) read as UTF-8. */
function containsText(value: unknown, text: string): boolean {
  if (value === null || value === undefined) return false;
  if (typeof value === 'string') return value.includes(text);
  if (value instanceof Uint8Array) return Buffer.from(value).includes(text);
  if (typeof value === 'object') return Object.values(value as object).some((v) => containsText(v, text));
  return false;
}

describe('users tool', () => {
  let sb: Sandbox;
  let worker: WorkerProcess;

  const setConfig = (pairs: Record<string, string>) => configure(sb, pairs);
  /** Runs a file already in the store; it must complete (exit 0). Returns the JSON result and the run's time window. */
  const runStored = async (name: string, ...args: string[]) => {
    const t0 = nowSec();
    const r: CliResult = await sb.cli(['run', 'users', '--file', name, ...args, '--wait', '--json']);
    const t1 = nowSec();
    assert.equal(r.code, 0, `run ${name}: ${r.stdout}${r.stderr}`);
    assert.equal(r.json.status, 'completed');
    return { ...r.json, t0, t1 };
  };
  const runFile = async (name: string, content: string, ...args: string[]) => {
    await fsp.mkdir(sb.storeRoot, { recursive: true });
    await fsp.writeFile(path.join(sb.storeRoot, name), content);
    return runStored(name, ...args);
  };
  const putSample = async (name: string) => {
    const r = await sb.cli(['files', 'put', path.join(samplesDir(), name), name, '--json']);
    assert.equal(r.code, 0, r.stderr);
  };
  const report = (rel: string) => fsp.readFile(path.join(sb.storeRoot, rel), 'utf8');
  const query = async (sql: string, params: unknown[] = []) => (await sb.db.query<RowDataPacket[]>(sql, params))[0];
  const user = async (username: string) => (await query('SELECT * FROM mdl_user WHERE username = ? AND mnethostid = 1', [username]))[0];
  const byId = async (id: number) => (await query('SELECT * FROM mdl_user WHERE id = ?', [id]))[0];
  const prefs = async (userid: number) => Object.fromEntries((await query('SELECT name, value FROM mdl_user_preferences WHERE userid = ?', [userid])).map((p) => [p.name, p.value]));
  const userCount = async () => Number((await query('SELECT COUNT(*) AS n FROM mdl_user'))[0].n);

  before(async () => {
    sb = await openSandbox('users');
    // Reference 11.1: users identified by username, no password creation, no rename, e-mails not protected.
    await setConfig({ users_primaryidentity: 'username', users_protectemails: '0', users_createpasswords: '0', users_allowrename: '0', storereport: '1', filefailed: '1', filearchive: '1' });
    worker = await sb.startWorker();
  });
  after(async () => sb?.close());

  describe("the original's scenario on its samples (reference 11.1 steps 3, 4, 5, 10)", () => {
    const created = [
      ['john.doe', 'John', 'Doe', 'johndoe@foo.com', 'GB'], ['amelie.dupont', 'Amélie', 'Dupont', 'adupont@foo.com', 'FR'],
      ['jack.duf', 'Jack', 'Duff', 'jack.duff@foo.com', 'US'], ['ggrass', 'Günter', 'Grass', 'ggrass@foo.com', 'DE'],
      ['yyang', 'Yum', 'Yang', 'yyang@foo.com', 'CN'],
      ['todelete1', 'To', 'Delete1', 'todelete1@foo.com', 'FR'], ['todelete2', 'To', 'Delete2', 'todelete2@foo.com', 'FR'], ['todelete3', 'To', 'Delete3', 'todelete3@foo.com', 'FR'],
      ['tosuspend1', 'To', 'Suspend1', 'tosuspend1@foo.com', 'FR'], ['tosuspend2', 'To', 'Suspend2', 'tosuspend2@foo.com', 'FR'], ['tosuspend3', 'To', 'Suspend3', 'tosuspend3@foo.com', 'FR'],
      ['toenrol1', 'To', 'Enrol1', 'toenrol1@foo.com', 'FR'], ['toenrol2', 'To', 'Enrol2', 'toenrol2@foo.com', 'FR'], ['toenrol3', 'To', 'Enrol3', 'toenrol3@foo.com', 'FR'], ['toenrol4', 'To', 'Enrol4', 'toenrol4@foo.com', 'FR'],
      ['ugr1', 'User', 'Group1', 'ugr1@foo.com', 'GB'], ['ugr2', 'User', 'Group2', 'ugr1@foo.com', 'GB'], ['ugr3', 'User', 'Group3', 'ugr1@foo.com', 'GB'], ['ugr4', 'User', 'Group4', 'ugr1@foo.com', 'GB'],
      ['ugr10', 'User0', 'Group1', 'u0gr1@foo.com', 'GB'], ['ugr20', 'User0', 'Group2', 'u0gr1@foo.com', 'GB'], ['ugr30', 'User0', 'Group3', 'u0gr1@foo.com', 'GB'], ['ugr40', 'User0', 'Group4', 'u0gr1@foo.com', 'GB'],
    ];
    const ids = new Map<string, number>();

    it('step 3: user_create_sample.csv creates every listed account, with Moodle defaults and a user context', async () => {
      const before = await userCount();
      await putSample('user_create_sample.csv');
      const r = await runStored('user_create_sample.csv');
      assert.deepEqual(r.rows, { total: 23, applied: 23, failed: 0, skipped: 0 }, await report(r.report));
      assert.equal(await userCount(), before + 23);
      for (const [username, firstname, lastname, email, country] of created) {
        const u = await user(username);
        assert.ok(u, `${username} was not created`);
        ids.set(username, Number(u.id));
        assert.deepEqual(
          [u.firstname, u.lastname, u.email, u.country, u.lang, u.auth, u.confirmed, u.mnethostid, u.timezone, u.calendartype, u.maildisplay, u.mailformat, u.maildigest, u.autosubscribe, u.trackforums, u.descriptionformat, u.deleted, u.suspended, u.idnumber, u.password, u.city],
          [firstname, lastname, email, country, 'en', 'manual', 1, 1, '99', 'gregorian', 2, 1, 0, 1, 0, 1, 0, 0, '', '', ''],
          `fields of ${username}`);
        assert.deepEqual([u.description, u.middlename, u.alternatename, u.firstnamephonetic, u.lastnamephonetic, u.imagealt, u.policyagreed, u.picture, u.emailstop],
          [null, null, null, null, null, null, 0, 0, 0], `unsupplied fields of ${username}`);
        assert.ok(Number(u.timecreated) > 0 && Number(u.timecreated) === Number(u.timemodified), `${username}: timecreated = timemodified > 0`);
        assert.ok(Number(u.timecreated) >= r.t0 - 1 && Number(u.timecreated) <= r.t1 + 1, `${username}: timecreated is the run's time`);
        const ctx = await query('SELECT * FROM mdl_context WHERE contextlevel = 30 AND instanceid = ?', [u.id]);
        assert.equal(ctx.length, 1, `${username} has one user context`);
        assert.deepEqual([ctx[0].path, ctx[0].depth, ctx[0].locked], [`/1/${ctx[0].id}`, 2, 0]);
        // No password column and no password creation: no preference and no cache flag (moodle-writes.md).
        assert.deepEqual(await prefs(u.id), {});
        assert.equal((await query("SELECT 1 FROM mdl_cache_flags WHERE flagtype = 'userpreferenceschanged' AND name = ?", [String(u.id)])).length, 0);
      }
      assert.match(await report(r.report), /^line 3: applied: user john\.doe \(id \d+\) created$/m, 'line numbers count the comment line');
    });

    it('step 4: user_update_sample.csv attaches idnumbers U0001..U0005 to the same accounts and changes their e-mails', async () => {
      const before = await userCount();
      await putSample('user_update_sample.csv');
      const r = await runStored('user_update_sample.csv');
      assert.deepEqual(r.rows, { total: 13, applied: 13, failed: 0, skipped: 0 }, await report(r.report));
      assert.equal(await userCount(), before, 'an update creates no account');
      const expected: [string, string, string][] = [
        ['john.doe', 'U0001', 'johndoe@foobar.com'], ['amelie.dupont', 'U0002', 'adupont@foobar.com'], ['jack.duf', 'U0003', 'jack.duff@foobar.com'],
        ['ggrass', 'U0004', 'ggrass@foobar.com'], ['yyang', 'U0005', 'yyang@foobar.com'],
        ['ugr1', 'UGR1', 'ugr1@foo.com'], ['ugr4', 'UGR4', 'ugr1@foo.com'], ['ugr10', 'UGR11', 'u0gr1@foo.com'], ['ugr40', 'UGR14', 'u0gr1@foo.com'],
      ];
      for (const [username, idnumber, email] of expected) {
        const u = await user(username);
        assert.equal(Number(u.id), ids.get(username), `${username} is the same account`);
        assert.deepEqual([u.idnumber, u.email], [idnumber, email], username);
        assert.ok(Number(u.timemodified) >= r.t0 - 1);
      }
      assert.equal((await user('amelie.dupont')).firstname, 'Amélie');
      assert.equal((await user('todelete1')).idnumber, '', 'accounts not in the file are untouched');
    });

    it('step 5: user_suspend_sample.csv suspends the three tosuspend accounts', async () => {
      await putSample('user_suspend_sample.csv');
      const r = await runStored('user_suspend_sample.csv');
      assert.deepEqual(r.rows, { total: 3, applied: 3, failed: 0, skipped: 0 });
      for (const n of [1, 2, 3]) assert.equal((await user(`tosuspend${n}`)).suspended, 1);
      assert.equal(Number((await query("SELECT COUNT(*) AS n FROM mdl_user WHERE suspended = 1"))[0].n), 3, 'no other account is suspended');
    });

    it('step 10: user_delete_sample.csv soft-deletes the todelete accounts as Moodle does', async () => {
      const todelete = ['todelete1', 'todelete2', 'todelete3'];
      const before = new Map<string, RowDataPacket>();
      for (const u of todelete) before.set(u, await user(u));
      const uid1 = Number(before.get('todelete1')!.id);
      await sb.db.query("INSERT INTO mdl_user_preferences (userid, name, value) VALUES (?, 'email_bounce_count', '1')", [uid1]);
      await putSample('user_delete_sample.csv');
      const r = await runStored('user_delete_sample.csv');
      assert.deepEqual(r.rows, { total: 3, applied: 3, failed: 0, skipped: 0 });
      for (const name of todelete) {
        const old = before.get(name)!;
        const u = await byId(Number(old.id));
        assert.equal(u.deleted, 1);
        assert.ok(Number(u.timemodified) >= r.t0 - 1 && Number(u.timemodified) <= r.t1 + 1);
        assert.equal(u.username, `${old.email}.${u.timemodified}`, 'username becomes <email>.<unixtime>');
        assert.equal(u.idnumber, '');
        assert.equal(u.email, md5(name), 'email becomes md5(old username)');
        assert.deepEqual([u.firstname, u.lastname, u.password, u.auth], [old.firstname, old.lastname, old.password, old.auth], 'the rest of the row stays');
        assert.equal((await query('SELECT 1 FROM mdl_context WHERE contextlevel = 30 AND instanceid = ?', [u.id])).length, 1, 'the user context is kept');
        const dpr = await query('SELECT * FROM mdl_tool_dataprivacy_request WHERE userid = ?', [u.id]);
        assert.equal(dpr.length, 1, 'one data privacy deletion request');
        assert.deepEqual([dpr[0].type, dpr[0].status, dpr[0].creationmethod, dpr[0].requestedby, dpr[0].comments, dpr[0].timecreated],
          [2, 2, 1, 2, 'Automatically created upon user deletion.', u.timemodified]);
        const flag = await query("SELECT * FROM mdl_cache_flags WHERE flagtype = 'accesslib/dirtyusers' AND name = ?", [String(u.id)]);
        assert.deepEqual(flag.map((f) => [f.value, Number(f.expiry)]), [['1', Number(u.timemodified) + 28800]]);
        assert.equal(await user(name), undefined);
      }
      assert.deepEqual(await prefs(uid1), {}, 'preferences are deleted');
      assert.equal((await user('tosuspend1')).deleted, 0);
    });
  });

  describe('passwords', () => {
    it('verifies the fixture admin hash, and sha512crypt reproduces it', async () => {
      const stored = String((await byId(2)).password);
      assert.match(stored, SHA512_HASH);
      assert.equal(await verifyPassword('Oracle-Admin-1', stored), true);
      assert.equal(await verifyPassword('Oracle-Admin-2', stored), false);
      assert.equal(sha512crypt('Oracle-Admin-1', stored), stored);
      const fresh = await hashPassword('Pässwörd with spaces & ünïcode');
      assert.match(fresh, SHA512_HASH);
      assert.equal(sha512crypt('Pässwörd with spaces & ünïcode', fresh), fresh, 'the hasher in use and the TypeScript one agree');
    });

    it('hashes a clear password; keeps *NOPASS*; an empty one is to be generated; no clear text in reports, logs or Temporal', async () => {
      const secret = 'Clear-Secret-7431!';
      const r = await runFile('passwords.csv', [
        'username;firstname;lastname;email;password',
        `pw1;Pat;Word;pw1@example.com;${secret}`,
        'pw2;No;Pass;pw2@example.com;*NOPASS*',
        'pw3;To;Generate;pw3@example.com;',
        `pwbad;Bad;Mail;not-an-email;${secret}`,
      ].join('\n'));
      assert.deepEqual(r.rows, { total: 4, applied: 3, failed: 1, skipped: 0 });
      const pw1 = await user('pw1');
      assert.match(pw1.password, SHA512_HASH);
      assert.equal(await verifyPassword(secret, pw1.password), true);
      assert.equal(await verifyPassword(`${secret}x`, pw1.password), false);
      // A new password: the preference and the cache flag Moodle writes (moodle-writes.md, create a user).
      assert.deepEqual(await prefs(pw1.id), { auth_manual_passwordupdatetime: String(pw1.timemodified) });
      const flag = await query("SELECT * FROM mdl_cache_flags WHERE flagtype = 'userpreferenceschanged' AND name = ?", [String(pw1.id)]);
      assert.deepEqual(flag.map((f) => [f.value, Number(f.timemodified), Number(f.expiry)]), [['1', Number(pw1.timemodified), Number(pw1.timemodified) + 28800]]);

      const pw2 = await user('pw2');
      assert.equal(pw2.password, '*NOPASS*');
      assert.deepEqual(await prefs(pw2.id), {});
      const pw3 = await user('pw3');
      assert.equal(pw3.password, 'to be generated');
      assert.deepEqual(await prefs(pw3.id), { create_password: '1' });

      // The clear text reaches neither the report, nor the worker's output, nor Temporal's history.
      assert.ok(!(await report(r.report)).includes(secret), 'the report holds a clear password');
      assert.ok(!worker.output().includes(secret), 'the worker logged a clear password');
      const client = sb.temporal.client;
      for (const id of [r.workflowId, `${r.workflowId}/passwords.csv`]) {
        const history = await client.workflow.getHandle(id).fetchHistory();
        assert.ok((history.events ?? []).length > 0);
        assert.ok(!containsText(history, secret), `the history of ${id} holds a clear password`);
        assert.ok(containsText(history, 'passwords.csv'), 'the history search itself finds payload text');
      }

      // A new password for an existing account: new hash, the preference updated in place.
      const prefRow = (await query("SELECT id FROM mdl_user_preferences WHERE userid = ? AND name = 'auth_manual_passwordupdatetime'", [pw1.id]))[0];
      await new Promise((res) => setTimeout(res, 1100));
      await runFile('passwords2.csv', 'username;firstname;lastname;password\npw1;Pat;Word;Another-Secret-2\n');
      const again = await user('pw1');
      assert.notEqual(again.password, pw1.password);
      assert.equal(await verifyPassword('Another-Secret-2', again.password), true);
      const updated = await query("SELECT id, value FROM mdl_user_preferences WHERE userid = ? AND name = 'auth_manual_passwordupdatetime'", [pw1.id]);
      assert.deepEqual(updated.map((p) => [p.id, p.value]), [[prefRow.id, String(again.timemodified)]]);
      assert.ok(Number(again.timemodified) > Number(pw1.timemodified));
    });

    it('without a password column, users_createpasswords=1 asks Moodle to generate one and force its change', async () => {
      await setConfig({ users_createpasswords: '1' });
      try {
        await runFile('createpw.csv', 'username;firstname;lastname;email\ncpw1;Gen;Erated;cpw1@example.com\n');
        const u = await user('cpw1');
        assert.equal(u.password, '');
        assert.deepEqual(await prefs(u.id), { create_password: '1', auth_forcepasswordchange: '1' });
      } finally {
        await setConfig({ users_createpasswords: '0' });
      }
      await runFile('nocreatepw.csv', 'username;firstname;lastname;email\ncpw2;No;Generation;cpw2@example.com\n');
      assert.deepEqual(await prefs((await user('cpw2')).id), {});
    });
  });

  describe('columns and settings', () => {
    it('deleted: 0 does nothing, 1 deletes (an unknown account is skipped)', async () => {
      await runFile('del-setup.csv', 'username;firstname;lastname;email\ndel0;Keep;Me;del0@example.com\ndel1;Gone;Soon;del1@example.com\n');
      const del1 = await user('del1');
      const r = await runFile('deleted.csv', 'username;firstname;lastname;deleted\ndel0;Kept;Me;0\ndel1;Gone;Soon;1\ndelnew;New;Account;0\ndelnone;Never;There;1\n');
      assert.deepEqual(r.rows, { total: 4, applied: 3, failed: 0, skipped: 1 });
      const del0 = await user('del0');
      assert.equal(del0.deleted, 0);
      assert.equal(del0.firstname, 'Kept', 'a row with deleted 0 is an ordinary update');
      const gone = await byId(del1.id);
      assert.equal(gone.deleted, 1);
      assert.equal(gone.username, `del1@example.com.${gone.timemodified}`);
      assert.equal(gone.email, md5('del1'));
      assert.equal((await user('delnew')).deleted, 0);
      assert.equal(await user('delnone'), undefined);
      assert.match(await report(r.report), /^line 5: skipped: no account delnone to delete$/m);
    });

    it('a file that names a new account twice: the later row applies to the account the earlier one created', async () => {
      const r = await runFile('twice.csv', 'username;firstname;lastname;email;deleted\ntwice1;First;One;twice1@example.com;0\ntwice1;Second;Two;twice1@example.com;0\ntwice2;Short;Lived;twice2@example.com;0\ntwice2;Short;Lived;twice2@example.com;1\n');
      const text = await report(r.report);
      assert.deepEqual(r.rows, { total: 4, applied: 4, failed: 0, skipped: 0 }, text);
      const t1 = await user('twice1');
      assert.deepEqual([t1.firstname, t1.lastname], ['Second', 'Two'], `the second row's update is lost:\n${text}`);
      assert.equal(Number((await query("SELECT COUNT(*) AS n FROM mdl_user WHERE email = 'twice1@example.com'"))[0].n), 1);
      assert.equal(await user('twice2'), undefined, `the account created then deleted in one file is still there:\n${text}`);
      const t2 = (await query("SELECT * FROM mdl_user WHERE email = ?", [md5('twice2')]))[0];
      assert.equal(t2?.deleted, 1);
      assert.equal((await query('SELECT 1 FROM mdl_tool_dataprivacy_request WHERE userid = 0')).length, 0, 'no deletion request for user 0');
    });

    it('oldusername renames only when users_allowrename=1', async () => {
      await runFile('ren-setup.csv', 'username;firstname;lastname;email\noldname;Old;Name;oldname@example.com\ntaken;Already;There;taken@example.com\n');
      const old = await user('oldname');
      await runFile('rename-off.csv', 'username;firstname;lastname;oldusername\nnewname;Old;Name;oldname\n');
      assert.equal(Number((await user('oldname'))?.id), Number(old.id), 'without users_allowrename the account keeps its username');
      assert.notEqual(Number((await user('newname'))?.id ?? 0), Number(old.id));

      await setConfig({ users_allowrename: '1' });
      try {
        const r = await runFile('rename-on.csv', 'username;firstname;lastname;oldusername\nrenamed;Old;Name;oldname\ntaken;X;Y;newname\nrenamed2;No;Source;missingname\n');
        assert.deepEqual(r.rows, { total: 3, applied: 1, failed: 2, skipped: 0 });
        const renamed = await user('renamed');
        assert.equal(Number(renamed.id), Number(old.id), 'the same account, renamed');
        assert.equal(await user('oldname'), undefined);
        assert.ok(Number(renamed.timemodified) >= r.t0 - 1);
        const text = await report(r.report);
        assert.match(text, new RegExp(`^line 2: applied: user renamed \\(id ${old.id}\\) updated \\(renamed from oldname\\)$`, 'm'));
        assert.match(text, /^line 3: failed: username taken is already used by another account \(id \d+\)$/m);
        assert.match(text, /^line 4: failed: cannot rename missingname to renamed2: no account missingname$/m);
        assert.ok(await user('newname'), 'a rename onto a taken username changes nothing');
      } finally {
        await setConfig({ users_allowrename: '0' });
      }
    });

    it('users_protectemails=1 keeps the e-mail of an existing account; 0 lets it change', async () => {
      await runFile('pe-setup.csv', 'username;firstname;lastname;email\npe1;Pro;Tected;first@example.com\n');
      await setConfig({ users_protectemails: '1' });
      try {
        await runFile('pe-on.csv', 'username;firstname;lastname;email\npe1;Pro;Changed;second@example.com\npe2;New;Account;pe2@example.com\n');
        const u = await user('pe1');
        assert.equal(u.email, 'first@example.com');
        assert.equal(u.lastname, 'Changed', 'the other columns are updated');
        assert.equal((await user('pe2')).email, 'pe2@example.com', 'a new account takes its e-mail');
      } finally {
        await setConfig({ users_protectemails: '0' });
      }
      await runFile('pe-off.csv', 'username;firstname;lastname;email\npe1;Pro;Changed;third@example.com\n');
      assert.equal((await user('pe1')).email, 'third@example.com');
    });

    it('a genuine collision (identity idnumber) fails its row into the report and the tryback; the other rows apply', async () => {
      await runFile('col-setup.csv', 'username;firstname;lastname;idnumber\ncola;Ann;A;IDA\ncolb;Bob;B;IDB\n');
      const [a, b] = [await user('cola'), await user('colb')];
      await setConfig({ users_primaryidentity: 'idnumber' });
      try {
        const clash = 'cola;Ann;Clash;IDB';
        const rename = 'colz;Zed;Z;IDA';
        const sameName = 'colb;Bob;Other;IDNEW';
        const r = await runFile('collide.csv', `username;firstname;lastname;idnumber\n${clash}\ncolc;Cy;C;IDC\n${rename}\ncola;Ann;Updated;IDA\n${sameName}\n`);
        const text = await report(r.report);
        assert.deepEqual(r.rows, { total: 5, applied: 2, failed: 3, skipped: 0 }, text);
        assert.match(text, new RegExp(`^line 2: failed: username cola is already used by another account \\(id ${a.id}\\)$`, 'm'));
        assert.match(text, /^line 4: failed: idnumber IDA belongs to account cola, not colz$/m);
        assert.match(text, new RegExp(`^line 6: failed: username colb is already used by another account \\(id ${b.id}\\)$`, 'm'));
        assert.equal(await fsp.readFile(path.join(sb.storeRoot, r.tryback), 'utf8'), `username;firstname;lastname;idnumber\n${clash}\n${rename}\n${sameName}\n`);
        const [a2, b2] = [await byId(a.id), await byId(b.id)];
        assert.deepEqual([a2.username, a2.idnumber, a2.lastname], ['cola', 'IDA', 'Updated']);
        assert.deepEqual([b2.username, b2.idnumber, b2.lastname], ['colb', 'IDB', 'B'], 'the other account is untouched');
        assert.equal((await user('colc')).idnumber, 'IDC');
        assert.equal(await user('colz'), undefined, 'an idnumber never renames an account behind users_allowrename');
      } finally {
        await setConfig({ users_primaryidentity: 'username' });
      }
    });

    it('profile_field_<shortname> columns go to user_info_data; an unknown profile field refuses the file', async () => {
      const [cat] = await sb.db.query<ResultSetHeader>("INSERT INTO mdl_user_info_category (name, sortorder) VALUES ('Other fields', 1)");
      const [field] = await sb.db.query<ResultSetHeader>(
        "INSERT INTO mdl_user_info_field (shortname, name, datatype, description, descriptionformat, categoryid, sortorder, required, locked, visible, forceunique, signup, defaultdata, defaultdataformat, param1, param2, param3) VALUES ('favcolour', 'Favourite colour', 'text', '', 1, ?, 1, 0, 0, 2, 0, 0, '', 0, '30', '2048', '0')",
        [cat.insertId]);
      await runFile('profile.csv', 'username;firstname;lastname;profile_field_favcolour\npf1;Pro;File;Blue\npf2;Pro;Two;Green\n');
      const pf1 = await user('pf1');
      const data = await query('SELECT * FROM mdl_user_info_data WHERE userid = ?', [pf1.id]);
      assert.deepEqual(data.map((d) => [Number(d.fieldid), d.data, d.dataformat]), [[field.insertId, 'Blue', 0]]);
      await runFile('profile2.csv', 'username;firstname;lastname;profile_field_favcolour\npf1;Pro;File;Red\n');
      const after = await query('SELECT * FROM mdl_user_info_data WHERE userid = ?', [pf1.id]);
      assert.deepEqual(after.map((d) => [d.id, d.data]), [[data[0].id, 'Red']], 'updated in place');
      assert.equal((await query('SELECT data FROM mdl_user_info_data WHERE userid = ?', [(await user('pf2')).id]))[0].data, 'Green');

      await fsp.writeFile(path.join(sb.storeRoot, 'profile-bad.csv'), 'username;firstname;lastname;profile_field_favcolour;profile_field_nope\npf3;Pro;Three;Blue;x\n');
      const bad = await sb.cli(['run', 'users', '--file', 'profile-bad.csv', '--wait', '--json']);
      assert.equal(bad.code, 1);
      assert.equal(bad.json.status, 'failed');
      assert.equal(bad.json.refusal, 'bad header (line 1): no custom profile field "nope" exists in Moodle (columns profile_field_<shortname>); known: favcolour');
      assert.equal(await user('pf3'), undefined);
    });
  });

  describe('operations suspend, restore and delete (--op, a file of usernames)', () => {
    before(async () => {
      await runFile('ops-setup.csv', 'username;firstname;lastname;email\nop1;Op;One;op1@example.com\nop2;Op;Two;op2@example.com\nop3;Op;Three;op3@example.com\nop4;Op;Four;shared@example.com\nop5;Op;Five;shared@example.com\n');
    });

    it('suspend', async () => {
      const r = await runFile('ops-suspend.csv', 'username\nop1\nop2\nopnobody\n', '--op', 'suspend');
      assert.equal(r.op, 'suspend');
      assert.deepEqual(r.rows, { total: 3, applied: 2, failed: 0, skipped: 1 });
      assert.deepEqual([(await user('op1')).suspended, (await user('op2')).suspended, (await user('op3')).suspended], [1, 1, 0]);
      assert.match(await report(r.report), /^line 4: skipped: no account with username opnobody$/m);
    });

    it('restore (unsuspend)', async () => {
      const r = await runFile('ops-restore.csv', 'username\nop2\nop3\n', '--op', 'restore');
      assert.equal(r.op, 'restore');
      assert.deepEqual(r.rows, { total: 2, applied: 2, failed: 0, skipped: 0 });
      assert.deepEqual([(await user('op1')).suspended, (await user('op2')).suspended, (await user('op3')).suspended], [1, 0, 0]);
    });

    it('delete (Moodle soft delete)', async () => {
      const [op3, op4, op5] = [await user('op3'), await user('op4'), await user('op5')];
      const r = await runFile('ops-delete.csv', 'username\nop3\nop4\nop5\n', '--op', 'delete');
      assert.equal(r.op, 'delete');
      assert.deepEqual(r.rows, { total: 3, applied: 3, failed: 0, skipped: 0 });
      const gone = await byId(op3.id);
      assert.deepEqual([gone.deleted, gone.username, gone.email, gone.idnumber], [1, `op3@example.com.${gone.timemodified}`, md5('op3'), '']);
      assert.equal((await query('SELECT 1 FROM mdl_tool_dataprivacy_request WHERE userid = ?', [op3.id])).length, 1);
      assert.equal((await query('SELECT 1 FROM mdl_context WHERE contextlevel = 30 AND instanceid = ?', [op3.id])).length, 1);
      // Two accounts with one e-mail deleted in the same second: the second name moves on a second, as Moodle's does.
      const [g4, g5] = [await byId(op4.id), await byId(op5.id)];
      assert.equal(g4.timemodified, g5.timemodified);
      assert.deepEqual([g4.deleted, g4.username, g4.email], [1, `shared@example.com.${g4.timemodified}`, md5('op4')]);
      assert.deepEqual([g5.deleted, g5.username, g5.email], [1, `shared@example.com.${Number(g5.timemodified) + 1}`, md5('op5')]);
    });

    it('a list file without the identity column is refused', async () => {
      await fsp.writeFile(path.join(sb.storeRoot, 'ops-bad.csv'), 'email\nop1@example.com\n');
      const r = await sb.cli(['run', 'users', '--op', 'suspend', '--file', 'ops-bad.csv', '--wait', '--json']);
      assert.equal(r.code, 1);
      assert.match(r.json.refusal, /a column "username" \(users_primaryidentity\) or "username" is required/);
    });
  });

  it('runs chunks side by side only where their rows share nothing, links Moodle holds included', async () => {
    await setConfig({ users_primaryidentity: 'idnumber' });
    await runFile('par-seed.csv', 'username;firstname;lastname;idnumber\nparlinka;A;A;PAR-J\n');
    // Row 1 clears parlinka's idnumber; row 1,500 (the second chunk) wants it for a new account:
    // only Moodle's row links the two, and the second chunk must wait for the first.
    const lines = ['username;firstname;lastname;idnumber', 'parlinka;A;A;'];
    for (let i = 2; i <= 2500; i++) lines.push(i === 1500 ? 'parlinkb;B;B;PAR-J' : `par${i};F${i};L${i};PAR-${i}`);
    const r = await runFile('par.csv', `${lines.join('\n')}\n`);
    assert.deepEqual(r.rows, { total: 2500, applied: 2500, failed: 0, skipped: 0 });
    assert.deepEqual(await chunkAfters(sb, 'par.csv'), [-1, 0, -1]);
    assert.deepEqual([(await user('parlinka')).idnumber, (await user('parlinkb')).idnumber], ['', 'PAR-J']);
    // A file that reaches beyond its accounts (here: deletions) runs one chunk at a time.
    const del = await runFile('par-del.csv', `username;firstname;lastname;deleted\n${Array.from({ length: 1001 }, (_, i) => `par${i + 2};F;L;0`).join('\n')}\n`);
    assert.equal(del.rows.applied, 1001);
    assert.deepEqual(await chunkAfters(sb, 'par-del.csv'), [-1, 0]);
  });
});
