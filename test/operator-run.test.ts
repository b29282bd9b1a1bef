/**
 * `run` and `overview` through the real path (CLI and worker processes, Temporal dev server,
 * MariaDB): the progress bar under a pseudo-terminal, plain lines without one, --upload, one
 * run per tool at a time, and the overview of every tool operation.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fsp from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { openSandbox, waitFor, type Sandbox } from './support/sandbox';
import { runInTerminal } from './support/terminal';
import { rows } from './support/moodle';

const HEADER = 'username;firstname;lastname;email;oldusername';

/** A users file of `n` new accounts named <prefix><i>; rows listed in `failing` rename an account that does not exist. */
function usersFile(prefix: string, n: number, failing: number[] = []): string {
  const lines = [HEADER];
  for (let i = 1; i <= n; i++) lines.push(`${prefix}${i};First${i};Last${i};${prefix}${i}@example.org;${failing.includes(i) ? `nobody-${prefix}${i}` : ''}`);
  return `${lines.join('\n')}\n`;
}

const BAR = /\[([█░]+)\]\s+(\d+)% ([\d,]+)\/([\d,]+) rows, ([\d,]+|…) rows\/s, ETA ([^,]+), ([\d,]+) failed/;
const int = (s: string) => Number(s.replace(/,/g, ''));

describe('run and overview', () => {
  let sb: Sandbox;
  const cli = async (args: string[], code = 0) => {
    const r = await sb.cli(args);
    assert.equal(r.code, code, `moodle-sync ${args.join(' ')}: exit ${r.code}\n${r.stdout}${r.stderr}`);
    return r;
  };
  const put = (name: string, content: string) => fsp.writeFile(path.join(sb.storeRoot, name), content);
  const overview = async () => (await cli(['overview', '--json'])).json as { operations: any[]; locks: any[]; otherSchedules: any[] };
  const op = async (name: string) => (await overview()).operations.find((o) => `${o.tool}:${o.op}` === name);

  before(async () => {
    sb = await openSandbox('oprun');
    for (const [k, v] of [['storereport', '1'], ['filefailed', '1'], ['users_primaryidentity', 'username'], ['users_createpasswords', '0'], ['users_allowrename', '1']]) await cli(['config', 'set', k, v]);
    await fsp.mkdir(sb.storeRoot, { recursive: true });
    await sb.startWorker();
  });
  after(async () => sb?.close());

  it('run --wait on a terminal redraws a progress bar with rows/s and ETA, then prints the summary with the report and tryback', async () => {
    await put('big-a.csv', usersFile('pa', 20000, [5, 15000, 19999]));
    const { code, output } = await runInTerminal(['run', 'users', '--file', 'big-a.csv', '--wait'], sb.env);
    assert.equal(code, 0, output);
    const frames = output.split('\r\x1b[2K').map((f) => f.split('\n')[0]);
    const bars = frames.map((f) => BAR.exec(f)).filter((m): m is RegExpExecArray => !!m);
    assert.ok(bars.length >= 2, `at least two bar frames drawn in place:\n${JSON.stringify(frames.slice(0, 20))}`);
    assert.ok(bars.every((m) => int(m[4]) === 20000), 'every frame knows the total');
    assert.ok(bars.some((m) => int(m[3]) > 0 && int(m[3]) < 20000), 'a frame mid-way');
    const measured = bars.filter((m) => m[5] !== '…');
    assert.ok(measured.length >= 1, 'a frame with a measured rate');
    assert.ok(measured.every((m) => int(m[5]) > 0 && /^\d+ (s|min)|^\d+ h/.test(m[6])), `rates and ETAs: ${measured.map((m) => `${m[5]} ${m[6]}`).join(' | ')}`);
    const done = bars.map((m) => int(m[3]));
    assert.deepEqual(done, [...done].sort((a, b) => a - b), 'rows done never go back');
    assert.equal(new Set(bars.map((m) => m[1].length)).size, 1, 'the bar keeps its width');
    assert.ok(frames.some((f) => f.includes('big-a.csv: checking the whole file')), 'the preparing stage is shown');
    // The summary, after the bar is cleared: figures, report and tryback paths.
    assert.match(output, /big-a\.csv: done in .*: 19,997 applied, 3 failed, 0 skipped/);
    assert.match(output, /users add: completed\r?\n/);
    assert.match(output, /big-a\.csv: 20000 row\(s\), 19997 applied, 3 failed, 0 skipped/);
    assert.match(output, /report: reports\/\d{8}-\d{4}_report_big-a\.csv/);
    assert.match(output, /tryback: big-a_tryback_\d{8}-\d{4}\.csv/);
    assert.equal((await rows(sb.db, "SELECT COUNT(*) AS n FROM mdl_user WHERE username LIKE 'pa%'"))[0].n, 19997);
  });

  it('run --wait without a terminal writes plain time-stamped progress lines on stderr and only the summary on stdout', async () => {
    await put('big-b.csv', usersFile('pb', 20000));
    const r = await cli(['run', 'users', '--file', 'big-b.csv', '--wait']);
    assert.doesNotMatch(r.stderr, /[\r\x1b]/, 'no terminal control characters');
    const lines = r.stderr.trimEnd().split('\n');
    assert.ok(lines.every((l) => /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ users add: /.test(l) || /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ big-b\.csv: done/.test(l)), r.stderr);
    assert.ok(lines.some((l) => l.includes('big-b.csv: checking the whole file')), r.stderr);
    assert.ok(lines.some((l) => /big-b\.csv: applying \d+%, [\d,]+\/20,000 rows/.test(l)), r.stderr);
    assert.match(lines.at(-1)!, /big-b\.csv: done in .*: 20,000 applied, 0 failed, 0 skipped/);
    assert.match(r.stdout, /^users add: completed\nreintegration: .*\nbig-b\.csv: 20000 row\(s\), 20000 applied/);

    const quiet = await cli(['run', 'users', '--file', 'big-b.csv', '--wait', '--json']);
    assert.equal(quiet.stderr, '', 'no progress lines with --json');
    assert.equal(quiet.json.rows.total, 20000);
  });

  it('run --upload puts a local file in the store under the configured name and runs it; another content is only replaced with --force', async () => {
    const local = path.join(await fsp.mkdtemp(path.join(os.tmpdir(), 'msync-upload-')), 'my-new-users.csv');
    await fsp.writeFile(local, usersFile('up', 2));
    const r = await cli(['run', 'users', '--upload', local, '--wait', '--json']);
    assert.equal(r.json.uploaded, 'userimport.csv', 'users_filelocation names the file');
    assert.equal(r.json.file, 'userimport.csv');
    assert.deepEqual(r.json.rows, { total: 2, applied: 2, failed: 0, skipped: 0 });
    assert.equal(await fsp.readFile(path.join(sb.storeRoot, 'userimport.csv'), 'utf8'), usersFile('up', 2));

    // A different waiting file of that name is not replaced without --force.
    await fsp.writeFile(local, usersFile('up', 3));
    const refused = await cli(['run', 'users', '--upload', local], 1);
    assert.match(refused.stderr, /store:userimport\.csv exists with other content.*--force/);
    const forced = await cli(['run', 'users', '--upload', local, '--force', '--wait']);
    assert.match(forced.stdout, /^uploaded .*my-new-users\.csv -> store:userimport\.csv \(\d+ B\)\nusers add: completed/);
    assert.match(forced.stdout, /userimport\.csv: 3 row\(s\), 3 applied, 0 failed, 0 skipped/);

    // --file names the store path; the local file keeps its content there.
    const named = await cli(['run', 'users', '--upload', local, '--file', 'incoming/last-minute.csv', '--wait', '--json']);
    assert.equal(named.json.file, 'incoming/last-minute.csv');
    assert.match(named.json.report, /_report_last-minute\.csv$/);
    assert.match((await cli(['run', 'users', '--upload', '/no/such/file.csv'], 2)).stderr, /no such local file/);
    assert.match((await cli(['run', 'users', '--force'], 2)).stderr, /--force goes with --upload/);
  });

  it('one run per tool at a time: a second users run waits for the first, and the overview shows both', async () => {
    await put('big-c.csv', usersFile('pc', 20000));
    await put('usersuspend.csv', 'username\npc1\n');
    const first = await cli(['run', 'users', '--file', 'big-c.csv', '--json']);
    const applying = await waitFor('the first run applying rows, in the overview', async () => {
      const o = await op('users:add');
      return o?.running?.progress?.stage === 'applying' && o.running.progress.rowsDone > 0 ? o : undefined;
    }, 60000, 200);
    assert.equal(applying.running.workflowId, first.json.workflowId);
    assert.equal(applying.running.file, 'big-c.csv');
    const shown = await cli(['runs', 'show', first.json.workflowId]);
    assert.match(shown.stdout, /: RUNNING, started .*\nnow: big-c\.csv (applying \d+% \([\d,]+\/20,000 rows, 0 failed\)|finalizing|done)/);
    const second = await cli(['run', 'users', '--op', 'suspend', '--json']);
    const waiting = await waitFor('the suspend run waiting for the add run', async () => {
      const o = await op('users:suspend');
      return o?.running?.stage === 'waiting' ? o : undefined;
    }, 30000, 200);
    assert.equal(waiting.running.waitingFor, first.json.workflowId);
    const text = (await cli(['overview'])).stdout;
    assert.match(text, new RegExp(`users:suspend .*waiting for ${first.json.workflowId}`));
    assert.match(text, /users:add .*big-c\.csv applying \d+% \([\d,]+\/20,000 rows, 0 failed\)|users:add .*big-c\.csv (finalizing|done)/);

    // Both finish; the suspend file ran only after the add file was done.
    await waitFor('both runs closed', async () => (await op('users:suspend'))?.lastRun?.workflowId === second.json.workflowId && (await op('users:add'))?.lastRun?.workflowId === first.json.workflowId, 120000, 500);
    const [add] = await rows(sb.db, "SELECT startedat, finishedat FROM msync_runs WHERE file = 'big-c.csv'");
    const [suspend] = await rows(sb.db, "SELECT startedat, finishedat FROM msync_runs WHERE file = 'usersuspend.csv'");
    assert.ok(Number(suspend.startedat) >= Number(add.finishedat), `suspend started ${suspend.startedat}, add finished ${add.finishedat}`);
    assert.equal((await rows(sb.db, "SELECT suspended FROM mdl_user WHERE username = 'pc1'"))[0].suspended, 1);
    assert.deepEqual((await rows(sb.db, "SELECT holder FROM msync_tool_leases WHERE tool = 'users'")).map((r) => r.holder), [null], 'the lease is given back');
  });

  it('overview: every tool operation with its file waiting in the store, its schedule, its last run with report and tryback, and the lock files', async () => {
    await put('userimport.csv', usersFile('ov', 3));
    await cli(['schedule', 'set', 'users', '--cron', '0 3 * * *']);
    await cli(['schedule', 'set', 'users:suspend', '--cron', '10 4 * * 1']);
    await cli(['schedule', 'pause', 'users:suspend']);
    await fsp.mkdir(sb.dropFolder, { recursive: true });
    await fsp.writeFile(path.join(sb.dropFolder, 'alock.txt'), 'remote feeder\n');
    await fsp.utimes(path.join(sb.dropFolder, 'alock.txt'), new Date(), new Date(Date.now() - 2 * 3600_000));

    const data = await overview();
    const tools = new Set(data.operations.map((o) => o.tool));
    assert.ok(tools.has('users') && tools.has('enrols'), [...tools].join(', '));
    const add = data.operations.find((o) => o.tool === 'users' && o.op === 'add');
    assert.equal(add.location, 'userimport.csv');
    assert.deepEqual(add.waiting.map((w: any) => [w.path, w.size, w.alreadyRan]), [['userimport.csv', Buffer.byteLength(usersFile('ov', 3)), false]]);
    assert.deepEqual([add.schedule.cron, add.schedule.paused, add.schedule.timeZone], ['0 3 * * *', false, 'Europe/London']);
    assert.ok(add.schedule.nextRuns[0]);
    assert.equal(add.lastRun.outcome, 'completed');
    assert.equal(add.lastRun.files[0].file, 'big-c.csv');
    assert.deepEqual(add.lastRun.rows, { total: 20000, applied: 20000, failed: 0, skipped: 0 });
    assert.match(add.lastRun.files[0].report, /^reports\/\d{8}-\d{4}_report_big-c\.csv$/);
    assert.equal(add.running, null);
    const suspend = data.operations.find((o) => o.tool === 'users' && o.op === 'suspend');
    assert.deepEqual([suspend.schedule.cron, suspend.schedule.paused], ['10 4 * * 1', true]);
    const restore = data.operations.find((o) => o.tool === 'users' && o.op === 'restore');
    assert.deepEqual([restore.schedule, restore.lastRun, restore.waiting], [null, null, []]);
    const alock = data.locks.find((l) => l.file === 'alock.txt');
    assert.equal(alock.present, true);
    assert.ok(alock.ageSec >= 7200 && alock.ageSec < 7300, String(alock.ageSec));
    assert.ok(data.otherSchedules.some((s) => s.id === 'stale-lock-watchdog'));

    const text = (await cli(['overview'])).stdout;
    assert.match(text, /users:add\s+userimport\.csv\s+userimport\.csv \(\d+ B, \d+ s\)\s+0 3 \* \* \*\s+\d{4}-\d\d-\d\dT0[23]:00:00Z/);
    // filecleanup is off: the suspend file stays, marked as content that already ran.
    assert.match(text, /users:suspend\s+usersuspend\.csv\s+usersuspend\.csv \(13 B, [\w ]+, already ran\)\s+10 4 \* \* 1 \(paused\)\s+-/);
    assert.match(text, /users:add\s+\d{4}-\S+Z\s+completed\s+20,000 applied, 0 failed\s+reports\/\S+_report_big-c\.csv\s+-/);
    assert.match(text, /users:restore\s+never\s+-\s+-\s+-\s+-/);
    assert.match(text, /alock\.txt\s+present\s+\S+\s+2 h 0 min\s+remote feeder/);
    // A run with failures shows its tryback beside its report.
    await cli(['run', 'users', '--file', 'big-a.csv', '--wait']);
    assert.match((await cli(['overview'])).stdout, /users:add\s+\S+\s+completed-with-failures\s+19,997 applied, 3 failed\s+reports\/\S+_report_big-a\.csv, big-a_tryback_\S+\.csv/);
    await fsp.rm(path.join(sb.dropFolder, 'alock.txt'));
  });

  it('a terminated run (no chance to give its lease back) does not block the next run of its tool', async () => {
    await put('big-d.csv', usersFile('pd', 20000));
    const started = await cli(['run', 'users', '--file', 'big-d.csv', '--json']);
    await waitFor('the run applying rows', async () => (await op('users:add'))?.running?.progress?.stage === 'applying', 60000, 200);
    await sb.temporal.client.workflow.getHandle(started.json.workflowId).terminate('test: a run killed from the outside');
    assert.deepEqual((await rows(sb.db, "SELECT holder FROM msync_tool_leases WHERE tool = 'users'")).map((r) => r.holder), [started.json.workflowId], 'the lease is left behind');
    await put('after-terminate.csv', usersFile('pt', 2));
    const next = await cli(['run', 'users', '--file', 'after-terminate.csv', '--wait', '--json']);
    assert.deepEqual(next.json.rows, { total: 2, applied: 2, failed: 0, skipped: 0 });
    assert.deepEqual((await rows(sb.db, "SELECT holder FROM msync_tool_leases WHERE tool = 'users'")).map((r) => r.holder), [null]);
    assert.equal((await op('users:add')).lastRun.workflowId, next.json.workflowId);
  });
});
