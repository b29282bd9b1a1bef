/**
 * Exactly once, through the real path (CLI, worker processes, Temporal dev server, MariaDB): a
 * 20,000-row users file keeps exact totals, report and tryback when the worker is killed mid-run
 * (SIGKILL) and when every database connection is cut mid-run, one commit's answer included.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fsp from 'node:fs/promises';
import * as net from 'node:net';
import * as path from 'node:path';
import type { RowDataPacket } from 'mysql2';
import { findOperation } from '../activities/tools';
import { openSandbox, waitFor, type Sandbox, type WorkerProcess } from './support/sandbox';
import type { ToolRunSummary } from '../workflows/shared';

const ROWS = 20_000;
const CHUNK = findOperation('users', 'add').chunkSize!; // the users add operation's chunk size
const CHUNKS = ROWS / CHUNK;
const HEADER = 'username;firstname;lastname;email;idnumber';

interface BigFile {
  name: string;
  prefix: string;
  content: string;
  /** Line numbers (1 = header) of the rows that must fail, with what the reason says. */
  bad: Map<number, RegExp>;
  /** Usernames the good rows create. */
  good: string[];
}

/**
 * ROWS data rows; a handful fail, spread through the file: an invalid e-mail, too few values, a
 * username already taken by an earlier row (another chunk, and the same chunk) with another
 * idnumber (users_primaryidentity is idnumber), an empty first name, a username Moodle refuses.
 */
function bigUsersFile(prefix: string): BigFile {
  const lines = [HEADER];
  const bad = new Map<number, RegExp>();
  const good: string[] = [];
  const user = (i: number) => `${prefix}${i}`;
  const faults: Record<number, [string, RegExp]> = {
    137: [`${user(137)};Ann;Bad;not-an-email;${prefix}-id-137`, /column email: "not-an-email" is not accepted/],
    2_345: [`${user(2_345)};Bob;Short`, /line \d+: 3 values for 5 columns/],
    5_001: [`${user(10)};Dup;Earlier;dup@example.com;${prefix}-id-5001`, new RegExp(`username ${user(10)} is already used by another account \\(id \\d+\\)`)],
    9_999: [`${user(4)};Dup;Again;dup2@example.com;${prefix}-id-9999`, new RegExp(`username ${user(4)} is already used`)],
    12_502: [`${user(12_501)};Dup;Same chunk;dup3@example.com;${prefix}-id-12502`, new RegExp(`username ${user(12_501)} is already used by another account \\(created earlier in this file\\)`)],
    15_000: [`${user(15_000)};;Noname;n@example.com;${prefix}-id-15000`, /column firstname is empty/],
    19_998: [`Bad User ${prefix};Cee;Dee;cd@example.com;${prefix}-id-19998`, /column username: "bad user .*" is not accepted/],
  };
  for (let i = 1; i <= ROWS; i++) {
    const fault = faults[i];
    if (fault) {
      lines.push(fault[0]);
      bad.set(i + 1, fault[1]);
    } else {
      lines.push(`${user(i)};First${i};Last ${i};${user(i)}@example.com;${prefix}-id-${i}`);
      good.push(user(i));
    }
  }
  return { name: `${prefix}-big.csv`, prefix, content: `${lines.join('\n')}\n`, bad, good };
}

/** Everything the run must have produced, exactly once. */
async function assertExactlyOnce(sb: Sandbox, file: BigFile, summary: ToolRunSummary): Promise<void> {
  assert.equal(summary.status, 'completed');
  const f = summary.files[0];
  assert.equal(f.outcome, 'completed-with-failures');
  assert.deepEqual(f.rows, { total: ROWS, applied: ROWS - file.bad.size, failed: file.bad.size, skipped: 0 });

  const like = `${file.prefix}%`;
  const [[counts]] = await sb.db.query<RowDataPacket[]>(
    'SELECT COUNT(*) AS n, COUNT(DISTINCT username) AS names, COUNT(DISTINCT idnumber) AS ids FROM mdl_user WHERE username LIKE ?', [like]);
  assert.equal(Number(counts.n), file.good.length, 'one account per good row');
  assert.equal(Number(counts.names), file.good.length);
  assert.equal(Number(counts.ids), file.good.length);
  // Each account is the one its row describes (no failing row changed one).
  const [wrong] = await sb.db.query<RowDataPacket[]>(
    `SELECT username FROM mdl_user WHERE username LIKE ? AND (idnumber <> CONCAT(?, '-id-', SUBSTRING(username, ?))
       OR email <> CONCAT(username, '@example.com') OR firstname <> CONCAT('First', SUBSTRING(username, ?)))`,
    [like, file.prefix, file.prefix.length + 1, file.prefix.length + 1]);
  assert.deepEqual(wrong, []);
  const [[missing]] = await sb.db.query<RowDataPacket[]>('SELECT COUNT(*) AS n FROM mdl_user WHERE username IN (?)', [file.good]);
  assert.equal(Number(missing.n), file.good.length, 'every good row has its account');
  // One user context each, correct path and depth; none left over for an account that is not there.
  const [contexts] = await sb.db.query<RowDataPacket[]>(
    `SELECT u.id, COUNT(c.id) AS n, MIN(c.id) AS contextid, MIN(c.path) AS path, MIN(c.depth) AS depth FROM mdl_user u
       LEFT JOIN mdl_context c ON c.contextlevel = 30 AND c.instanceid = u.id
      WHERE u.username LIKE ? GROUP BY u.id HAVING n <> 1 OR path <> CONCAT('/1/', contextid) OR depth <> 2`, [like]);
  assert.deepEqual(contexts, [], 'exactly one user context per account');
  const [[orphans]] = await sb.db.query<RowDataPacket[]>(
    'SELECT COUNT(*) AS n FROM mdl_context c LEFT JOIN mdl_user u ON u.id = c.instanceid WHERE c.contextlevel = 30 AND u.id IS NULL');
  assert.equal(Number(orphans.n), 0, 'no user context without its account');

  // The report: one line per row, each row once, the failures where they belong, with their reason.
  assert.ok(f.report, 'a report was written');
  const report = await fsp.readFile(path.join(sb.storeRoot, f.report!), 'utf8');
  const rowLines = report.split('\n').filter((l) => /^line \d+: /.test(l));
  assert.equal(rowLines.length, ROWS, 'one report line per row');
  const seen = new Set<number>();
  for (const l of rowLines) {
    const [, no, status, message] = /^line (\d+): (applied|failed|skipped): (.*)$/.exec(l)!;
    const line = Number(no);
    assert.ok(!seen.has(line), `line ${line} reported twice`);
    seen.add(line);
    const reason = file.bad.get(line);
    if (reason) {
      assert.equal(status, 'failed', l);
      assert.match(message, reason);
    } else {
      assert.equal(status, 'applied', l);
      assert.match(message, /^user \S+ \(id \d+\) created$/, l);
    }
  }
  assert.equal(seen.size, ROWS);
  assert.match(report, new RegExp(`${ROWS} row\\(s\\): ${ROWS - file.bad.size} applied, ${file.bad.size} failed, 0 skipped`));

  // The tryback: the header, then exactly the failing lines, byte for byte.
  assert.ok(f.tryback, 'a tryback was written');
  const sourceLines = file.content.split('\n');
  const expected = [HEADER, ...[...file.bad.keys()].sort((a, b) => a - b).map((n) => sourceLines[n - 1])].join('\n') + '\n';
  assert.equal(await fsp.readFile(path.join(sb.storeRoot, f.tryback!), 'utf8'), expected);

  // The ledger holds every chunk once, and no other.
  const [[ledger]] = await sb.db.query<RowDataPacket[]>(
    'SELECT COUNT(*) AS n, SUM(applied) AS applied, SUM(failed) AS failed FROM msync_chunks c JOIN msync_runs r USING (runkey) WHERE r.file = ?', [file.name]);
  assert.deepEqual([Number(ledger.n), Number(ledger.applied), Number(ledger.failed)], [CHUNKS, ROWS - file.bad.size, file.bad.size]);
}

/**
 * A loopback TCP proxy between the worker and MariaDB that can cut every connection, refuse new
 * ones for a while, or let one COMMIT through to the server and lose its answer on the way back.
 */
class FaultyProxy {
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

describe('exactly once on a 20,000-row users file', () => {
  let sb: Sandbox;

  before(async () => {
    sb = await openSandbox('exactly_once');
    for (const [k, v] of [['storereport', '1'], ['filefailed', '1'], ['users_primaryidentity', 'idnumber']]) {
      const r = await sb.cli(['config', 'set', k, v]);
      assert.equal(r.code, 0, r.stderr);
    }
  });
  after(async () => sb?.close());

  const putFile = async (file: BigFile) => {
    await fsp.mkdir(sb.storeRoot, { recursive: true });
    await fsp.writeFile(path.join(sb.storeRoot, file.name), file.content);
  };
  const startRun = async (file: BigFile): Promise<string> => {
    const r = await sb.cli(['run', 'users', '--file', file.name, '--json']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.json.status, 'started');
    return r.json.workflowId;
  };
  const chunksDone = async (file: BigFile): Promise<number> => {
    const [[r]] = await sb.db.query<RowDataPacket[]>(
      'SELECT COUNT(*) AS n FROM msync_chunks c JOIN msync_runs r USING (runkey) WHERE r.file = ?', [file.name]);
    return Number(r.n);
  };
  const usersPresent = async (file: BigFile): Promise<number> => {
    const [[r]] = await sb.db.query<RowDataPacket[]>('SELECT COUNT(*) AS n FROM mdl_user WHERE username LIKE ?', [`${file.prefix}%`]);
    return Number(r.n);
  };
  /** Rows modified by an open transaction of the worker in the test database (0 when none). */
  const openWrites = async (): Promise<number> => {
    const [rows] = await sb.db.query<RowDataPacket[]>(
      `SELECT MAX(t.trx_rows_modified) AS n FROM information_schema.INNODB_TRX t
         JOIN information_schema.PROCESSLIST p ON p.ID = t.trx_mysql_thread_id WHERE p.DB = ?`, [sb.dbName]);
    return Number(rows[0].n ?? 0);
  };
  /** applyChunk attempts beyond the first, from the file workflow's history. */
  const chunkRetries = async (workflowId: string, file: BigFile): Promise<number> => {
    const history = await sb.temporal.client.workflow.getHandle(`${workflowId}/${file.name}`).fetchHistory();
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
  };

  it('keeps exact totals, report and tryback when the worker is killed mid-run', async (t) => {
    const file = bigUsersFile('eoa');
    await putFile(file);
    let worker: WorkerProcess = await sb.startWorker();
    try {
      const workflowId = await startRun(file);
      await waitFor('some chunks to be applied', async () => (await chunksDone(file)) >= Math.ceil(CHUNKS / 10), 60_000, 10);
      // Kill while a chunk's transaction is open with writes in it: MariaDB must roll them back.
      // (InnoDB refreshes INNODB_TRX only when it was not read for 100 ms: poll more slowly.)
      const open = await waitFor('a chunk transaction with writes', openWrites, 30_000, 120);
      await worker.kill();
      await new Promise((r) => setTimeout(r, 300)); // the server notices the lost connections
      const atKill = { chunks: await chunksDone(file), users: await usersPresent(file) };
      assert.ok(open > 0);
      assert.ok(atKill.chunks >= Math.ceil(CHUNKS / 10) && atKill.chunks < CHUNKS - 3, `the kill landed mid-way (${atKill.chunks}/${CHUNKS} chunks)`);
      assert.ok(atKill.users > 0 && atKill.users < file.good.length, `users at the kill: ${atKill.users}`);
      // Nothing moves while no worker runs.
      await new Promise((r) => setTimeout(r, 500));
      assert.equal(await chunksDone(file), atKill.chunks);

      worker = await sb.startWorker();
      const t0 = Date.now();
      const summary = await sb.temporal.client.workflow.getHandle<() => Promise<ToolRunSummary>>(workflowId).result();
      t.diagnostic(`killed with ${open} uncommitted row writes, ${atKill.chunks}/${CHUNKS} chunks committed; finished ${Date.now() - t0} ms after the restart`);
      await assertExactlyOnce(sb, file, summary);
    } finally {
      await worker.stop();
    }
  });

  it('keeps exact totals, report and tryback when the database connections are cut mid-run', async (t) => {
    const file = bigUsersFile('eob');
    await putFile(file);
    const direct = new URL(sb.env.MOODLE_DB_URL!);
    const proxy = new FaultyProxy({ host: direct.hostname, port: Number(direct.port || 3306) });
    const viaProxy = new URL(direct.toString());
    viaProxy.port = String(await proxy.listen());
    const worker = await sb.startWorker({ MOODLE_DB_URL: viaProxy.toString() });
    try {
      const workflowId = await startRun(file);
      // 1. A COMMIT that reaches the server whose answer is lost; the database is then unreachable
      //    for a second, so the retry finds the chunk through its ledger row.
      await waitFor('some chunks to be applied', async () => (await chunksDone(file)) >= Math.ceil(CHUNKS / 10), 60_000, 10);
      proxy.loseNextCommit(1000);
      await waitFor('a lost commit answer', () => proxy.lostCommitAnswers === 1, 30_000, 5);
      // 2. Every connection cut while a chunk's transaction holds writes, none accepted for two seconds.
      await waitFor('more chunks to be applied', async () => (await chunksDone(file)) >= Math.ceil(CHUNKS * 0.35), 60_000, 10);
      const open = await waitFor('a chunk transaction with writes', openWrites, 30_000, 120);
      const cutSockets = proxy.cut(2000);
      const atCut = await chunksDone(file);
      assert.ok(open > 0 && atCut < CHUNKS - 3, `the cut landed mid-way (${atCut}/${CHUNKS} chunks)`);
      assert.ok(cutSockets > 0, 'there were connections to cut');

      const summary = await sb.temporal.client.workflow.getHandle<() => Promise<ToolRunSummary>>(workflowId).result();
      const retries = await chunkRetries(workflowId, file);
      t.diagnostic(`lost commit answers: ${proxy.lostCommitAnswers}; cut ${cutSockets} sockets (${open} uncommitted row writes) at ${atCut}/${CHUNKS} chunks; applyChunk retries: ${retries}; connections: ${proxy.connections}, refused: ${proxy.refused}`);
      await assertExactlyOnce(sb, file, summary);
      assert.ok(retries >= 2, 'the faults made chunks retry');
      assert.ok(proxy.connections >= 3 && proxy.refused >= 2, 'the worker reconnected after each fault');
    } finally {
      await worker.stop();
      await proxy.close();
    }
  });
});
