/**
 * What the exactly-once tests share: ledger and transaction probes, a worker killed mid-run, the
 * checks of report, tryback and ledger after a faulty run, and a loopback proxy that cuts the
 * worker's database connections.
 */
import assert from 'node:assert/strict';
import * as fsp from 'node:fs/promises';
import * as net from 'node:net';
import * as path from 'node:path';
import type { RowDataPacket } from 'mysql2';
import { waitFor, type Sandbox, type WorkerProcess } from './sandbox';
import type { FileRunSummary, ToolRunSummary } from '../../workflows/shared';

/** Chunks of the file's run committed so far (its ledger rows). */
export async function chunksDone(sb: Sandbox, file: string): Promise<number> {
  const [[r]] = await sb.db.query<RowDataPacket[]>(
    'SELECT COUNT(*) AS n FROM msync_chunks c JOIN msync_runs r USING (runkey) WHERE r.file = ?', [file]);
  return Number(r.n);
}

/** Rows modified by an open transaction of the worker in the test database (0 when none). */
export async function openWrites(sb: Sandbox): Promise<number> {
  const [rows] = await sb.db.query<RowDataPacket[]>(
    `SELECT MAX(t.trx_rows_modified) AS n FROM information_schema.INNODB_TRX t
       JOIN information_schema.PROCESSLIST p ON p.ID = t.trx_mysql_thread_id WHERE p.DB = ?`, [sb.dbName]);
  return Number(rows[0].n ?? 0);
}

/** Per chunk of the run of `file`, the last earlier chunk it waits for (-1: none), as prepare planned it. */
export async function chunkAfters(sb: Sandbox, file: string): Promise<number[]> {
  const [[run]] = await sb.db.query<RowDataPacket[]>('SELECT plan FROM msync_runs WHERE file = ?', [file]);
  return (JSON.parse(run.plan).chunks as { after: number }[]).map((c) => c.after);
}

/** The most applyChunk activities the file workflow had open at once, from its history (workflow ids as in chunkRetries). */
export async function mostChunksAtOnce(sb: Sandbox, fileWorkflowId: string): Promise<number> {
  const history = await sb.temporal.client.workflow.getHandle(fileWorkflowId).fetchHistory();
  const open = new Set<string>();
  let most = 0;
  for (const e of history.events ?? []) {
    if (e.activityTaskScheduledEventAttributes?.activityType?.name === 'applyChunk') open.add(String(e.eventId));
    const closed = e.activityTaskCompletedEventAttributes ?? e.activityTaskFailedEventAttributes ?? e.activityTaskTimedOutEventAttributes;
    if (closed) open.delete(String(closed.scheduledEventId));
    most = Math.max(most, open.size);
  }
  return most;
}

/** applyChunk attempts beyond the first, from the file workflow's history. */
export async function chunkRetries(sb: Sandbox, workflowId: string, file: string): Promise<number> {
  const history = await sb.temporal.client.workflow.getHandle(`${workflowId}/${file}`).fetchHistory();
  const scheduled = new Map<string, string>();
  let retries = 0;
  for (const e of history.events ?? []) {
    const s = e.activityTaskScheduledEventAttributes;
    if (s) scheduled.set(String(e.eventId), s.activityType?.name ?? '');
    const started = e.activityTaskStartedEventAttributes;
    // History keeps one started event per activity, with the number of its last attempt.
    if (started && scheduled.get(String(started.scheduledEventId)) === 'applyChunk') retries += (started.attempt ?? 1) - 1;
  }
  return retries;
}

/**
 * Starts a run, SIGKILLs the worker while a chunk's transaction holds writes (MariaDB must roll
 * them back), checks nothing moves without a worker, restarts one and waits for the run's end.
 * `written` counts what the good rows made so far in Moodle; `total` what they make in all.
 */
export async function killWorkerMidRun(sb: Sandbox, o: { file: string; chunks: number; start: () => Promise<string>; written: () => Promise<number>; total: number }): Promise<{ summary: ToolRunSummary; diagnostic: string }> {
  let worker: WorkerProcess = await sb.startWorker();
  try {
    const workflowId = await o.start();
    await waitFor('some chunks to be applied', async () => (await chunksDone(sb, o.file)) >= Math.ceil(o.chunks / 10), 60_000, 10);
    // InnoDB refreshes INNODB_TRX only when it was not read for 100 ms: poll more slowly.
    const open = await waitFor('a chunk transaction with writes', () => openWrites(sb), 30_000, 120);
    await worker.kill();
    await new Promise((r) => setTimeout(r, 300)); // the server notices the lost connections
    const atKill = { chunks: await chunksDone(sb, o.file), written: await o.written() };
    assert.ok(open > 0);
    assert.ok(atKill.chunks >= Math.ceil(o.chunks / 10) && atKill.chunks < o.chunks - 3, `the kill landed mid-way (${atKill.chunks}/${o.chunks} chunks)`);
    assert.ok(atKill.written > 0 && atKill.written < o.total, `written at the kill: ${atKill.written}`);
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(await chunksDone(sb, o.file), atKill.chunks, 'nothing moves while no worker runs');

    worker = await sb.startWorker();
    const t0 = Date.now();
    const summary = await sb.temporal.client.workflow.getHandle<() => Promise<ToolRunSummary>>(workflowId).result();
    return { summary, diagnostic: `killed with ${open} uncommitted row writes, ${atKill.chunks}/${o.chunks} chunks committed; finished ${Date.now() - t0} ms after the restart` };
  } finally {
    await worker.stop();
  }
}

/**
 * The report has one line per row, each once, failures with their reason; the tryback is the
 * header then exactly the failing lines, byte for byte; the ledger holds every chunk once.
 * `bad`: line number (1 = header) -> what its reason says.
 */
export async function assertRunOutputs(sb: Sandbox, f: FileRunSummary, o: { file: string; content: string; bad: Map<number, RegExp>; rows: number; chunks: number; applied: RegExp }): Promise<void> {
  assert.ok(f.report, 'a report was written');
  const report = await fsp.readFile(path.join(sb.storeRoot, f.report!), 'utf8');
  const rowLines = report.split('\n').filter((l) => /^line \d+: /.test(l));
  assert.equal(rowLines.length, o.rows, 'one report line per row');
  const seen = new Set<number>();
  for (const l of rowLines) {
    const [, no, status, message] = /^line (\d+): (applied|failed|skipped): (.*)$/.exec(l)!;
    const line = Number(no);
    assert.ok(!seen.has(line), `line ${line} reported twice`);
    seen.add(line);
    const reason = o.bad.get(line);
    if (reason) {
      assert.equal(status, 'failed', l);
      assert.match(message, reason);
    } else {
      assert.equal(status, 'applied', l);
      assert.match(message, o.applied, l);
    }
  }
  assert.equal(seen.size, o.rows);
  assert.match(report, new RegExp(`${o.rows} row\\(s\\): ${o.rows - o.bad.size} applied, ${o.bad.size} failed, 0 skipped`));

  assert.ok(f.tryback, 'a tryback was written');
  const sourceLines = o.content.split('\n');
  const expected = [sourceLines[0], ...[...o.bad.keys()].sort((a, b) => a - b).map((n) => sourceLines[n - 1])].join('\n') + '\n';
  assert.equal(await fsp.readFile(path.join(sb.storeRoot, f.tryback!), 'utf8'), expected);

  const [[ledger]] = await sb.db.query<RowDataPacket[]>(
    'SELECT COUNT(*) AS n, SUM(applied) AS applied, SUM(failed) AS failed FROM msync_chunks c JOIN msync_runs r USING (runkey) WHERE r.file = ?', [o.file]);
  assert.deepEqual([Number(ledger.n), Number(ledger.applied), Number(ledger.failed)], [o.chunks, o.rows - o.bad.size, o.bad.size]);
}

/**
 * A loopback TCP proxy between the worker and MariaDB that can cut every connection, refuse new
 * ones for a while, or let one COMMIT through to the server and lose its answer on the way back.
 */
export class FaultyProxy {
  private readonly server = net.createServer((client) => this.accept(client));
  private readonly sockets = new Set<net.Socket>();
  private refuseUntil = 0;
  private loseNextCommitAnswer = false;
  private afterLostCommitRefuseMs = 0;
  connections = 0;
  refused = 0;
  lostCommitAnswers = 0;

  constructor(private readonly target: { host: string; port: number }) {}

  async listen(): Promise<number> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return (this.server.address() as net.AddressInfo).port;
  }

  /** Destroys every proxied connection; new ones are refused for `refuseMs`. */
  cut(refuseMs: number): number {
    this.refuseUntil = Date.now() + refuseMs;
    const n = this.sockets.size;
    for (const s of this.sockets) s.destroy();
    return n;
  }

  /** The next COMMIT reaches the server, but its connection is lost before the answer comes back. */
  loseNextCommit(thenRefuseMs: number): void {
    this.loseNextCommitAnswer = true;
    this.afterLostCommitRefuseMs = thenRefuseMs;
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise((r) => this.server.close(r));
  }

  private accept(client: net.Socket): void {
    if (Date.now() < this.refuseUntil) {
      this.refused++;
      client.destroy();
      return;
    }
    this.connections++;
    const upstream = net.connect(this.target.port, this.target.host);
    for (const s of [client, upstream]) {
      this.sockets.add(s);
      s.on('error', () => undefined);
      s.on('close', () => {
        this.sockets.delete(s);
        client.destroy();
        // Whatever the client sent last still reaches the server before the server side closes.
        setTimeout(() => upstream.destroy(), 200);
      });
    }
    upstream.on('data', (d) => { if (!client.destroyed) client.write(d); });
    client.on('data', (d: Buffer) => {
      if (upstream.destroyed) return;
      upstream.write(d);
      if (this.loseNextCommitAnswer && d.includes(COMMIT_PACKET)) {
        this.loseNextCommitAnswer = false;
        this.lostCommitAnswers++;
        this.refuseUntil = Date.now() + this.afterLostCommitRefuseMs;
        client.destroy();
      }
    });
  }
}

/** A COM_QUERY "COMMIT" packet: length 7, sequence 0, command 0x03. */
const COMMIT_PACKET = Buffer.concat([Buffer.from([7, 0, 0, 0, 3]), Buffer.from('COMMIT')]);
