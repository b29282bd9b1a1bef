/**
 * The user pictures tool through the real path (CLI, worker, Temporal dev server, the Moodle
 * database, moodledata): zips of real JPEG, PNG and GIF images become user pictures exactly as
 * moodle-writes.md "set a user picture" says (files rows, filedir contents, user.picture);
 * overwrite, replacement without orphans, user fields, hostile archives, force deletion,
 * simulation, and a worker killed mid-zip.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { createHash, randomBytes } from 'node:crypto';
import sharp from 'sharp';
import type { RowDataPacket } from 'mysql2';
import { configure, openSandbox, runToolFile, storeText, waitFor, type CliResult, type Sandbox, type WorkerProcess } from './support/sandbox';
import { rows } from './support/moodle';
import { buildZip, type ZipEntrySpec } from './support/zip';
import { findOperation } from '../activities/tools';
import type { ToolRunSummary } from '../workflows/shared';

const sha1 = (b: Buffer | string) => createHash('sha1').update(b).digest('hex');
const EMPTY_SHA1 = sha1('');
const nowSec = () => Math.floor(Date.now() / 1000);
const CHUNK = findOperation('userpictures').chunkSize!;

/** 600x400 like Moodle's test JPEG: red and blue 100-pixel bands either side of a green centre square. */
async function bandedJpeg(): Promise<Buffer> {
  const w = 600, h = 400;
  const px = Buffer.alloc(w * h * 3);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) px.set(x < 100 ? [230, 20, 20] : x >= 500 ? [20, 20, 230] : [20, 200, 40], (y * w + x) * 3);
  }
  return sharp(px, { raw: { width: w, height: h, channels: 3 } }).jpeg({ quality: 95 }).toBuffer();
}
/** A 300x500 portrait PNG, half transparent. */
const translucentPng = () => sharp({ create: { width: 300, height: 500, channels: 4, background: { r: 20, g: 90, b: 200, alpha: 0.5 } } }).png().toBuffer();
const plainImage = (width: number, height: number, rgb: [number, number, number], format: 'jpeg' | 'png' | 'gif') =>
  sharp({ create: { width, height, channels: 3, background: { r: rgb[0], g: rgb[1], b: rgb[2] } } }).toFormat(format).toBuffer();

/** A real PNG whose header then claims `size`x`size` pixels (with a valid header CRC). */
async function pngClaiming(size: number): Promise<Buffer> {
  const png = Buffer.from(await plainImage(1, 1, [0, 0, 0], 'png'));
  png.writeUInt32BE(size, 16);
  png.writeUInt32BE(size, 20);
  png.writeUInt32BE(zlib.crc32(png.subarray(12, 29)) >>> 0, 29);
  return png;
}

describe('userpictures tool', () => {
  let sb: Sandbox;
  let worker: WorkerProcess;
  const uid: Record<string, number> = {};
  let jpeg: Buffer;
  let png: Buffer;

  const setConfig = (pairs: Record<string, string>) => configure(sb, pairs);
  const putZip = async (name: string, entries: ZipEntrySpec[] | Buffer) => {
    await fsp.mkdir(sb.storeRoot, { recursive: true });
    await fsp.writeFile(path.join(sb.storeRoot, name), Buffer.isBuffer(entries) ? entries : buildZip(entries));
  };
  const run = (args: string[]): Promise<CliResult> => sb.cli(['run', 'userpictures', ...args, '--wait', '--json']);
  const runZip = async (name: string, entries: ZipEntrySpec[] | Buffer, extra: string[] = []) => {
    await putZip(name, entries);
    const r = await run(['--file', name, ...extra]);
    assert.ok(r.json, `run ${name}: ${r.stderr}${r.stdout}`);
    return r.json.files[0];
  };
  const filedir = (hash: string, area = 'filedir') => path.join(sb.moodledata, area, hash.slice(0, 2), hash.slice(2, 4), hash);
  const userRow = async (username: string) => (await rows(sb.db, 'SELECT id, picture, timemodified FROM mdl_user WHERE username = ?', [username]))[0];
  const contextOf = async (username: string) =>
    Number((await rows(sb.db, 'SELECT c.id FROM mdl_context c JOIN mdl_user u ON u.id = c.instanceid WHERE c.contextlevel = 30 AND u.username = ?', [username]))[0].id);
  const iconRows = async (username: string) =>
    rows(sb.db, "SELECT * FROM mdl_files WHERE contextid = ? AND component = 'user' AND filearea = 'icon' ORDER BY id", [await contextOf(username)]);
  const fileCount = async () => Number((await rows(sb.db, 'SELECT COUNT(*) AS n FROM mdl_files'))[0].n);

  /** Checks a user's picture against moodle-writes.md, column by column; returns the icon rows and their decoded files. */
  async function assertPicture(username: string, kind: 'jpeg' | 'png', since: number, timemodified: number) {
    const ext = kind === 'jpeg' ? 'jpg' : 'png';
    const mimetype = `image/${kind}`;
    const contextid = await contextOf(username);
    const files = await iconRows(username);
    assert.deepEqual(files.map((f) => f.filename), [`f1.${ext}`, '.', `f2.${ext}`, `f3.${ext}`], `${username}: f1, the directory row, f2, f3 in that order`);
    assert.deepEqual(files.map((f) => Number(f.id) - Number(files[0].id)), [0, 1, 2, 3], 'consecutive ids');
    for (const f of files) {
      assert.deepEqual(
        [f.component, f.filearea, Number(f.itemid), f.filepath, f.userid, Number(f.status), f.source, f.author, f.license, Number(f.sortorder), f.referencefileid],
        ['user', 'icon', 0, '/', null, 0, null, null, null, 0, null], `${username} ${f.filename}: common columns`);
      assert.equal(f.pathnamehash, sha1(`/${contextid}/user/icon/0/${f.filename}`));
      assert.equal(Number(f.timecreated), Number(f.timemodified));
      assert.ok(Number(f.timecreated) >= since && Number(f.timecreated) <= nowSec(), 'written now');
    }
    const [f1, dir, f2, f3] = files;
    assert.deepEqual([dir.contenthash, Number(dir.filesize), dir.mimetype], [EMPTY_SHA1, 0, null]);
    assert.ok(fs.existsSync(filedir(EMPTY_SHA1)), 'the empty content exists');
    const icons: Record<string, Buffer> = {};
    for (const [f, size] of [[f1, 100], [f2, 35], [f3, 512]] as const) {
      assert.equal(f.mimetype, mimetype);
      const abs = filedir(f.contenthash);
      const bytes = await fsp.readFile(abs);
      assert.equal(sha1(bytes), f.contenthash, `${f.filename}: content hash is the SHA-1 of the file`);
      assert.equal(Number(f.filesize), bytes.length);
      assert.equal((await fsp.stat(abs)).mode & 0o7777, 0o666, 'content file mode as Moodle writes it');
      assert.equal((await fsp.stat(path.dirname(abs))).mode & 0o7777, 0o2777, 'content folder mode as Moodle makes it');
      const meta = await sharp(bytes).metadata();
      assert.deepEqual([meta.format, meta.width, meta.height], [kind, size, size], `${f.filename} is a ${size}x${size} ${kind}`);
      if (kind === 'png') assert.deepEqual([meta.channels, meta.depth], [4, 'uchar'], '8-bit RGBA');
      else {
        assert.equal(bytes.subarray(6, 11).toString('latin1'), 'JFIF\0', 'baseline JFIF');
        assert.deepEqual([meta.density, meta.isProgressive], [96, false]);
      }
      icons[f.filename.slice(0, 2)] = bytes;
    }
    const user = await userRow(username);
    assert.equal(Number(user.picture), Number(f1.id), 'user.picture is the id of the f1 row');
    assert.equal(Number(user.timemodified), timemodified, 'user.timemodified is not touched');
    return { files, icons };
  }

  /** Every picture in the site is one set of four rows its user points at: no orphan row, no missing content. */
  async function assertNoOrphans() {
    const areas = await rows(sb.db, `SELECT f.contextid, COUNT(*) AS n, u.id AS userid, u.picture,
        SUM(f.id = u.picture AND f.filename LIKE 'f1.%') AS pointed FROM mdl_files f
        JOIN mdl_context c ON c.id = f.contextid AND c.contextlevel = 30 JOIN mdl_user u ON u.id = c.instanceid
       WHERE f.component = 'user' AND f.filearea = 'icon' GROUP BY f.contextid, u.id, u.picture`);
    for (const a of areas) assert.deepEqual([Number(a.n), Number(a.pointed)], [4, 1], `user ${a.userid}: one set of four rows, pointed at by user.picture`);
    const [{ n }] = await rows(sb.db, `SELECT COUNT(*) AS n FROM mdl_user u WHERE u.picture <> 0 AND NOT EXISTS
        (SELECT 1 FROM mdl_files f JOIN mdl_context c ON c.id = f.contextid WHERE f.id = u.picture AND c.instanceid = u.id AND c.contextlevel = 30)`);
    assert.equal(Number(n), 0, 'no user.picture points at a missing row');
    for (const f of await rows(sb.db, "SELECT DISTINCT contenthash FROM mdl_files WHERE component = 'user' AND filearea = 'icon'")) {
      assert.ok(fs.existsSync(filedir(f.contenthash)), `content ${f.contenthash} is in filedir`);
    }
  }

  before(async () => {
    sb = await openSandbox('userpictures');
    await setConfig({ storereport: '1', filearchive: '1', filefailed: '1', userpictures_forcedeletion: '0', users_primaryidentity: 'idnumber' });
    worker = await sb.startWorker();
    const names = ['p1', 'p2', 'p3', 'p4', 'p5', 'p6', 'p7', 'p8', 'q1', 'q2', 'q3', 'q4', 'q5', 'q6', 'q7', 'gone'];
    const created = await runToolFile(sb, 'users', 'people.csv',
      ['username;firstname;lastname;email;idnumber', ...names.map((n) => `${n};F ${n};L ${n};${n}@example.org;ID-${n}`)].join('\n') + '\n');
    assert.equal(created.files[0].rows.applied, names.length);
    for (const u of await rows(sb.db, 'SELECT id, username FROM mdl_user')) uid[u.username] = Number(u.id);
    // A deleted account that kept its username (older Moodle deletions did): never matched.
    await sb.db.query("UPDATE mdl_user SET deleted = 1 WHERE username = 'gone'");
    jpeg = await bandedJpeg();
    png = await translucentPng();
  });
  after(async () => sb?.close());

  it('sets pictures from every userpictures_*.zip in name order, as Moodle writes them', async () => {
    await putZip('userpictures_20261201.zip', [
      { name: 'photos/p1.jpg', data: jpeg },
      { name: 'p2.png', data: png },
      { name: 'deep/er/p3.gif', data: await plainImage(80, 60, [250, 200, 0], 'gif') },
      { name: 'p5.jpg', data: jpeg, method: 'store' },
      { name: 'nobody.jpg', data: jpeg },
      { name: 'gone.jpg', data: jpeg },
      { name: 'p4.jpg', data: Buffer.from('this is a text file renamed .jpg\n') },
      { name: 'p6.png', data: await pngClaiming(50_000) },
      { name: '.DS_Store', data: Buffer.from('mac') },
      { name: '__MACOSX/._p1.jpg', data: Buffer.from('resource fork') },
      { name: 'photos/', data: Buffer.alloc(0) },
    ]);
    await putZip('userpictures_20261202.zip', [{ name: 'p6.jpg', data: await plainImage(50, 50, [0, 0, 0], 'jpeg') }]);
    await putZip('pictures.zip', [{ name: 'p7.jpg', data: jpeg }]); // no prefix: not an input
    await putZip('userpictures_notes.txt', Buffer.from('not a zip'));
    const before = Object.fromEntries(await Promise.all(['p1', 'p2', 'p3', 'p5'].map(async (u) => [u, Number((await userRow(u)).timemodified)])));
    const since = nowSec();
    const r = await run([]);
    assert.equal(r.code, 0, r.stderr);
    const summary = r.json as ToolRunSummary;
    assert.deepEqual(summary.files.map((f) => f.file), ['userpictures_20261201.zip', 'userpictures_20261202.zip'], 'every prefixed zip, in name order');
    assert.deepEqual(summary.files[0].rows, { total: 10, applied: 4, failed: 4, skipped: 2 });
    assert.deepEqual(summary.files[1].rows, { total: 1, applied: 1, failed: 0, skipped: 0 });
    assert.equal(summary.files[0].tryback, null, 'an archive has no tryback');

    const report = await storeText(sb, summary.files[0].report!);
    for (const line of [
      `entry photos/p1.jpg: applied: updated: user p1 (id ${uid.p1}), f1.jpg, f2.jpg, f3.jpg`,
      `entry p2.png: applied: updated: user p2 (id ${uid.p2}), f1.png, f2.png, f3.png`,
      'entry nobody.jpg: failed: user not found: no user with username "nobody"',
      'entry gone.jpg: failed: user not found: no user with username "gone"',
      'entry p6.png: failed: too large: 50000x50000 pixels (at most 40000000 pixels)',
      'entry .DS_Store: skipped: a hidden or system file, not a picture',
      'entry __MACOSX/._p1.jpg: skipped: a hidden or system file, not a picture',
      '10 file(s) in the archive: 4 applied, 4 failed, 2 skipped',
    ]) assert.ok(report.includes(`${line}\n`), `report line "${line}" in:\n${report}`);
    assert.match(report, /^entry p4\.jpg: failed: not an image: not a readable image \(.+\)$/m);

    const p1 = await assertPicture('p1', 'jpeg', since, before.p1);
    // The centred square of the source, scaled, nothing letterboxed: every corner of f1 is the green centre.
    const { data, info } = await sharp(p1.icons.f1).raw().toBuffer({ resolveWithObject: true });
    for (const [x, y] of [[1, 1], [98, 1], [1, 98], [98, 98], [50, 50]]) {
      const [r0, g0, b0] = data.subarray((y * info.width + x) * info.channels);
      assert.ok(g0 > 150 && r0 < 90 && b0 < 90, `f1 pixel ${x},${y} is green (${r0},${g0},${b0})`);
    }
    const p2 = await assertPicture('p2', 'png', since, before.p2);
    const alpha = (await sharp(p2.icons.f3).raw().toBuffer()).filter((_, i) => i % 4 === 3);
    assert.ok(alpha.every((a) => a > 100 && a < 160), 'a semi-transparent source gives semi-transparent icons');
    await assertPicture('p3', 'png', since, before.p3); // GIF source: PNG icons
    const p5 = await assertPicture('p5', 'jpeg', since, before.p5);
    // The same source for another user: byte-identical icons, four new rows, no new content.
    assert.deepEqual(p5.files.map((f) => f.contenthash), p1.files.map((f) => f.contenthash));
    assert.ok(Number(p5.files[0].id) > Number(p1.files[3].id) || Number(p5.files[3].id) < Number(p1.files[0].id));
    for (const u of ['p4', 'gone', 'p7']) assert.equal(Number((await userRow(u)).picture), 0, `${u} has no picture`);
    assert.equal((await iconRows('p6')).length, 4, 'the second zip ran after the first');
    await assertNoOrphans();

    // Inputs stay (filecleanup and userpictures_forcedeletion off) and are archived.
    for (const f of summary.files) {
      assert.ok(fs.existsSync(path.join(sb.storeRoot, f.file)));
      assert.ok(f.archive && fs.existsSync(path.join(sb.storeRoot, f.archive)));
    }
    for (const f of ['userpictures_20261201.zip', 'userpictures_20261202.zip', 'pictures.zip', 'userpictures_notes.txt']) await fsp.rm(path.join(sb.storeRoot, f));
  });

  it('overwrite off skips users who have a picture; on replaces the whole icon area and trashes contents nothing uses', async () => {
    const since = nowSec();
    await setConfig({ userpictures_overwrite: '0' });
    const oldP1 = await iconRows('p1');
    // p8 twice in one zip: the first (name order) sets it, the second finds a picture and is skipped.
    const off = await runZip('pics-off.zip', [{ name: 'p1.png', data: png }, { name: 'p7.jpg', data: jpeg }, { name: 'p8.jpg', data: jpeg }, { name: 'p8.png', data: png }]);
    assert.deepEqual(off.rows, { total: 4, applied: 2, failed: 0, skipped: 2 });
    const report = await storeText(sb, off.report);
    assert.ok(report.includes(`entry p1.png: skipped: user p1 (id ${uid.p1}) already has a picture and userpictures_overwrite is off\n`), report);
    assert.ok(report.includes(`entry p8.png: skipped: user p8 (id ${uid.p8}) already has a picture`), report);
    assert.deepEqual(await iconRows('p1'), oldP1, 'p1 unchanged');
    await assertPicture('p8', 'jpeg', since, Number((await userRow('p8')).timemodified));

    await setConfig({ userpictures_overwrite: '1' });
    const p1Hashes = oldP1.filter((f) => f.filename !== '.').map((f) => f.contenthash);
    const on = await runZip('pics-on.zip', [{ name: 'p1.png', data: png }]);
    assert.deepEqual(on.rows, { total: 1, applied: 1, failed: 0, skipped: 0 });
    assert.match(await storeText(sb, on.report), /entry p1\.png: applied: updated: user p1 \(id \d+\), f1\.png, f2\.png, f3\.png, replacing the previous picture/);
    const p1 = await assertPicture('p1', 'png', since, Number((await userRow('p1')).timemodified));
    assert.ok(Number(p1.files[0].id) > Number(oldP1[3].id), 'four new rows with new ids');
    assert.equal(p1.files[1].pathnamehash, oldP1[1].pathnamehash, 'the new directory row has the old one\'s pathnamehash');
    const [{ n }] = await rows(sb.db, 'SELECT COUNT(*) AS n FROM mdl_files WHERE id IN (?)', [oldP1.map((f) => f.id)]);
    assert.equal(Number(n), 0, 'the old rows are gone');
    // p5 and p7 still use the old JPEG icons: they stay in filedir.
    for (const h of p1Hashes) assert.ok(fs.existsSync(filedir(h)), 'content another user uses stays');
    await runZip('pics-p5.zip', [{ name: 'p5.png', data: png }]);
    await runZip('pics-p7.zip', [{ name: 'p7.png', data: png }]);
    await runZip('pics-p8.zip', [{ name: 'p8.png', data: png }]);
    for (const h of p1Hashes) {
      assert.ok(!fs.existsSync(filedir(h)), 'content nothing uses leaves filedir');
      assert.equal(sha1(await fsp.readFile(filedir(h, 'trashdir'))), h, '...for trashdir');
    }
    await assertNoOrphans();
  });

  it('finds users by idnumber, email, id and hostedusername', async () => {
    const cases: [string, string, string][] = [
      ['idnumber', 'ID-q1.jpg', 'q1'],
      ['email', 'sub/q2@example.org.png', 'q2'],
      ['id', `${uid.q3}.jpg`, 'q3'],
      ['hostedusername', 'q4@1.jpg', 'q4'],
    ];
    for (const [field, entry, user] of cases) {
      await setConfig({ userpictures_userfield: field });
      const f = await runZip(`field-${field}.zip`, [{ name: entry, data: entry.endsWith('png') ? png : jpeg }, { name: 'q5@2.jpg', data: jpeg }]);
      assert.deepEqual([f.rows.applied, f.rows.failed], [1, 1], `${field}: ${await storeText(sb, f.report)}`);
      assert.ok(Number((await userRow(user)).picture) > 0, `${field} found ${user}`);
    }
    assert.equal(Number((await userRow('q5')).picture), 0, 'q5@2: no such user on host 2');
    await setConfig({ userpictures_userfield: 'username' });
  });

  it('refuses or contains hostile archives, writes nothing outside, and the worker goes on', async () => {
    const outside = [path.resolve(sb.storeRoot, '../../evil.jpg'), path.resolve(sb.storeRoot, '../evil.jpg'), path.join(sb.moodledata, 'evil.jpg')];
    const refused: [string, Buffer, RegExp][] = [
      ['dotdot.zip', buildZip([{ name: '../../evil.jpg', data: jpeg }, { name: 'q6.jpg', data: jpeg }]), /the archive is refused: invalid relative path: \.\.\/\.\.\/evil\.jpg/],
      ['absolute.zip', buildZip([{ name: `${sb.moodledata}/evil.jpg`, data: jpeg }]), /the archive is refused: absolute path/],
      ['bomb.zip', buildZip([{ name: 'q6.png', data: Buffer.alloc(60 * 1024 ** 2) }]), /entry q6\.png would expand \d+ times \(at most 200 accepted\): a zip bomb\?/],
      // Entries that each look plausible (incompressible data, 155 times expansion) but add up past the total.
      ['lies.zip', buildZip([1, 2].map((i) => ({ name: `q6-${i}.png`, data: randomBytes(16 * 1024 ** 2), declaredSize: 2_600_000_000 }))), /would expand to more than 4294967296 bytes \(a zip bomb\?\)/],
      ['corrupt.zip', Buffer.from('PK\u0003\u0004 this is not really a zip archive'), /not a readable zip archive/],
    ];
    const good = buildZip([{ name: 'q6.jpg', data: jpeg }, { name: 'q7.jpg', data: png }]);
    refused.push(['truncated.zip', good.subarray(0, Math.floor(good.length / 2)), /not a readable zip archive/]);
    const rowsBefore = await fileCount();
    for (const [name, content, why] of refused) {
      await putZip(name, content);
      const r = await run(['--file', name]);
      assert.equal(r.code, 1, `${name}: a refused file makes the run fail`);
      const f = r.json.files[0];
      assert.equal(f.outcome, 'refused', name);
      assert.match(f.refusal, why, name);
      assert.match(await storeText(sb, f.report), /^FILE REFUSED, nothing was written: /m);
    }
    assert.equal(await fileCount(), rowsBefore, 'a refused archive writes no row');
    assert.equal(Number((await userRow('q6')).picture), 0);

    // Contained: a link, a size that lies, a damaged entry; the good entries of the same zip apply.
    const f = await runZip('contained.zip', [
      { name: 'q5.jpg', data: Buffer.from('/etc/passwd'), mode: 0o120777 },
      { name: 'q6.jpg', data: jpeg },
      { name: 'q7.jpg', data: Buffer.alloc(2 * 1024 ** 2, 7), declaredSize: 1000 },
      { name: 'p4.jpg', data: jpeg, crc32: 0x12345678 },
    ]);
    assert.deepEqual(f.rows, { total: 4, applied: 1, failed: 3, skipped: 0 });
    const report = await storeText(sb, f.report);
    assert.ok(report.includes('entry q5.jpg: failed: a symbolic link, never followed\n'), report);
    assert.ok(report.includes('entry q7.jpg: failed: not an image: corrupt entry: more bytes than the 1000 the archive declares\n'), report);
    assert.ok(report.includes('entry p4.jpg: failed: not an image: corrupt entry: CRC mismatch\n'), report);
    assert.ok(Number((await userRow('q6')).picture) > 0, 'the good entry applied');
    for (const p of outside) assert.ok(!fs.existsSync(p), `nothing written at ${p}`);
    assert.equal(worker.proc.exitCode, null, 'the worker is still running');
    assert.equal(worker.proc.signalCode, null);
    await assertNoOrphans();
  });

  it('userpictures_forcedeletion removes a zip even with filecleanup off; a simulation writes nothing', async () => {
    await setConfig({ userpictures_forcedeletion: '1' });
    const contents = () => fs.readdirSync(path.join(sb.moodledata, 'filedir'), { recursive: true }).length;
    const [rowsBefore, contentsBefore] = [await fileCount(), contents()];
    const sim = await runZip('userpictures_sim.zip', [{ name: 'q7.jpg', data: await plainImage(90, 90, [1, 2, 3], 'jpeg') }], ['--simulate']);
    assert.deepEqual([sim.simulate, sim.rows.applied], [true, 1]);
    assert.deepEqual([await fileCount(), contents(), Number((await userRow('q7')).picture)], [rowsBefore, contentsBefore, 0], 'a simulation writes no row and no content');
    assert.ok(fs.existsSync(path.join(sb.storeRoot, 'userpictures_sim.zip')), 'a simulation removes nothing');

    const live = await runZip('userpictures_live.zip', [{ name: 'q7.jpg', data: jpeg }]);
    assert.equal(live.rows.applied, 1);
    assert.ok(!fs.existsSync(path.join(sb.storeRoot, 'userpictures_live.zip')), 'forced deletion');
    assert.ok(live.archive && fs.existsSync(path.join(sb.storeRoot, live.archive)), 'archived first');
    await setConfig({ userpictures_forcedeletion: '0' });
  });

  it('a worker killed mid-zip and restarted gives each user one picture and one set of rows', async (t) => {
    const COUNT = CHUNK * 5;
    const names = Array.from({ length: COUNT }, (_, i) => `k${i + 1}`);
    await runToolFile(sb, 'users', 'kusers.csv', ['username;firstname;lastname;email;idnumber', ...names.map((n) => `${n};F;L;${n}@example.org;ID-${n}`)].join('\n') + '\n');
    const entries = await Promise.all(names.map(async (n, i) => ({
      name: `${n}.jpg`, data: await plainImage(1200, 900, [i % 256, (i * 7) % 256, (i * 13) % 256], 'jpeg'),
    })));
    await putZip('killed.zip', entries);
    const chunksDone = async () => Number((await rows(sb.db, 'SELECT COUNT(*) AS n FROM msync_chunks c JOIN msync_runs r USING (runkey) WHERE r.file = ?', ['killed.zip']))[0].n);
    const started = await sb.cli(['run', 'userpictures', '--file', 'killed.zip', '--json']);
    assert.equal(started.code, 0, started.stderr);
    await waitFor('a chunk of pictures committed', async () => (await chunksDone()) >= 1, 120_000, 10);
    await worker.kill();
    const atKill = await chunksDone();
    assert.ok(atKill >= 1 && atKill < 5, `the kill landed mid-zip (${atKill}/5 chunks)`);
    worker = await sb.startWorker();
    const summary = await sb.temporal.client.workflow.getHandle<() => Promise<ToolRunSummary>>(started.json.workflowId).result();
    t.diagnostic(`killed after ${atKill}/5 chunks`);
    assert.deepEqual(summary.files[0].rows, { total: COUNT, applied: COUNT, failed: 0, skipped: 0 });
    const [{ n }] = await rows(sb.db, `SELECT COUNT(*) AS n FROM mdl_files f JOIN mdl_context c ON c.id = f.contextid AND c.contextlevel = 30
        JOIN mdl_user u ON u.id = c.instanceid WHERE u.username IN (?) AND f.component = 'user' AND f.filearea = 'icon'`, [names]);
    assert.equal(Number(n), COUNT * 4, 'one set of four rows per user');
    const [{ pictures }] = await rows(sb.db, 'SELECT COUNT(*) AS pictures FROM mdl_user WHERE username IN (?) AND picture <> 0', [names]);
    assert.equal(Number(pictures), COUNT);
    assert.equal(await chunksDone(), 5, 'every chunk in the ledger once');
    await assertNoOrphans();
  });
});
