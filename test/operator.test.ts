/**
 * The operator's commands through the real path (CLI, worker, Temporal dev server, MariaDB):
 * schedules (set, list, pause, resume, trigger, delete, defaults), runs from visibility, reports,
 * store pruning (files prune, and the store-cleanup schedule's workflow).
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { openSandbox, waitFor, type Sandbox } from './support/sandbox';
import { minuteStamp } from '../activities/pipeline/outputs';

const DAY = 86_400_000;

describe('operator commands', () => {
  let sb: Sandbox;
  const cli = async (args: string[], code = 0) => {
    const r = await sb.cli(args);
    assert.equal(r.code, code, `moodle-sync ${args.join(' ')}: exit ${r.code}\n${r.stdout}${r.stderr}`);
    return r;
  };
  const schedules = async () => (await cli(['schedule', 'list', '--json'])).json as { id: string; workflowType?: string; cron: string | null; timeZone: string | null; paused: boolean; nextRuns: string[] }[];

  before(async () => {
    sb = await openSandbox('operator');
    for (const [k, v] of [['storereport', '1'], ['users_primaryidentity', 'username'], ['users_createpasswords', '0']]) await cli(['config', 'set', k, v]);
    await sb.startWorker();
  });
  after(async () => sb?.close());

  it('refuses a bad cron expression, an unknown tool and an unknown operation with exit 2', async () => {
    const badCron = await cli(['schedule', 'set', 'users', '--cron', '0 */6 * *'], 2);
    assert.match(badCron.stderr, /5: minute hour/);
    assert.match((await cli(['schedule', 'set', 'users', '--cron', '61 * * * *'], 2)).stderr, /out of range/);
    assert.match((await cli(['schedule', 'set', 'users', '--cron', 'x y z * *'], 2)).stderr, /not valid/);
    const badTool = await cli(['schedule', 'set', 'nosuchtool', '--cron', '0 * * * *', '--json'], 2);
    assert.match(badTool.stderr, /Unknown tool "nosuchtool"\. Tools: (\w+, )*users\b/);
    assert.equal(badTool.json.error.code, 'usage');
    assert.match((await cli(['schedule', 'set', 'users:nope', '--cron', '0 * * * *'], 2)).stderr, /Operations: add, suspend/);
    assert.match((await cli(['schedule', 'set', 'users'], 2)).stderr, /needs --cron/);
    assert.match((await cli(['schedule', 'pause', 'users:nope'], 2)).stderr, /Operations:/);
    assert.match((await cli(['schedule', 'frobnicate'], 2)).stderr, /schedule needs one of/);
    assert.match((await cli(['schedule', 'pause', 'tool-users-restore'], 1)).stderr, /No schedule "tool-users-restore"/);
  });

  it('set creates then updates one schedule per tool operation; pause and resume change its state', async () => {
    const created = await cli(['schedule', 'set', 'users', '--cron', '0 3 * * *', '--json']);
    assert.deepEqual([created.json.id, created.json.status, created.json.paused, created.json.overlap, created.json.catchupWindow], ['tool-users-add', 'created', false, 'SKIP', '10 minutes']);
    const updated = await cli(['schedule', 'set', 'users:add', '--cron', '0 4 * * *', '--json']);
    assert.deepEqual([updated.json.id, updated.json.status, updated.json.cron], ['tool-users-add', 'updated', '0 4 * * *']);
    assert.equal(new Date(updated.json.nextRun).getUTCMinutes(), 0);

    let s = (await schedules()).find((x) => x.id === 'tool-users-add');
    assert.ok(s, 'listed');
    assert.equal(s.workflowType, 'runTool');
    assert.equal(s.paused, false);
    // The cron expression shows as it was set (the server keeps it as a calendar), in the site's time zone.
    assert.equal(s.cron, '0 4 * * *');
    assert.equal(s.timeZone, 'Europe/London');
    assert.match((await cli(['schedule', 'list'])).stdout, /tool-users-add\s+runTool\s+cron 0 4 \* \* \*\s+Europe\/London\s+active/);

    await cli(['schedule', 'pause', 'users']);
    assert.equal((await schedules()).find((x) => x.id === 'tool-users-add')?.paused, true);
    await cli(['schedule', 'resume', 'tool-users-add']);
    assert.equal((await schedules()).find((x) => x.id === 'tool-users-add')?.paused, false);

    const all = await cli(['schedule', 'set', 'sync-all', '--cron', '45 2 * * 1-5', '--json']);
    assert.equal(all.json.id, 'sync-all');
    assert.equal((await schedules()).find((x) => x.id === 'sync-all')?.workflowType, 'syncAll');
    await cli(['schedule', 'delete', 'sync-all']);
  });

  let runId = '';
  it('trigger starts a run of the scheduled tool that completes; runs lists it and runs show prints its summary', async () => {
    await fsp.mkdir(sb.storeRoot, { recursive: true });
    await fsp.writeFile(path.join(sb.storeRoot, 'userimport.csv'), 'username;firstname;lastname;email\nop.one;Op;One;op.one@example.org\nop.two;Op;Two;op.two@example.org\n');
    const t = await cli(['schedule', 'trigger', 'users:add', '--json']);
    assert.deepEqual(t.json, { id: 'tool-users-add', status: 'triggered' });

    const run = await waitFor('the triggered run in visibility, completed', async () => {
      const r = await cli(['runs', '--tool', 'users', '--json']);
      return (r.json as any[]).find((x) => x.type === 'runTool' && x.workflowId.startsWith('run-users-add') && x.status === 'COMPLETED' && x.outcome);
    }, 45000, 500);
    assert.equal(run.tool, 'users');
    assert.equal(run.op, 'add');
    assert.equal(run.outcome, 'completed');
    runId = run.workflowId;
    const [u] = (await sb.db.query<any[]>("SELECT id FROM mdl_user WHERE username = 'op.two'"))[0];
    assert.ok(u, 'the scheduled run created the account');

    const child = await waitFor('the file run in visibility', async () => ((await cli(['runs', '--json'])).json as any[]).find((x) => x.type === 'processFile' && x.workflowId === `${runId}/userimport.csv`), 20000, 500);
    assert.equal(child.file, 'userimport.csv');
    const text = (await cli(['runs', '--tool', 'users'])).stdout;
    assert.match(text, new RegExp(`${runId}\\s+runTool\\s+completed`));
    assert.equal(((await cli(['runs', '--limit', '1', '--json'])).json as any[]).length, 1);
    assert.deepEqual((await cli(['runs', '--tool', 'enrols', '--json'])).json, []);
    assert.match((await cli(['runs', '--limit', 'x'], 2)).stderr, /--limit/);
    assert.match((await cli(['runs', '--tool', 'nope'], 2)).stderr, /Unknown tool/);

    const show = await cli(['runs', 'show', runId, '--json']);
    assert.equal(show.json.status, 'COMPLETED');
    assert.equal(show.json.result.status, 'completed');
    assert.deepEqual(show.json.result.files[0].rows, { total: 2, applied: 2, failed: 0, skipped: 0 });
    const showText = (await cli(['runs', 'show', runId])).stdout;
    assert.match(showText, /users add: completed/);
    assert.match(showText, /userimport\.csv: 2 row\(s\), 2 applied, 0 failed, 0 skipped/);
    assert.match(showText, /report: reports\/\d{8}-\d{4}_report_userimport\.csv/);
    assert.match((await cli(['runs', 'show', 'no-such-run'], 1)).stderr, /No run "no-such-run"/);
  });

  it('reports list, show (by path or name) and tail read the stored reports', async () => {
    const list = await cli(['reports', 'list', '--json']);
    const reports = list.json as { path: string }[];
    assert.equal(reports.length, 1);
    assert.match(reports[0].path, /^reports\/\d{8}-\d{4}_report_userimport\.csv$/);
    assert.match((await cli(['reports', 'list'])).stdout, /reports\/\d{8}-\d{4}_report_userimport\.csv/);

    const byPath = await cli(['reports', 'show', reports[0].path, '--json']);
    const onDisk = await fsp.readFile(path.join(sb.storeRoot, reports[0].path), 'utf8');
    assert.equal(byPath.json.content, onDisk);
    const byName = await cli(['reports', 'show', path.basename(reports[0].path)]);
    assert.ok(byName.stdout.includes(onDisk.trimEnd()), byName.stdout);
    assert.match((await cli(['reports', 'show', 'nothing.csv'], 1)).stderr, /No report "nothing\.csv"/);

    // A second report, newer: tail shows it; tail users finds the users one; tail enrols has none.
    await fsp.writeFile(path.join(sb.storeRoot, 'reports', '20990101-0000_report_other.csv'), 'other report\n');
    await fsp.utimes(path.join(sb.storeRoot, 'reports', '20990101-0000_report_other.csv'), new Date(), new Date(Date.now() + 60000));
    assert.equal((await cli(['reports', 'tail', '--json'])).json.path, 'reports/20990101-0000_report_other.csv');
    assert.equal((await cli(['reports', 'list', '--json'])).json[0].path, 'reports/20990101-0000_report_other.csv');
    assert.equal((await cli(['reports', 'tail', 'users', '--json'])).json.path, reports[0].path);
    assert.match((await cli(['reports', 'tail', 'enrols'], 1)).stderr, /No report for enrols/);
    assert.match((await cli(['reports', 'tail', 'nope'], 2)).stderr, /Unknown tool/);
    assert.match((await cli(['reports'], 2)).stderr, /reports needs one of/);
  });

  it('delete removes a schedule; defaults creates the original\'s schedules paused, and leaves existing ones alone', async () => {
    await cli(['schedule', 'delete', 'users']);
    assert.equal((await schedules()).some((x) => x.id === 'tool-users-add'), false);
    assert.match((await cli(['schedule', 'delete', 'users'], 1)).stderr, /No schedule "tool-users-add"/);

    // An existing, active enrols schedule is left as it is.
    await cli(['schedule', 'set', 'enrols', '--cron', '5 5 * * *']);
    const first = await cli(['schedule', 'defaults', '--json']);
    const byId = Object.fromEntries((first.json as { id: string }[]).map((r) => [r.id, r]));
    assert.deepEqual(byId['tool-users-add'], { id: 'tool-users-add', cron: '0 */6 * * *', status: 'created (paused)' });
    assert.deepEqual(byId['tool-enrols-sync'], { id: 'tool-enrols-sync', cron: '30 */6 * * *', status: 'exists (left as it is)' });
    assert.deepEqual(byId['store-cleanup'], { id: 'store-cleanup', cron: '0 1 * * *', status: 'created (paused)' });
    // Users: only add, as the original's task. Other tools (reference 7.1): their own minute and
    // hours, each further operation one minute later, in the order sync-all runs them.
    assert.deepEqual(Object.keys(byId).filter((id) => id.startsWith('tool-users-')), ['tool-users-add']);
    const reference: Record<string, [number, string]> = { courses: [0, '*/12'], userpictures: [0, '*/12'], cohorts: [15, '*/12'] };
    for (const [tool, [minute, hours]] of Object.entries(reference)) {
      const crons = (first.json as { id: string; cron: string }[]).filter((r) => r.id.startsWith(`tool-${tool}-`)).map((r) => r.cron);
      assert.deepEqual(crons, crons.map((_, i) => `${minute + i} ${hours} * * *`), `${tool}: ${crons.join(' | ')}`);
    }
    const list = await schedules();
    assert.equal(list.find((x) => x.id === 'tool-users-add')?.paused, true);
    assert.equal(list.find((x) => x.id === 'tool-enrols-sync')?.paused, false);
    const next = new Date(list.find((x) => x.id === 'tool-enrols-sync')!.nextRuns[0]);
    assert.equal(next.getUTCMinutes(), 5, 'the existing cron was not replaced');

    const second = await cli(['schedule', 'defaults', '--json']);
    assert.ok((second.json as any[]).every((r) => r.status === 'exists (left as it is)'), JSON.stringify(second.json));
    assert.match((await cli(['schedule', 'defaults'])).stdout, /tool-users-add\s+0 \*\/6 \* \* \*\s+exists/);
    assert.ok((await schedules()).some((x) => x.id === 'stale-lock-watchdog'), 'the watchdog is untouched');
  });

  it('files prune removes reports, archives and trybacks older than fileareacleanupdelay days, never inputs; --dry-run only lists', async () => {
    const longAgo = new Date(Date.now() - 100 * DAY);
    const files: Record<string, boolean> = {
      // path: removed by a 90-day prune?
      'reports/20200101-0000_report_a.csv': true,
      'reports/handmade-notes.txt': true, // no stamp: its modification time counts
      'archives/20200101-0000_a.csv': true,
      'a_tryback_20200101-0000.csv': true,
      'sub/b_tryback_20200101-0000-2.csv': true,
      [`archives/${minuteStamp(Date.now())}_fresh.csv`]: false, // archived now, its input's old time kept
      'old-input.csv': false, // an input, however old
      'sub/old-input.csv': false,
    };
    for (const rel of Object.keys(files)) {
      await fsp.mkdir(path.dirname(path.join(sb.storeRoot, rel)), { recursive: true });
      await fsp.writeFile(path.join(sb.storeRoot, rel), `${rel}\n`);
      await fsp.utimes(path.join(sb.storeRoot, rel), longAgo, longAgo);
    }
    const exists = async (rel: string) => !!(await fsp.stat(path.join(sb.storeRoot, rel)).catch(() => undefined));
    const expected = Object.keys(files).filter((f) => files[f]).sort();

    const dry = await cli(['files', 'prune', '--dry-run', '--json']);
    assert.deepEqual(dry.json.removed.map((r: { path: string }) => r.path).sort(), expected);
    assert.equal(dry.json.olderThanDays, 90, 'the fileareacleanupdelay default');
    assert.deepEqual(dry.json.byKind, { report: 2, archive: 1, tryback: 2 });
    for (const rel of Object.keys(files)) assert.ok(await exists(rel), `${rel} kept by a dry run`);

    const text = (await cli(['files', 'prune'])).stdout;
    assert.match(text, /^removed 5 output\(s\) \(2 reports, 1 archive, 2 trybacks\) older than 90 day\(s\); \d+ newer kept, \d+ B\n/);
    assert.match(text, /  a_tryback_20200101-0000\.csv \(tryback, \d+ day\(s\) old\)/);
    for (const [rel, gone] of Object.entries(files)) assert.equal(await exists(rel), !gone, rel);
    assert.ok((await cli(['reports', 'list', '--json'])).json.length >= 1, 'this run\'s recent report is kept');

    await cli(['config', 'set', 'fileareacleanupdelay', '0']);
    assert.match((await cli(['files', 'prune'])).stdout, /pruning is off \(fileareacleanupdelay is 0\)/);
    await cli(['config', 'set', 'fileareacleanupdelay', '90']);
    assert.match((await cli(['files', 'prune', '--older-than', 'x'], 2)).stderr, /--older-than "x" must be a whole number/);
    assert.match((await cli(['files', 'ls', '--dry-run'], 2)).stderr, /--dry-run goes with files prune/);
  });

  it('the store-cleanup schedule prunes the store as a workflow', async () => {
    const old = 'reports/20200101-0000_report_scheduled.csv';
    await fsp.writeFile(path.join(sb.storeRoot, old), 'old\n');
    await fsp.utimes(path.join(sb.storeRoot, old), new Date(Date.now() - 100 * DAY), new Date(Date.now() - 100 * DAY));
    await cli(['schedule', 'set', 'store-cleanup', '--cron', '0 1 * * *']);
    await cli(['schedule', 'resume', 'store-cleanup']);
    const listed = (await schedules()).find((x) => x.id === 'store-cleanup');
    assert.deepEqual([listed?.workflowType, listed?.cron, listed?.paused], ['storeCleanup', '0 1 * * *', false]);
    await cli(['schedule', 'trigger', 'store-cleanup']);
    await waitFor('the scheduled cleanup to remove the old report', async () => !(await fsp.stat(path.join(sb.storeRoot, old)).catch(() => undefined)), 45000, 300);
    const run = await waitFor('the cleanup run in visibility', async () => ((await cli(['runs', '--json'])).json as any[]).find((r) => r.type === 'storeCleanup' && r.status === 'COMPLETED'), 30000, 500);
    const show = await cli(['runs', 'show', run.workflowId, '--json']);
    assert.equal(show.json.result.olderThanDays, 90);
    assert.deepEqual(show.json.result.removed, [{ path: old, kind: 'report', ageDays: show.json.result.removed[0].ageDays }]);
    assert.match((await cli(['runs', 'show', run.workflowId])).stdout, /removed 1 output\(s\) \(1 report\) older than 90 day\(s\)/);
    await cli(['schedule', 'delete', 'store-cleanup']);
  });
});
