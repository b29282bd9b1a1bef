/**
 * Exactly once, through the real path (CLI, worker processes, Temporal dev server, MariaDB): a
 * 20,000-row users file keeps exact totals, report and tryback when the worker is killed mid-run
 * (SIGKILL) and when every database connection is cut mid-run, one commit's answer included.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import type { RowDataPacket } from 'mysql2';
import { findOperation } from '../activities/tools';
import { configure, openSandbox, waitFor, type Sandbox } from './support/sandbox';
import { FaultyProxy, assertRunOutputs, chunkAfters, chunkRetries, chunksDone, killWorkerMidRun, mostChunksAtOnce, openWrites } from './support/exactlyOnce';
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

  await assertRunOutputs(sb, f, { file: file.name, content: file.content, bad: file.bad, rows: ROWS, chunks: CHUNKS, applied: /^user \S+ \(id \d+\) created$/ });
}

describe('exactly once on a 20,000-row users file', () => {
  let sb: Sandbox;

  before(async () => {
    sb = await openSandbox('exactly_once');
    await configure(sb, { storereport: '1', filefailed: '1', users_primaryidentity: 'idnumber' });
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
  it('keeps exact totals, report and tryback when the worker is killed mid-run', async (t) => {
    const file = bigUsersFile('eoa');
    await putFile(file);
    let workflowId = '';
    const { summary, diagnostic } = await killWorkerMidRun(sb, {
      file: file.name, chunks: CHUNKS, start: async () => (workflowId = await startRun(file)),
      written: async () => {
        const [[r]] = await sb.db.query<RowDataPacket[]>('SELECT COUNT(*) AS n FROM mdl_user WHERE username LIKE ?', [`${file.prefix}%`]);
        return Number(r.n);
      },
      total: file.good.length,
    });
    t.diagnostic(diagnostic);
    await assertExactlyOnce(sb, file, summary);
    // Chunks ran two at a time; the two that reuse a username of the first chunk waited for it.
    const after = await chunkAfters(sb, file.name);
    assert.deepEqual(after, Array.from({ length: CHUNKS }, (_, i) => (i === 5 || i === 9 ? 0 : -1)));
    assert.equal(await mostChunksAtOnce(sb, `${workflowId}/${file.name}`), 2);
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
      await waitFor('some chunks to be applied', async () => (await chunksDone(sb, file.name)) >= Math.ceil(CHUNKS / 10), 60_000, 10);
      proxy.loseNextCommit(1000);
      await waitFor('a lost commit answer', () => proxy.lostCommitAnswers === 1, 30_000, 5);
      // 2. Every connection cut while a chunk's transaction holds writes, none accepted for two seconds.
      await waitFor('more chunks to be applied', async () => (await chunksDone(sb, file.name)) >= Math.ceil(CHUNKS * 0.35), 60_000, 10);
      const open = await waitFor('a chunk transaction with writes', () => openWrites(sb), 30_000, 120);
      const cutSockets = proxy.cut(2000);
      const atCut = await chunksDone(sb, file.name);
      assert.ok(open > 0 && atCut < CHUNKS - 3, `the cut landed mid-way (${atCut}/${CHUNKS} chunks)`);
      assert.ok(cutSockets > 0, 'there were connections to cut');

      const summary = await sb.temporal.client.workflow.getHandle<() => Promise<ToolRunSummary>>(workflowId).result();
      const retries = await chunkRetries(sb, workflowId, file.name);
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
