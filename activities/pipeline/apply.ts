import type { PoolConnection, RowDataPacket } from 'mysql2/promise';
import { log } from '@temporalio/activity';
import { heartbeat } from '../heartbeat';
import type { MoodleDb } from '../moodle/db';
import type { FileStore } from '../store';
import { loadSettingsMap } from '../settings/store';
import { findOperation } from '../tools';
import type { ChunkContext, DataRow, RowOutcome, ToolOperation } from '../tools/types';
import { readRecords } from './records';
import { readZipChunk, type ReadUnit } from './zipInput';
import { csvFormat } from './prepare';
import { readRun, type LedgerOutcome, type RunRow } from './ledger';
import type { ChunkCounts } from '../../workflows/shared';
import type { Mailer } from '../mail';
import { siteIdentity } from '../moodle/site';

export interface ApplyDeps {
  db: MoodleDb;
  store: FileStore;
  mailer?: Mailer;
  /** Moodle's data directory, for tools that write files (user pictures). */
  moodledata: string;
}

/** A readable reason for a database error on one row (never the whole SQL). */
export function describeRowError(e: unknown): string {
  const err = e as { code?: string; sqlMessage?: string; message?: string };
  if (err.code === 'ER_DATA_TOO_LONG') return `a value is too long: ${err.sqlMessage}`;
  if (err.code === 'ER_DUP_ENTRY') return `it would duplicate an existing record (${err.sqlMessage})`;
  if (err.code === 'ER_TRUNCATED_WRONG_VALUE_FOR_FIELD' || err.code === 'ER_WARN_DATA_OUT_OF_RANGE') return `a value does not fit its column: ${err.sqlMessage}`;
  return err.sqlMessage ?? err.message ?? String(e);
}

/** Reads the rows of chunk `chunkNo` (CSV records or archive entries) from the run's snapshot. */
async function readChunk(store: FileStore, run: RunRow, chunkNo: number, settings: Record<string, string>): Promise<ReadUnit[]> {
  const plan = run.plan.chunks[chunkNo];
  if (!plan) throw new Error(`run ${run.runkey} has no chunk ${chunkNo}`);
  const rows: ReadUnit[] = [];
  const abs = await store.requireFile(run.snapshot!);
  if (findOperation(run.tool, run.op).input === 'zip') return readZipChunk(abs, plan);
  const header = run.plan.header;
  for await (const rec of readRecords(abs, csvFormat(settings), { offset: plan.offset, line: plan.line })) {
    if (rec.comment) continue;
    const values: Record<string, string> = {};
    let error = rec.error ? `line ${rec.line}: ${rec.error}` : undefined;
    if (!error && rec.fields) {
      // A header-less list's line holds its value and may leave the optional columns after it out.
      const fits = run.plan.headerRange === null ? rec.fields.length <= header.length : rec.fields.length === header.length;
      if (!fits) {
        error = `line ${rec.line}: ${rec.fields.length} value${rec.fields.length === 1 ? '' : 's'} for ${header.length} column${header.length === 1 ? '' : 's'}`;
      }
      header.forEach((h, i) => { values[h] = rec.fields![i] ?? ''; });
    }
    rows.push({ row: { line: rec.line, values }, start: rec.start, end: rec.end, error });
    if (rows.length === plan.rows) break;
  }
  return rows;
}

/** What a savepoint must take back besides the database writes: the after-commit work queued since. */
function undoMark(pending: unknown[]): () => void {
  const tasks = pending.length;
  return () => { pending.length = tasks; };
}

/**
 * Applies rows inside the caller's transaction: the whole batch at once (fast path), and if the
 * batch fails, row by row, each under its own savepoint, so one bad row is rolled back alone.
 */
async function applyRows(operation: ToolOperation, ctx: ChunkContext, rows: DataRow[], pending: unknown[]): Promise<RowOutcome[]> {
  const { conn } = ctx;
  if (rows.length === 0) return [];
  // Work queued for after the commit belongs to the writes it follows: rolled back with them.
  const undoBatch = undoMark(pending);
  await conn.query('SAVEPOINT msync_batch');
  try {
    const outcomes = await operation.apply(ctx, rows);
    if (outcomes.length !== rows.length) throw new Error(`tool ${operation.tool} returned ${outcomes.length} outcomes for ${rows.length} rows`);
    return outcomes;
  } catch (batchError) {
    await conn.query('ROLLBACK TO SAVEPOINT msync_batch');
    undoBatch();
    if (rows.length === 1) return [{ status: 'failed', message: describeRowError(batchError) }];
    const outcomes: RowOutcome[] = [];
    for (const row of rows) {
      await conn.query('SAVEPOINT msync_row');
      const undoRow = undoMark(pending);
      try {
        outcomes.push((await operation.apply(ctx, [row]))[0]);
      } catch (e) {
        await conn.query('ROLLBACK TO SAVEPOINT msync_row');
        undoRow();
        outcomes.push({ status: 'failed', message: describeRowError(e) });
      }
    }
    return outcomes;
  }
}

/** Runs one chunk's rows in `conn` (already in a transaction) and returns the ledger outcomes. */
async function runChunk(deps: ApplyDeps, conn: PoolConnection, run: RunRow, chunkNo: number, settings: Record<string, string>, pending: (() => Promise<void>)[]): Promise<LedgerOutcome[]> {
  const afterCommit = (task: () => Promise<void>) => { pending.push(task); };
  let sender: Promise<string> | undefined; // read once per chunk, when the first mail needs it
  const operation = findOperation(run.tool, run.op);
  const read = await readChunk(deps.store, run, chunkNo, settings);
  const ctx: ChunkContext = {
    conn, db: deps.db, settings, now: Math.floor(Date.now() / 1000), simulate: run.simulate, header: run.plan.header, moodledata: deps.moodledata, afterCommit,
    sendMail: (to, subject, text) => afterCommit(async () => {
      if (!deps.mailer) return;
      sender ??= siteIdentity(deps.db).then((site) => site.from);
      await deps.mailer.send({ from: await sender, to: [to], subject, text });
    }),
  };
  const good = read.filter((r) => !r.error);
  const outcomes = await applyRows(operation, ctx, good.map((r) => r.row), pending);
  const byRow = new Map(good.map((r, i) => [r, outcomes[i]]));
  const ledger = read.map((r) => {
    const o = r.error ? { status: 'failed' as const, message: r.error } : byRow.get(r)!;
    return withLabel([r.row.line, r.start, r.end, o.status, o.message], r.label);
  });
  if (operation.afterRows && chunkNo === run.plan.chunks.length - 1) {
    for (const note of await afterRows(deps.store, operation, ctx, run, settings, pending)) ledger.push([0, 0, 0, 'note', note, 'after the rows']);
  }
  return ledger;
}

/** The operation's after-rows step, under its own savepoint: a failure there is reported, and never undoes the rows. */
async function afterRows(store: FileStore, operation: ToolOperation, ctx: ChunkContext, run: RunRow, settings: Record<string, string>, pending: unknown[]): Promise<string[]> {
  async function* fileRows() {
    for (let i = 0; i < run.plan.chunks.length; i++) {
      for (const r of await readChunk(store, run, i, settings)) if (!r.error) yield r.row;
    }
  }
  const undo = undoMark(pending);
  await ctx.conn.query('SAVEPOINT msync_after_rows');
  try {
    return await operation.afterRows!(ctx, fileRows);
  } catch (e) {
    await ctx.conn.query('ROLLBACK TO SAVEPOINT msync_after_rows');
    undo();
    return [`failed: ${describeRowError(e)}`];
  }
}

/** An archive entry's outcome carries its name for the report; a CSV row's stays as it was. */
const withLabel = (o: LedgerOutcome, label?: string): LedgerOutcome => (label === undefined ? o : [o[0], o[1], o[2], o[3], o[4], label]);

const countOutcomes = (outcomes: LedgerOutcome[]): ChunkCounts => ({
  applied: outcomes.filter((o) => o[3] === 'applied').length,
  failed: outcomes.filter((o) => o[3] === 'failed').length,
  skipped: outcomes.filter((o) => o[3] === 'skipped').length,
});

async function insertLedger(q: { query: PoolConnection['query'] }, db: MoodleDb, runKey: string, chunkNo: number, outcomes: LedgerOutcome[]): Promise<ChunkCounts> {
  const counts = countOutcomes(outcomes);
  await q.query(`INSERT INTO ${db.own('chunks')} (runkey, chunkno, applied, failed, skipped, outcomes) VALUES (?, ?, ?, ?, ?, ?)`,
    [runKey, chunkNo, counts.applied, counts.failed, counts.skipped, JSON.stringify(outcomes)]);
  return counts;
}

async function ledgerCounts(db: MoodleDb, runKey: string, chunkNo: number): Promise<ChunkCounts | undefined> {
  const [rows] = await db.pool.query<RowDataPacket[]>(`SELECT applied, failed, skipped FROM ${db.own('chunks')} WHERE runkey = ? AND chunkno = ?`, [runKey, chunkNo]);
  return rows.length ? { applied: rows[0].applied, failed: rows[0].failed, skipped: rows[0].skipped } : undefined;
}

/**
 * Applies chunk `chunkNo` exactly once: its Moodle writes and its ledger row commit together, and
 * a retry that finds the ledger row changes nothing.
 */
export async function applyChunk(deps: ApplyDeps, runKey: string, chunkNo: number): Promise<ChunkCounts> {
  const done = await ledgerCounts(deps.db, runKey, chunkNo);
  if (done) return done;
  const run = (await readRun(deps.db, runKey))!;
  const settings = await loadSettingsMap(deps.db);
  const tasks: (() => Promise<void>)[] = [];
  const conn = await deps.db.pool.getConnection();
  let counts: ChunkCounts;
  try {
    await conn.query('SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED');
    await conn.beginTransaction();
    try {
      const outcomes = await runChunk(deps, conn, run, chunkNo, settings, tasks);
      counts = await insertLedger(conn, deps.db, runKey, chunkNo, outcomes);
      await conn.commit();
    } catch (e) {
      await conn.rollback().catch(() => undefined);
      // Another attempt may have committed this chunk meanwhile (a lost connection, say).
      const other = await ledgerCounts(deps.db, runKey, chunkNo);
      if (other) return other;
      throw e;
    }
  } finally {
    conn.release();
  }
  for (const task of tasks) await task().catch((e) => log.warn('after-commit task failed', { error: (e as Error).message }));
  return counts;
}

/**
 * A simulation: every chunk runs for real in one transaction that is rolled back at the end; the
 * ledger rows are written on another connection so the report shows what would have happened.
 */
export async function simulateRun(deps: ApplyDeps, runKey: string): Promise<ChunkCounts> {
  const run = (await readRun(deps.db, runKey))!;
  const settings = await loadSettingsMap(deps.db);
  const total: ChunkCounts = { applied: 0, failed: 0, skipped: 0 };
  await deps.db.pool.query(`DELETE FROM ${deps.db.own('chunks')} WHERE runkey = ?`, [runKey]); // a retry starts over
  const conn = await deps.db.pool.getConnection();
  try {
    await conn.beginTransaction();
    for (let i = 0; i < run.plan.chunks.length; i++) {
      heartbeat(i);
      const outcomes = await runChunk(deps, conn, run, i, settings, []); // a simulation mails nobody
      const c = await insertLedger(deps.db.pool, deps.db, runKey, i, outcomes);
      total.applied += c.applied; total.failed += c.failed; total.skipped += c.skipped;
    }
  } finally {
    await conn.rollback().catch(() => undefined);
    conn.release();
  }
  return total;
}

/** A chunk that failed every attempt: its rows go to the report and the tryback as failed. */
export async function recordFailedChunk(deps: ApplyDeps, runKey: string, chunkNo: number, reason: string): Promise<ChunkCounts> {
  const run = (await readRun(deps.db, runKey))!;
  const read = await readChunk(deps.store, run, chunkNo, await loadSettingsMap(deps.db));
  const outcomes: LedgerOutcome[] = read.map((r) => withLabel([r.row.line, r.start, r.end, 'failed', `not applied: ${reason}`], r.label));
  await deps.db.pool.query(`INSERT IGNORE INTO ${deps.db.own('chunks')} (runkey, chunkno, applied, failed, skipped, outcomes) VALUES (?, ?, 0, ?, 0, ?)`,
    [runKey, chunkNo, outcomes.length, JSON.stringify(outcomes)]);
  // A last attempt whose commit went through after all keeps its row: report what the ledger holds.
  return (await ledgerCounts(deps.db, runKey, chunkNo))!;
}
