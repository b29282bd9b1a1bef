/**
 * The stale-lock watchdog end to end: the real worker process creates the schedule, real lock
 * files in <moodledata>/sync, the real Moodle database for incidents and recipients, and a real
 * SMTP listener on loopback that receives (or refuses) the alarm mails.
 */
import { describe, it, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import type { AddressObject, ParsedMail } from 'mailparser';
import { startSmtpListener, type SmtpListener } from './support/smtp';
import type { RowDataPacket } from 'mysql2';
import { openSandbox, waitFor, type Sandbox } from './support/sandbox';
import type { WatchdogResult } from '../workflows/shared';

const ADMIN = 'admin@example.com';
const EXTRA = ['ops@example.org', 'oncall@example.net'];
const HOURS_4 = 4 * 3600 * 1000;
const SCHEDULE_ID = 'stale-lock-watchdog';

describe('stale-lock watchdog', () => {
  let sandbox: Sandbox;
  let smtp: SmtpListener;
  let site = '';
  let seq = 0;

  const lockPath = (file: 'lock.txt' | 'alock.txt') => path.join(sandbox.dropFolder, file);

  async function writeLock(file: 'lock.txt' | 'alock.txt', ageMs: number, content: string): Promise<void> {
    await fsp.mkdir(sandbox.dropFolder, { recursive: true });
    await fsp.writeFile(lockPath(file), content);
    const when = new Date(Date.now() - ageMs);
    await fsp.utimes(lockPath(file), when, when);
  }

  const removeLocks = () => Promise.all((['lock.txt', 'alock.txt'] as const).map((f) => fsp.rm(lockPath(f), { force: true })));

  /** One watchdog check, run as the real workflow type on the worker's task queue. */
  const check = (): Promise<WatchdogResult> => sandbox.temporal.client.workflow.execute('staleLockWatchdog', {
    taskQueue: sandbox.env.TEMPORAL_TASK_QUEUE!,
    workflowId: `watchdog-test-${process.pid}-${++seq}`,
  });

  const addresses = (a: AddressObject | AddressObject[] | undefined): string[] =>
    (a === undefined ? [] : Array.isArray(a) ? a : [a]).flatMap((o) => o.value.map((v) => String(v.address).toLowerCase())).sort();
  const everyone = [ADMIN, ...EXTRA].sort();

  /** The mails received since `from`, checking that each went to the admin and both extra recipients. */
  function newMails(from: number): ParsedMail[] {
    const mails = smtp.received.slice(from);
    for (const { rcptTo, mail } of mails) {
      assert.deepEqual(addresses(mail.to), everyone, `To: of "${mail.subject}"`);
      assert.deepEqual([...rcptTo].map((s) => s.toLowerCase()).sort(), everyone, `envelope of "${mail.subject}"`);
    }
    return mails.map((m) => m.mail);
  }

  before(async () => {
    smtp = await startSmtpListener();


    sandbox = await openSandbox('watchdog');
    const [rows] = await sandbox.db.query<RowDataPacket[]>('SELECT shortname FROM mdl_course WHERE id = 1');
    site = String(rows[0].shortname);
    for (const [key, value] of [['stalelockdelay', '180'], ['alarmrecipients', EXTRA.join(',')]]) {
      const r = await sandbox.cli(['config', 'set', key, value, '--json']);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.json.value, value);
    }
    await sandbox.startWorker({ SMTP_URL: smtp.url });
  });

  after(async () => {
    await sandbox?.close();
    await smtp?.close();
  });

  // Each case leaves no lock and no open incident behind, even when it fails: the next case starts clean.
  afterEach(async () => {
    smtp.rejecting = false;
    await removeLocks();
    await check();
  });

  it('the worker creates the schedule once, and a triggered run completes', async () => {
    const listed = async () => {
      const r = await sandbox.cli(['schedule', 'list', '--json']);
      assert.equal(r.code, 0, r.stderr);
      return (r.json as { id: string; workflowType?: string; spec: string; paused: boolean }[]).filter((s) => s.id === SCHEDULE_ID);
    };
    const first = await listed();
    assert.equal(first.length, 1);
    assert.equal(first[0].workflowType, 'staleLockWatchdog');
    assert.equal(first[0].paused, false);
    assert.equal(first[0].spec, 'every 300s');

    // A second worker finds the schedule there, updates it, and runs: no failure, no duplicate.
    const second = await sandbox.startWorker({ SMTP_URL: smtp.url });
    assert.equal(second.proc.exitCode, null);
    assert.equal((await listed()).length, 1);
    const desc = await sandbox.temporal.client.schedule.getHandle(SCHEDULE_ID).describe();
    assert.equal(desc.action.type, 'startWorkflow');
    assert.equal(desc.action.type === 'startWorkflow' && desc.action.taskQueue, sandbox.env.TEMPORAL_TASK_QUEUE);
    await second.stop();
    assert.equal(second.proc.exitCode, 0, second.output());

    const handle = sandbox.temporal.client.schedule.getHandle(SCHEDULE_ID);
    await handle.trigger();
    const run = (await waitFor('a staleLockWatchdog run started by the schedule', async () => {
      for await (const w of sandbox.temporal.client.workflow.list({ query: "WorkflowType='staleLockWatchdog'" })) {
        if (w.workflowId.startsWith(SCHEDULE_ID)) return w;
      }
      return undefined;
    }, 20000, 200))!;
    const result: WatchdogResult = await sandbox.temporal.client.workflow.getHandle(run.workflowId, run.runId).result();
    assert.deepEqual(result.mailed, []);
    assert.deepEqual(result.mailFailures, []);
    assert.equal(result.locks.length, 2);
    const done = (await waitFor('the scheduled run to show as completed', async () => {
      const d = await sandbox.temporal.client.workflow.getHandle(run.workflowId, run.runId).describe();
      return d.status.name === 'COMPLETED' ? d : undefined;
    }, 10000, 100))!;
    assert.equal(done.type, 'staleLockWatchdog');
    assert.equal(smtp.received.length, 0);

    // From here on the test runs the checks itself; a 5-minute tick must not interleave with them.
    await handle.pause('watchdog test drives the checks');
    await waitFor('no scheduled run still going', async () => (await handle.describe()).info.runningActions.length === 0, 10000, 100);
  });

  it('a fresh lock gives no mail', async () => {
    await writeLock('lock.txt', 0, 'fresh\n');
    const before = smtp.received.length;
    const result = await check();
    assert.equal(result.locks.find((l) => l.file === 'lock.txt')?.present, true);
    assert.deepEqual(result.mailed, []);
    assert.deepEqual(result.mailFailures, []);
    await removeLocks();
    assert.deepEqual((await check()).mailed, []);
    assert.equal(smtp.received.length, before);
  });

  it('a stale lock.txt gives one mail per incident, and one when it clears', async () => {
    await writeLock('lock.txt', HOURS_4, 'holder: moodle-sync reintegration reintegration/run-1 (host h, pid 1)\nsince: x\n');
    let before = smtp.received.length;
    const result = await check();
    assert.deepEqual(result.mailed, [{ kind: 'stale', file: 'lock.txt' }]);
    assert.deepEqual(result.mailFailures, []);
    let mails = newMails(before);
    assert.equal(mails.length, 1);
    const [stale] = mails;
    assert.match(stale.subject ?? '', /lock\.txt/);
    assert.ok(!/alock\.txt/.test(stale.subject ?? ''), stale.subject);
    assert.ok(stale.subject?.includes(`[${site}]`), stale.subject);
    assert.ok(stale.subject?.includes('4 h 0 min'), stale.subject);
    const text = stale.text ?? '';
    assert.ok(text.includes(lockPath('lock.txt')), text);
    assert.ok(text.includes('4 h 0 min'), text);
    assert.ok(text.includes('180 min'), text);
    assert.match(text, /local sync process/i);
    assert.ok(text.includes('reintegration/run-1'), text);

    for (let i = 0; i < 2; i++) {
      const again = await check();
      assert.deepEqual(again.mailed, []);
      assert.deepEqual(again.mailFailures, []);
    }
    assert.equal(smtp.received.length, before + 1);

    await removeLocks();
    before = smtp.received.length;
    assert.deepEqual((await check()).mailed, [{ kind: 'cleared', file: 'lock.txt' }]);
    mails = newMails(before);
    assert.equal(mails.length, 1);
    assert.match(mails[0].subject ?? '', /lock\.txt cleared/);
    assert.ok((mails[0].text ?? '').includes(lockPath('lock.txt')), mails[0].text);
    assert.match(mails[0].text ?? '', /gone/);

    assert.deepEqual((await check()).mailed, []);
    assert.equal(smtp.received.length, before + 1);
  });

  it('a stale alock.txt names the remote transfer', async () => {
    await writeLock('alock.txt', HOURS_4, '');
    let before = smtp.received.length;
    assert.deepEqual((await check()).mailed, [{ kind: 'stale', file: 'alock.txt' }]);
    let mails = newMails(before);
    assert.equal(mails.length, 1);
    assert.match(mails[0].subject ?? '', /alock\.txt is 4 h 0 min old/);
    const text = mails[0].text ?? '';
    assert.ok(text.includes(lockPath('alock.txt')), text);
    assert.match(text, /remote transfer/i);
    assert.doesNotMatch(text, /local sync process/i);

    await removeLocks();
    before = smtp.received.length;
    assert.deepEqual((await check()).mailed, [{ kind: 'cleared', file: 'alock.txt' }]);
    mails = newMails(before);
    assert.equal(mails.length, 1);
    assert.match(mails[0].subject ?? '', /alock\.txt cleared/);
  });

  it('an SMTP refusal does not fail the check, and the owed mail goes out once SMTP accepts', async () => {
    await writeLock('lock.txt', HOURS_4, 'stuck\n');
    const before = smtp.received.length;
    smtp.rejecting = true;
    let result: WatchdogResult;
    try {
      result = await check();
    } finally {
      smtp.rejecting = false;
    }
    assert.deepEqual(result.mailed, []);
    assert.equal(result.mailFailures.length, 1);
    assert.equal(result.mailFailures[0].kind, 'stale');
    assert.equal(result.mailFailures[0].file, 'lock.txt');
    assert.match(result.mailFailures[0].error, /SMTP|550|unavailable/i);
    assert.ok(smtp.rejected >= 1, `the listener saw ${smtp.rejected} attempts`);
    assert.equal(smtp.received.length, before);

    result = await check();
    assert.deepEqual(result.mailed, [{ kind: 'stale', file: 'lock.txt' }]);
    assert.deepEqual(result.mailFailures, []);
    const mails = newMails(before);
    assert.equal(mails.length, 1);
    assert.match(mails[0].subject ?? '', /lock\.txt is 4 h 0 min old/);

    assert.deepEqual((await check()).mailed, []);
    assert.equal(smtp.received.length, before + 1);
  });

  it('a refused "cleared" mail is owed too, and sent once SMTP accepts', async () => {
    await writeLock('lock.txt', HOURS_4, 'stuck\n');
    const before = smtp.received.length;
    assert.deepEqual((await check()).mailed, [{ kind: 'stale', file: 'lock.txt' }]);
    await removeLocks();
    smtp.rejecting = true;
    let result: WatchdogResult;
    try {
      result = await check();
    } finally {
      smtp.rejecting = false;
    }
    assert.deepEqual(result.mailed, []);
    assert.deepEqual(result.mailFailures.map((f) => [f.kind, f.file]), [['cleared', 'lock.txt']]);
    assert.equal(smtp.received.length, before + 1);

    result = await check();
    assert.deepEqual(result.mailed, [{ kind: 'cleared', file: 'lock.txt' }]);
    const mails = newMails(before);
    assert.equal(mails.length, 2);
    assert.match(mails[1].subject ?? '', /lock\.txt cleared/);

    assert.deepEqual((await check()).mailed, []);
    assert.equal(smtp.received.length, before + 2);
  });
});
