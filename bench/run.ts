/**
 * npm run bench: the users tool end to end, through the real path the tests use (a Temporal dev
 * server through @temporalio/testing with existing-path, a fresh Moodle database copied from the
 * fixture template, the moodle-sync worker as a child process, the CLI), on generated files:
 * 10,000 and 100,000 users without passwords, 5,000 with passwords; 50,000 enrolments.
 *
 * For each file: rows per second (rows / wall time of `moodle-sync run users --file ... --wait
 * --json`), the worker's peak memory (VmHWM, reset before each run through clear_refs, and VmRSS
 * polled every 100 ms), and where the time went, from the file workflow's history.
 *
 *   npm run bench                 every case
 *   npm run bench -- 10k enrols   some cases (10k, 100k, 5k-pw, enrols, ...)
 *   npm run bench -- --report     with storereport on (a report of every row is written)
 *   BENCH_WORKER_ENV="MALLOC_ARENA_MAX=2" npm run bench    extra environment for the worker
 */
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import type { RowDataPacket } from 'mysql2';
import { openSandbox, type Sandbox, type WorkerProcess } from '../test/support/sandbox';
import { passwordHasher } from '../activities/moodle/password';
import { writeLines, type Case } from './case';
import { enrolsCase } from './enrols';
import { coursesCase } from './courses';
import { picturesCase } from './pictures';

const usersCase = (key: string, label: string, rows: number, passwords: boolean, target: number, memTarget?: number): Case => {
  const prefix = `bench${key.replace(/\W/g, '')}u`;
  return {
    key, label, rows, target, memTarget,
    write: (abs) => writeUsersFile(abs, prefix, rows, passwords),
    async verify(sb, r) {
      const [[count]] = await sb.db.query<RowDataPacket[]>('SELECT COUNT(*) AS n FROM mdl_user WHERE username LIKE ?', [`${prefix}%`]);
      if (r.total !== rows || r.applied !== rows || Number(count.n) !== rows) {
        throw new Error(`${key}: expected ${rows} users created, got ${JSON.stringify(r)} and ${count.n} accounts`);
      }
    },
  };
};

const CASES: Case[] = [
  usersCase('10k', '10,000 users, no passwords', 10_000, false, 3000),
  usersCase('100k', '100,000 users, no passwords', 100_000, false, 3000, 300),
  usersCase('5k-pw', '5,000 users with passwords', 5_000, true, 250),
  enrolsCase(),
  coursesCase(),
  picturesCase(),
];

interface Phases {
  /** The CLI process outside the runTool workflow (node start, Temporal connection, result). */
  cliMs: number;
  /** runTool before the file workflow: reintegration and input resolution. */
  beforeFileMs: number;
  prepareMs: number;
  applyMs: number;
  chunkWorkMs: number;
  chunks: number;
  finalizeMs: number;
}

interface Result {
  c: Case;
  wallMs: number;
  rowsPerSec: number;
  applied: number;
  failed: number;
  peakRssMb: number;
  hwmMb: number | null;
  phases?: Phases;
}

/** A users file of `rows` new accounts (prefix keeps every case's accounts apart). */
const writeUsersFile = (abs: string, prefix: string, rows: number, passwords: boolean): Promise<void> =>
  writeLines(abs, `username;firstname;lastname;email;idnumber${passwords ? ';password' : ''}`, rows,
    (i) => `${prefix}${i};First${i};Last ${i};${prefix}${i}@bench.example.com;${prefix}-${i}${passwords ? `;Pw-${prefix}-${i}!x` : ''}`);

const status = (pid: number): Record<string, string> => {
  const text = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  return Object.fromEntries(text.split('\n').filter(Boolean).map((l) => { const i = l.indexOf(':'); return [l.slice(0, i), l.slice(i + 1).trim()]; }));
};
const kb = (v: string | undefined) => (v ? Number(v.replace(/\s*kB$/, '')) : 0);

/** Samples the worker's RSS every 100 ms until stopped; the peak, from the samples and VmHWM. */
function memorySampler(pid: number) {
  // Writing 5 to clear_refs resets the peak RSS (VmHWM) of the process (Linux 4.0+).
  let hwmReset = false;
  try { fs.writeFileSync(`/proc/${pid}/clear_refs`, '5'); hwmReset = true; } catch { /* not allowed here */ }
  let peakKb = kb(status(pid).VmRSS);
  const timer = setInterval(() => {
    try { peakKb = Math.max(peakKb, kb(status(pid).VmRSS)); } catch { /* exited */ }
  }, 100);
  return {
    stop(): { peakRssMb: number; hwmMb: number | null } {
      clearInterval(timer);
      const s = status(pid);
      peakKb = Math.max(peakKb, kb(s.VmRSS));
      const hwm = hwmReset ? kb(s.VmHWM) : null;
      return { peakRssMb: Math.max(peakKb, hwm ?? 0) / 1024, hwmMb: hwm === null ? null : hwm / 1024 };
    },
  };
}

const ms = (t: { seconds?: unknown; nanos?: number | null } | null | undefined) => (t ? Number(t.seconds) * 1000 + (t.nanos ?? 0) / 1e6 : 0);

/** Where the run spent its time: outside the workflow, before the file, prepare, chunks, finalize. */
async function phases(sb: Sandbox, workflowId: string, fileWorkflowId: string, wallMs: number): Promise<Phases | undefined> {
  try {
    const parent = (await sb.temporal.client.workflow.getHandle(workflowId).fetchHistory()).events ?? [];
    const parentStart = ms(parent[0]?.eventTime as never);
    const parentMs = ms(parent[parent.length - 1]?.eventTime as never) - parentStart;
    const childStarted = parent.find((e) => e.childWorkflowExecutionStartedEventAttributes);
    const history = await sb.temporal.client.workflow.getHandle(fileWorkflowId).fetchHistory();
    const events = history.events ?? [];
    const scheduled = new Map<string, { type: string; at: number }>();
    const started = new Map<string, number>();
    const spans: { type: string; scheduledAt: number; startedAt: number; endAt: number }[] = [];
    for (const e of events) {
      const at = ms(e.eventTime as never);
      if (e.activityTaskScheduledEventAttributes) scheduled.set(String(e.eventId), { type: e.activityTaskScheduledEventAttributes.activityType?.name ?? '', at });
      if (e.activityTaskStartedEventAttributes) started.set(String(e.activityTaskStartedEventAttributes.scheduledEventId), at);
      const done = e.activityTaskCompletedEventAttributes;
      if (done) {
        const s = scheduled.get(String(done.scheduledEventId));
        if (s) spans.push({ type: s.type, scheduledAt: s.at, startedAt: started.get(String(done.scheduledEventId)) ?? s.at, endAt: at });
      }
    }
    const of = (type: string) => spans.filter((s) => s.type === type);
    const chunks = of('applyChunk');
    const total = (xs: typeof spans) => xs.reduce((sum, s) => sum + (s.endAt - s.startedAt), 0);
    return {
      cliMs: wallMs - parentMs,
      beforeFileMs: childStarted ? ms(childStarted.eventTime as never) - parentStart : 0,
      prepareMs: total(of('prepareFile')),
      applyMs: chunks.length ? chunks[chunks.length - 1].endAt - chunks[0].scheduledAt : 0,
      chunkWorkMs: total(chunks),
      chunks: chunks.length,
      finalizeMs: total(of('finalizeFile')),
    };
  } catch {
    return undefined;
  }
}

async function runCase(sb: Sandbox, worker: WorkerProcess, c: Case): Promise<Result> {
  const name = `bench-${c.key}.${c.ext ?? 'csv'}`;
  await c.setup?.(sb);
  await c.write(path.join(sb.storeRoot, name));
  const sampler = memorySampler(worker.proc.pid!);
  const t0 = performance.now();
  const r = await sb.cli(['run', c.tool ?? 'users', ...(c.op ? ['--op', c.op] : []), '--file', name, '--wait', '--json']);
  const wallMs = performance.now() - t0;
  const mem = sampler.stop();
  if (r.code !== 0 || !r.json) throw new Error(`run of ${name} failed (${r.code}): ${r.stderr || r.stdout}`);
  const rows = r.json.rows as { total: number; applied: number; failed: number };
  await c.verify(sb, rows);
  return {
    c, wallMs, rowsPerSec: c.rows / (wallMs / 1000), applied: rows.applied, failed: rows.failed, ...mem,
    phases: await phases(sb, r.json.workflowId, `${r.json.workflowId}/${name}`, wallMs),
  };
}

function printTable(results: Result[]): void {
  const head = ['case', 'rows', 'wall s', 'rows/s', 'target', 'peak RSS MB', 'CLI s', 'reint. s', 'prepare s', 'chunks s (work)', 'finalize s'];
  const body = results.map((x) => [
    x.c.label,
    x.c.rows.toLocaleString('en'),
    (x.wallMs / 1000).toFixed(2),
    x.rowsPerSec.toFixed(0),
    `${x.c.target} ${x.rowsPerSec >= x.c.target ? 'ok' : 'MISSED'}`,
    `${x.peakRssMb.toFixed(0)}${x.c.memTarget ? ` (< ${x.c.memTarget} ${x.peakRssMb < x.c.memTarget ? 'ok' : 'MISSED'})` : ''}`,
    x.phases ? (x.phases.cliMs / 1000).toFixed(2) : '-',
    x.phases ? (x.phases.beforeFileMs / 1000).toFixed(2) : '-',
    x.phases ? (x.phases.prepareMs / 1000).toFixed(2) : '-',
    x.phases ? `${(x.phases.applyMs / 1000).toFixed(2)} (${(x.phases.chunkWorkMs / 1000).toFixed(2)} in ${x.phases.chunks})` : '-',
    x.phases ? (x.phases.finalizeMs / 1000).toFixed(2) : '-',
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((r) => r[i].length)));
  const line = (cells: string[]) => cells.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]) : cell.padStart(widths[i]))).join('  ');
  console.log(`\n${line(head)}\n${widths.map((w) => '-'.repeat(w)).join('  ')}\n${body.map(line).join('\n')}`);
  console.log('\nrows/s = rows / wall time of `moodle-sync run <tool> --file <f> --wait --json` (CLI start, reintegration, prepare, chunks, finalize);');
  console.log('CLI s = wall time outside the runTool workflow (node start, Temporal connection, result); reint. s = runTool before the file workflow (reintegration, inputs);');
  console.log('chunks s = first applyChunk scheduled to last completed; (work) = time inside applyChunk attempts; the rest is scheduling between chunks.');
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const report = args.includes('--report');
  const wanted = args.filter((a) => !a.startsWith('--'));
  const cases = wanted.length ? CASES.filter((c) => wanted.includes(c.key)) : CASES;
  if (!cases.length) throw new Error(`unknown case; cases: ${CASES.map((c) => c.key).join(', ')}`);

  console.log(`moodle-sync bench: ${require('node:os').cpus().length} cores, node ${process.version}, password hashing: ${passwordHasher}, storereport ${report ? 'on' : 'off'}, CLI and worker run ${process.env.MOODLE_SYNC_DIST === '1' ? 'the compiled dist/' : 'through tsx'}`);
  const sb = await openSandbox('bench', { taskQueue: 'msync-bench' });
  let worker: WorkerProcess | undefined;
  const cleanup = async () => { await sb.close().catch((e) => console.error('cleanup:', e)); };
  process.once('SIGINT', () => { void cleanup().then(() => process.exit(130)); });
  try {
    if (report) {
      const r = await sb.cli(['config', 'set', 'storereport', '1']);
      if (r.code !== 0) throw new Error(r.stderr);
    }
    // BENCH_WORKER_ENV="A=1 B=2": extra environment for the worker (e.g. MALLOC_ARENA_MAX, NODE_OPTIONS).
    const workerEnv = Object.fromEntries((process.env.BENCH_WORKER_ENV ?? '').split(/\s+(?=[A-Z_]+=)/).filter(Boolean).map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));
    if (Object.keys(workerEnv).length) console.log('worker environment:', workerEnv);
    worker = await sb.startWorker(workerEnv);
    await fsp.mkdir(sb.storeRoot, { recursive: true });
    console.log(`worker pid ${worker.proc.pid}, RSS at start ${(kb(status(worker.proc.pid!).VmRSS) / 1024).toFixed(0)} MB; database ${sb.dbName}`);
    // Warm-up (not measured): the first run pays for connections, workflow caches and JIT.
    await runCase(sb, worker, usersCase('warmup', 'warm-up', 1000, false, 0));
    const results: Result[] = [];
    for (const c of cases) {
      process.stdout.write(`running ${c.label} ... `);
      const r = await runCase(sb, worker, c);
      console.log(`${(r.wallMs / 1000).toFixed(2)} s, ${r.rowsPerSec.toFixed(0)} rows/s, peak worker RSS ${r.peakRssMb.toFixed(0)} MB`);
      results.push(r);
    }
    printTable(results);
    const missed = results.filter((r) => r.rowsPerSec < r.c.target || (r.c.memTarget !== undefined && r.peakRssMb >= r.c.memTarget));
    if (missed.length) console.log(`\ntargets missed: ${missed.map((r) => r.c.label).join('; ')}`);
  } finally {
    await cleanup();
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
