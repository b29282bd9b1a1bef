/**
 * The operator's commands through the real path (CLI, worker, Temporal dev server, MariaDB):
 * schedules (set, list, pause, resume, trigger, delete, defaults), runs from visibility, reports.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { openSandbox, waitFor, type Sandbox } from './support/sandbox';

describe('operator commands', () => {
  let sb: Sandbox;
  const cli = async (args: string[], code = 0) => {
    const r = await sb.cli(args);
    assert.equal(r.code, code, `moodle-sync ${args.join(' ')}: exit ${r.code}\n${r.stdout}${r.stderr}`);
    return r;
  };
  const schedules = async () => (await cli(['schedule', 'list', '--json'])).json as { id: string; workflowType?: string; paused: boolean; nextRuns: string[] }[];

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
    assert.match(badTool.stderr, /Unknown tool "nosuchtool"\. Tools: users/);
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
    assert.match((await cli(['schedule', 'list'])).stdout, /tool-users-add\s+runTool\s+calendar\s+active/);

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
    assert.deepEqual(first.json, [
      { id: 'tool-users-add', cron: '0 */6 * * *', status: 'created (paused)' },
      { id: 'tool-enrols-sync', cron: '30 */6 * * *', status: 'exists (left as it is)' },
    ]);
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
});
