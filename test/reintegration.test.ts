/**
 * Reintegration through the real path: the moodle-sync CLI and worker processes, a Temporal dev
 * server, the Moodle database and real files in <moodledata>/sync and the store.
 */
import { describe, it, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import { WorkflowFailedError } from '@temporalio/client';
import { openSandbox, waitFor, type Sandbox, type WorkerProcess } from './support/sandbox';
import { startOrJoinReintegration } from '../client/reintegration';
import { REINTEGRATION_WORKFLOW_ID } from '../workflows/shared';

const HOUR_AGO = new Date(Date.now() - 3600_000);

describe('reintegration', () => {
  let sb: Sandbox;
  let worker: WorkerProcess;

  const drop = async (name: string, content: string | Buffer, mtime: Date | null = HOUR_AGO) => {
    const abs = path.join(sb.dropFolder, name);
    await fsp.mkdir(path.dirname(abs), { recursive: true });
    await fsp.writeFile(abs, content);
    if (mtime) await fsp.utimes(abs, mtime, mtime);
    return abs;
  };
  const inDrop = async () => (await fsp.readdir(sb.dropFolder)).sort();
  const inStore = async () => (await fsp.readdir(sb.storeRoot).catch(() => [] as string[])).filter((n) => n !== 'reports' && n !== 'archives').sort();
  const reintegrate = async () => {
    const r = await sb.cli(['reintegrate', '--json']);
    assert.equal(r.code, 0, r.stderr);
    return r.json;
  };
  const lockPresent = () => fs.existsSync(path.join(sb.dropFolder, 'lock.txt'));
  /** Big files make a run last long enough to kill, cancel or join it mid-way. */
  const dropBigFiles = async (count: number, mb: number) => {
    const block = randomBytes(1024 * 1024);
    for (let i = 0; i < count; i++) {
      const abs = path.join(sb.dropFolder, `big${String(i).padStart(2, '0')}.csv`);
      const fd = await fsp.open(abs, 'w');
      for (let m = 0; m < mb; m++) await fd.write(block);
      await fd.write(`file ${i}\n`);
      await fd.close();
      await fsp.utimes(abs, HOUR_AGO, HOUR_AGO);
    }
  };
  const sha = (abs: string) => createHash('sha256').update(fs.readFileSync(abs)).digest('hex');

  before(async () => {
    sb = await openSandbox('reintegration');
    worker = await sb.startWorker();
  });
  after(async () => sb?.close());
  beforeEach(async () => {
    for (const dir of [sb.dropFolder, sb.storeRoot]) await fsp.rm(dir, { recursive: true, force: true });
    await fsp.mkdir(sb.dropFolder, { recursive: true });
  });

  it('takes finished files, blocks.csv included, and leaves hidden, "_", folders, links and lock files', async () => {
    await drop('users.csv', 'username;firstname\nu1;Ann\n');
    await drop('blocks.csv', 'x\n');
    await drop('.hidden.csv', 'h\n');
    await drop('_notforus.csv', 'n\n');
    await drop('sub/inner.csv', 'i\n');
    await fsp.symlink('/etc/passwd', path.join(sb.dropFolder, 'link.csv'));
    const result = await reintegrate();
    assert.equal(result.status, 'done');
    assert.deepEqual(result.taken.map((t: { name: string }) => t.name), ['blocks.csv', 'users.csv']);
    assert.deepEqual(await inStore(), ['blocks.csv', 'users.csv']);
    assert.equal(await fsp.readFile(path.join(sb.storeRoot, 'users.csv'), 'utf8'), 'username;firstname\nu1;Ann\n');
    // The modification time travels with the file (the overview shows how long it waited).
    assert.ok(Math.abs((await fsp.stat(path.join(sb.storeRoot, 'users.csv'))).mtimeMs - HOUR_AGO.getTime()) < 1);
    assert.deepEqual(await inDrop(), ['.hidden.csv', '_notforus.csv', 'link.csv', 'sub']);
    const skipped = Object.fromEntries(result.skipped.map((s: { name: string; reason: string }) => [s.name, s.reason]));
    assert.match(skipped['_notforus.csv'], /"_"/);
    assert.match(skipped.sub, /folder/);
    assert.match(skipped['link.csv'], /symbolic link/);
    assert.equal(lockPresent(), false);
  });

  it('takes nothing while alock.txt exists, and everything once it is gone', async () => {
    await drop('enrols.csv', 'a\n');
    await drop('alock.txt', 'remote writer\n', null);
    const blocked = await reintegrate();
    assert.equal(blocked.status, 'remote-writing');
    assert.equal(blocked.lock.file, 'alock.txt');
    assert.deepEqual(await inStore(), []);
    assert.deepEqual(await inDrop(), ['alock.txt', 'enrols.csv']);
    assert.equal(lockPresent(), false, 'lock.txt is not taken while a remote system writes');
    await fsp.rm(path.join(sb.dropFolder, 'alock.txt'));
    assert.deepEqual((await reintegrate()).taken.map((t: { name: string }) => t.name), ['enrols.csv']);
  });

  it('leaves a file that is still growing until it has been quiet for the quiet period', async () => {
    // Long enough that a slow CLI start on a loaded machine never lets it elapse by accident.
    assert.equal((await sb.cli(['config', 'set', 'quietperiod', '8'])).code, 0);
    try {
      const abs = await drop('growing.csv', 'line 1\n', null);
      let r = await reintegrate();
      assert.deepEqual(r.taken, []);
      assert.match(r.waiting.find((w: { name: string }) => w.name === 'growing.csv').reason, /changed less than 8 s ago/);
      await fsp.appendFile(abs, 'line 2\n');
      r = await reintegrate();
      assert.deepEqual(r.taken, []);
      await new Promise((res) => setTimeout(res, 8200));
      r = await reintegrate();
      assert.deepEqual(r.taken.map((t: { name: string }) => t.name), ['growing.csv']);
      assert.equal(await fsp.readFile(path.join(sb.storeRoot, 'growing.csv'), 'utf8'), 'line 1\nline 2\n');
    } finally {
      await sb.cli(['config', 'set', 'quietperiod', '10']);
    }
  });

  it('never replaces an unprocessed store file: the newcomer waits, then replaces it once it has run', async () => {
    await fsp.mkdir(sb.storeRoot, { recursive: true });
    await fsp.writeFile(path.join(sb.storeRoot, 'users.csv'), 'first drop\n');
    await drop('users.csv', 'second drop\n');
    let r = await reintegrate();
    assert.deepEqual(r.taken, []);
    assert.match(r.waiting[0].reason, /has not been processed yet/);
    assert.equal(await fsp.readFile(path.join(sb.storeRoot, 'users.csv'), 'utf8'), 'first drop\n');
    assert.equal(await fsp.readFile(path.join(sb.dropFolder, 'users.csv'), 'utf8'), 'second drop\n');

    // The same content dropped again is still a second file of that name: it waits too.
    await fsp.writeFile(path.join(sb.dropFolder, 'users.csv'), 'first drop\n');
    await fsp.utimes(path.join(sb.dropFolder, 'users.csv'), HOUR_AGO, HOUR_AGO);
    r = await reintegrate();
    assert.deepEqual(r.taken, []);
    await drop('users.csv', 'second drop\n');

    // Once the pipeline has recorded the first file's content as run, the newcomer may replace it.
    const firstSha = createHash('sha256').update('first drop\n').digest('hex');
    await sb.db.query('INSERT INTO msync_processed_inputs (name, sha256, processedat) VALUES (?, ?, ?)', ['users.csv', firstSha, Date.now()]);
    r = await reintegrate();
    assert.deepEqual(r.taken.map((t: { name: string }) => t.name), ['users.csv']);
    assert.equal(await fsp.readFile(path.join(sb.storeRoot, 'users.csv'), 'utf8'), 'second drop\n');
    assert.deepEqual(await inDrop(), []);
  });

  it('respects a lock.txt written by another program (the original tool_sync) and leaves it alone', async () => {
    await drop('lock.txt', '1764100000', null);
    await drop('courses.csv', 'c\n');
    const r = await reintegrate();
    assert.equal(r.status, 'held-by-other');
    assert.deepEqual(await inStore(), []);
    assert.equal(await fsp.readFile(path.join(sb.dropFolder, 'lock.txt'), 'utf8'), '1764100000');
  });

  it('gives one reintegration for two concurrent requests', async () => {
    await dropBigFiles(40, 16);
    const client = sb.temporal.client;
    const queue = sb.env.TEMPORAL_TASK_QUEUE!;
    const [a, b] = await Promise.all([startOrJoinReintegration(client, queue), startOrJoinReintegration(client, queue)]);
    // While it runs, a request through the CLI joins it too.
    const viaCli = await sb.cli(['reintegrate', '--json']);
    const [ra, rb] = await Promise.all([a.result(), b.result()]);
    assert.equal(a.firstExecutionRunId, b.firstExecutionRunId, 'both requests got the same run');
    assert.equal(viaCli.json.runId, a.firstExecutionRunId, 'the CLI request joined the same run');
    assert.deepEqual(ra, rb);
    assert.equal(ra.taken!.length, 40);
    assert.equal((await inStore()).length, 40);
    assert.deepEqual(await inDrop(), []);
  });

  it('removes lock.txt when the run fails', async () => {
    await drop('users.csv', 'u\n');
    const badStore = path.join(sb.moodledata, 'breaks-later');
    const w = await sb.startWorker({ SYNC_STORE: badStore, TEMPORAL_TASK_QUEUE: 'msync-test-failing' });
    try {
      // Once the worker runs, its store root becomes a plain file: every attempt to take files fails.
      await fsp.rm(badStore, { recursive: true });
      await fsp.writeFile(badStore, 'x');
      const handle = await startOrJoinReintegration(sb.temporal.client, 'msync-test-failing');
      await assert.rejects(handle.result(), WorkflowFailedError);
      assert.equal(lockPresent(), false, 'lock.txt survived a failed run');
      assert.deepEqual(await inDrop(), ['users.csv'], 'the file is still in the drop folder');
    } finally {
      await w.stop();
      await fsp.rm(badStore, { force: true });
    }
  });

  it('removes lock.txt when the run is cancelled mid-way', async () => {
    await dropBigFiles(60, 16);
    const handle = await startOrJoinReintegration(sb.temporal.client, sb.env.TEMPORAL_TASK_QUEUE!);
    await waitFor('lock.txt', () => lockPresent(), 20000, 5);
    await handle.cancel();
    await assert.rejects(handle.result(), WorkflowFailedError);
    assert.equal(lockPresent(), false, 'lock.txt survived a cancelled run');
    // Nothing is lost: every file is in one place or the other, whole.
    const names = [...(await inDrop()), ...(await inStore())].filter((n) => n.startsWith('big')).sort();
    assert.equal(names.length, 60);
    assert.ok((await inDrop()).length > 0, 'the cancellation landed before the end');
    assert.deepEqual((await inDrop()).filter((n) => n.startsWith('.')), [], 'no half-taken file is left');
  });

  it('recovers from a worker killed mid-way: the retry finishes the move and removes lock.txt', async () => {
    await dropBigFiles(30, 16);
    const expected = new Map((await inDrop()).map((n) => [n, sha(path.join(sb.dropFolder, n))]));
    const handle = await startOrJoinReintegration(sb.temporal.client, sb.env.TEMPORAL_TASK_QUEUE!);
    // Kill once some files are in the store and others are still to be taken.
    await waitFor('the move to be under way', async () => lockPresent() && (await inStore()).length >= 2, 30000, 5);
    await worker.kill();
    assert.equal(lockPresent(), true, 'the kill landed mid-way');
    assert.ok((await inDrop()).some((n) => n.startsWith('big')), 'the kill landed before the end');
    worker = await sb.startWorker();
    const result = await handle.result();
    assert.equal(result.status, 'done');
    assert.equal(lockPresent(), false, 'lock.txt survived a killed worker');
    assert.deepEqual(await inDrop(), []);
    const stored = await inStore();
    assert.deepEqual(stored, [...expected.keys()]);
    for (const name of stored) assert.equal(sha(path.join(sb.storeRoot, name)), expected.get(name), `${name} arrived whole`);
    // No partial copy is left behind in the store.
    assert.deepEqual((await fsp.readdir(sb.storeRoot)).filter((n) => n.startsWith('.')), []);
  });

  it('takes over a lock.txt left by a terminated reintegration', async () => {
    await dropBigFiles(30, 8);
    const handle = await startOrJoinReintegration(sb.temporal.client, sb.env.TEMPORAL_TASK_QUEUE!);
    await waitFor('lock.txt', () => lockPresent(), 20000, 5);
    await handle.terminate('test: a run that never cleans up');
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(lockPresent(), true, 'termination leaves the lock behind');
    const r = await reintegrate();
    assert.equal(r.status, 'done');
    assert.equal(lockPresent(), false);
    assert.equal((await inStore()).filter((n) => n.startsWith('big')).length, 30);
    assert.equal(r.workflowId, REINTEGRATION_WORKFLOW_ID);
  });
});
