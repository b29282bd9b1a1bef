import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import { Readable } from 'node:stream';
import type { RowDataPacket } from 'mysql2';
import type { MoodleDb } from '../moodle/db';
import type { FileStore } from '../store';
import { loadSettingsMap } from '../settings/store';
import { sha256File } from '../reintegration';
import { readRun, type LedgerOutcome, type RunRow } from './ledger';
import { removeSnapshot, csvFormat } from './prepare';
import { createFieldSplitter, type CsvFormat } from './records';
import { findOperation } from '../tools';
import type { FileRunSummary } from '../../workflows/shared';

export interface FinalizeDeps {
  db: MoodleDb;
  store: FileStore;
}

/** Every chunk's outcomes, in file order, streamed from the ledger (one chunk in memory at a time). */
async function* ledgerOutcomes(db: MoodleDb, runKey: string): AsyncGenerator<LedgerOutcome> {
  const [chunks] = await db.pool.query<RowDataPacket[]>(`SELECT chunkno FROM ${db.own('chunks')} WHERE runkey = ? ORDER BY chunkno`, [runKey]);
  for (const { chunkno } of chunks) {
    const [rows] = await db.pool.query<RowDataPacket[]>(`SELECT outcomes FROM ${db.own('chunks')} WHERE runkey = ? AND chunkno = ?`, [runKey, chunkno]);
    for (const o of JSON.parse(rows[0].outcomes) as LedgerOutcome[]) yield o;
  }
}

const isArchive = (run: RunRow) => findOperation(run.tool, run.op).input === 'zip';

/** One report line per row: a line break inside a message (a quoted value, say) is shown as \r or \n. */
const oneLine = (s: string) => s.replace(/\r/g, '\\r').replace(/\n/g, '\\n');

const utcTime = (ms: number) => new Date(ms).toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC');

/** The report: a header, one line per row outcome, totals, and "end of report". */
async function* reportLines(db: MoodleDb, run: RunRow, totals: { applied: number; failed: number; skipped: number }): AsyncGenerator<string> {
  yield `moodle-sync report\n`;
  yield `tool: ${run.tool}\noperation: ${run.op}\nfile: ${run.file} (sha256 ${run.sha256})\nstarted: ${utcTime(run.startedat)}\n`;
  yield `mode: ${run.simulate ? 'SIMULATION: every row ran in a transaction that was rolled back; nothing was written to Moodle' : 'live'}\n\n`;
  if (run.refusal) {
    yield `FILE REFUSED, nothing was written: ${oneLine(run.refusal)}\n`;
  } else {
    for await (const [line, , , status, message, label] of ledgerOutcomes(db, run.runkey)) {
      yield `${label === undefined ? `line ${line}` : oneLine(label)}: ${status}: ${oneLine(message)}\n`;
    }
    const units = isArchive(run) ? 'file(s) in the archive' : 'row(s)';
    yield `\n${run.plan.totalRows} ${units}: ${totals.applied} applied, ${totals.failed} failed, ${totals.skipped} skipped\n`;
  }
  yield `\nend of report\n`;
}

/**
 * A line with its secret fields emptied (an empty password makes Moodle generate one on replay):
 * clear-text passwords never reach a tryback. Other lines stay byte for byte.
 */
function withoutSecrets(line: Buffer, secretIndexes: number[], format: CsvFormat): Buffer {
  if (!secretIndexes.length) return line;
  const splitter = createFieldSplitter(format);
  let fields: string[];
  try { fields = splitter.split(line); } catch { return Buffer.alloc(0); } // unreadable: nothing of it is safe to copy
  if (!secretIndexes.some((i) => fields[i])) return line;
  const quote = (f: string) => (/["\r\n]/.test(f) || f.includes(format.separator) ? `"${f.replace(/"/g, '""')}"` : f);
  const text = fields.map((f, i) => (secretIndexes.includes(i) ? '' : quote(f))).join(format.separator);
  return Buffer.from(text, format.encoding === 'UTF-8' ? 'utf8' : 'latin1');
}

/** The tryback: the original header line, then every failed line, byte for byte (secrets emptied). */
async function* trybackChunks(db: MoodleDb, run: RunRow, snapshotAbs: string, format: CsvFormat): AsyncGenerator<Buffer> {
  const secrets = findOperation(run.tool, run.op).secretColumns ?? [];
  const secretIndexes = run.plan.header.flatMap((h, i) => (secrets.includes(h) ? [i] : []));
  const fh = await fsp.open(snapshotAbs, 'r');
  try {
    const slice = async (start: number, end: number) => {
      const buf = Buffer.alloc(end - start);
      await fh.read(buf, 0, buf.length, start);
      return buf;
    };
    if (run.plan.headerRange) yield Buffer.concat([await slice(...run.plan.headerRange), Buffer.from('\n')]);
    for await (const [, start, end, status] of ledgerOutcomes(db, run.runkey)) {
      if (status === 'failed') yield Buffer.concat([withoutSecrets(await slice(start, end), secretIndexes, format), Buffer.from('\n')]);
    }
  } finally {
    await fh.close();
  }
}

/**
 * After the last chunk: report, tryback, archive and cleanup, each behind its setting, in an order
 * that never removes the input before its report and tryback are safely written. Idempotent.
 */
export async function finalizeFile({ db, store }: FinalizeDeps, runKey: string): Promise<FileRunSummary> {
  const run = (await readRun(db, runKey))!;
  const settings = await loadSettingsMap(db);
  const [sums] = await db.pool.query<RowDataPacket[]>(
    `SELECT COALESCE(SUM(applied),0) AS applied, COALESCE(SUM(failed),0) AS failed, COALESCE(SUM(skipped),0) AS skipped FROM ${db.own('chunks')} WHERE runkey = ?`, [runKey]);
  const totals = { applied: Number(sums[0].applied), failed: Number(sums[0].failed), skipped: Number(sums[0].skipped) };
  const snapshotAbs = run.snapshot ? await store.resolve(run.snapshot) : undefined;
  const live = !run.simulate;
  const on = (key: string) => settings[key] === '1';

  let report: string | null = null;
  let tryback: string | null = null;
  let archive: string | null = null;
  // Every operation writes its report when storereport is on (spec decision 15), refusals included.
  if (on('storereport') && run.reportpath) {
    await store.writeAtomic(run.reportpath, Readable.from(reportLines(db, run, totals)), 'report');
    report = run.reportpath;
  }
  // An archive has no tryback (see zipInput.ts): its report names every failed entry.
  if (on('filefailed') && run.trybackpath && totals.failed > 0 && !isArchive(run) && snapshotAbs && fs.existsSync(snapshotAbs)) {
    await store.writeAtomic(run.trybackpath, Readable.from(trybackChunks(db, run, snapshotAbs, csvFormat(settings))), 'tryback');
    tryback = run.trybackpath;
  } else if (run.trybackpath && (await store.stat(run.trybackpath))) {
    tryback = run.trybackpath; // written by an earlier attempt of this finalize
  }
  if (live && !run.refusal) {
    if (on('filearchive') && run.archivepath && snapshotAbs && fs.existsSync(snapshotAbs)) {
      await store.importFile(run.archivepath, snapshotAbs, true, 'archive');
      archive = run.archivepath;
    }
    const forceCleanup = findOperation(run.tool, run.op).forceCleanupSetting;
    if (on('filecleanup') || (forceCleanup && on(forceCleanup))) await removeInputIfUnchanged(store, run);
    await db.pool.query(`INSERT IGNORE INTO ${db.own('processed_inputs')} (name, sha256, processedat) VALUES (?, ?, ?)`, [run.file, run.sha256, Date.now()]);
  }
  await removeSnapshot(store, run.snapshot);
  const outcome = run.refusal ? 'refused' : totals.failed > 0 ? 'completed-with-failures' : 'completed';
  await db.pool.query(`UPDATE ${db.own('runs')} SET status = ?, finishedat = COALESCE(finishedat, ?) WHERE runkey = ?`, [outcome, Date.now(), runKey]);
  return {
    status: run.refusal ? 'failed' : 'completed',
    outcome,
    tool: run.tool,
    op: run.op,
    file: run.file,
    simulate: run.simulate,
    refusal: run.refusal ?? undefined,
    rows: { total: run.plan.totalRows, ...totals },
    report,
    tryback,
    archive,
  };
}

/** Cleanup removes the input only while it still holds the content that ran. */
async function removeInputIfUnchanged(store: FileStore, run: RunRow): Promise<void> {
  const current = await store.stat(run.file);
  if (!current || current.type !== 'file') return;
  const abs = await store.requireFile(run.file);
  if ((await sha256File(abs)) === run.sha256) await fsp.rm(abs, { force: true });
}
