import * as fsp from 'node:fs/promises';
import { createHash } from 'node:crypto';
import type { RowDataPacket } from 'mysql2';
import { withNamedLock, type MoodleDb } from '../moodle/db';
import { ensureOwnTables } from '../moodle/ownTables';
import type { FileStore } from '../store';
import { loadSettingsMap } from '../settings/store';
import { sha256File } from '../reintegration';
import { findOperation } from '../tools';
import { readRecords, CsvSyntaxError, type CsvFormat } from './records';
import { checkEncoding } from './encoding';
import { checkHeader } from './header';
import { outputNames } from './outputs';
import { planZip } from './zipInput';
import { readRun, type ChunkPlan, type RunPlan } from './ledger';
import type { ToolOperation } from '../tools/types';
import type { PreparedFile, ProcessFileInput } from '../../workflows/shared';

export const SNAPSHOT_DIR = '.msync-runs';

export function csvFormat(settings: Record<string, string>): CsvFormat {
  return { separator: settings.csvseparator, encoding: settings.encoding === 'ISO-8859-1' ? 'ISO-8859-1' : 'UTF-8' };
}

const snapshotName = (runKey: string) => `${SNAPSHOT_DIR}/${createHash('sha256').update(runKey).digest('hex').slice(0, 32)}.input`;

export interface PipelineDeps {
  db: MoodleDb;
  store: FileStore;
}

/**
 * Checks a whole file before any write (encoding, BOM, separator, header; for an archive, its
 * structure and limits), snapshots it, plans its chunks and reserves its output names.
 * Idempotent: a retry returns what the first did.
 */
export async function prepareFile({ db, store }: PipelineDeps, input: ProcessFileInput & { runKey: string; startedAt: number }): Promise<PreparedFile> {
  await ensureOwnTables(db);
  const existing = await readRun(db, input.runKey);
  if (existing) return summarise(existing);

  const operation = findOperation(input.tool, input.op);
  const settings = await loadSettingsMap(db);
  const abs = await store.requireFile(input.file);
  const snapshot = snapshotName(input.runKey);
  // Chunks read a private copy: the store file may be replaced while the run goes on.
  await store.importFile(snapshot, abs, true, 'snapshot');
  const snapAbs = await store.requireFile(snapshot);
  // The hash of what runs (the snapshot), not of a store file that may change meanwhile.
  const sha256 = await sha256File(snapAbs);

  const { plan, refusal } = operation.input === 'zip'
    ? await planZip(snapAbs, operation.chunkSize ?? 1000)
    : await planCsv(snapAbs, operation, settings, db);
  // The after-rows step runs with the last chunk: every other chunk must have committed by then.
  const last = plan.chunks.at(-1);
  if (operation.afterRows && last) last.after = plan.chunks.length - 2;

  await withNamedLock(db, 'msync-outputs', 30, async () => {
    const names = await freeOutputNames(db, store, input.file, input.startedAt);
    await db.pool.query(
      `INSERT INTO ${db.own('runs')} (runkey, tool, op, file, sha256, simulate, startedat, status, refusal, plan, reportpath, trybackpath, archivepath, snapshot)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      [input.runKey, input.tool, input.op, input.file, sha256, input.simulate ? 1 : 0, input.startedAt, refusal ? 'refused' : 'ready', refusal ?? null,
        JSON.stringify(plan), names.report, names.tryback, names.archive, snapshot]);
  });
  return summarise((await readRun(db, input.runKey))!);
}

/** A CSV file's checks (encoding, BOM, separator, header) and chunk plan. */
async function planCsv(abs: string, operation: ToolOperation, settings: Record<string, string>, db: MoodleDb): Promise<{ plan: RunPlan; refusal?: string }> {
  const format = csvFormat(settings);
  let refusal = await checkEncoding(abs, format.encoding);
  let plan: RunPlan = { header: [], headerRange: null, chunks: [], totalRows: 0, readErrors: 0 };
  if (!refusal) {
    try {
      const rowKeys = operation.rowKeys && ((rows: Record<string, string>[], header: string[]) => operation.rowKeys!(rows, { header, settings, db }));
      plan = await planChunks(abs, format, operation.header === null ? ['value', ...(operation.listColumns ?? [])] : null, operation.chunkSize ?? 1000, rowKeys);
    } catch (e) {
      if (!(e instanceof CsvSyntaxError)) throw e;
      refusal = e.message;
    }
  }
  if (!refusal && operation.header) {
    if (!plan.headerRange) refusal = 'the file is empty: a header line is expected';
    else {
      const problems = checkHeader(plan.header, operation.header, format.separator, settings.invalidnamesnocheck === '1');
      if (!problems.length && operation.header.check) problems.push(...(await operation.header.check(plan.header, db, settings)));
      if (problems.length) refusal = `bad header (line 1): ${problems.join('; ')}`;
    }
  }
  return { plan, refusal };
}

function summarise(run: NonNullable<Awaited<ReturnType<typeof readRun>>>): PreparedFile {
  return {
    status: run.refusal ? 'refused' : 'ready', refusal: run.refusal ?? undefined, sha256: run.sha256, totalRows: run.plan.totalRows, chunks: run.plan.chunks.length,
    after: run.plan.chunks.map((c, i) => c.after ?? i - 1),
  };
}

/**
 * Streams the file once: the header, the data rows, and where every chunk starts. `listColumns`:
 * the columns of a header-less file (null: the file's first line is its header). With `rowKeys`,
 * each chunk learns the last earlier chunk that shares a key with it (`after`); without, it has
 * none and follows the one before (`summarise`).
 */
async function planChunks(abs: string, format: CsvFormat, listColumns: string[] | null, chunkSize: number,
  rowKeys?: (rows: Record<string, string>[], header: string[]) => string[][] | Promise<string[][]>): Promise<RunPlan> {
  const hasHeader = listColumns === null;
  const plan: RunPlan = { header: listColumns ?? [], headerRange: null, chunks: [], totalRows: 0, readErrors: 0 };
  let current: ChunkPlan | undefined;
  const lastChunkOf = new Map<string, number>();
  let rows: Record<string, string>[] = []; // the current chunk's, for rowKeys
  // A chunk's keys are looked up while the next chunk is read (one lookup at a time, in file order).
  let settling = Promise.resolve();
  const settle = async () => {
    await settling;
    if (!rowKeys || !current || !rows.length) return;
    const [chunk, chunkNo, chunkRows] = [current, plan.chunks.length - 1, rows];
    rows = [];
    settling = (async () => {
      for (const keys of await rowKeys(chunkRows, plan.header)) {
        for (const key of keys) {
          const seen = lastChunkOf.get(key);
          if (seen !== undefined && seen !== chunkNo) chunk.after = Math.max(chunk.after!, seen);
          lastChunkOf.set(key, chunkNo);
        }
      }
    })();
    settling.catch(() => undefined); // awaited by the next settle
  };
  for await (const rec of readRecords(abs, format)) {
    if (rec.comment) continue;
    if (hasHeader && !plan.headerRange) {
      plan.headerRange = [rec.start, rec.end];
      plan.header = rec.fields ?? [];
      continue;
    }
    if (!current || current.rows === chunkSize) {
      await settle();
      current = { offset: rec.start, line: rec.line, rows: 0, ...(rowKeys && { after: -1 }) };
      plan.chunks.push(current);
    }
    current.rows++;
    plan.totalRows++;
    if (rowKeys && rec.fields) rows.push(Object.fromEntries(plan.header.map((h, i) => [h, rec.fields![i] ?? ''])));
  }
  await settle();
  await settling;
  return plan;
}

/** The first output names that no file and no other run holds (same-minute runs get -2, -3...). */
async function freeOutputNames(db: MoodleDb, store: FileStore, file: string, ms: number) {
  for (let n = 1; ; n++) {
    const names = outputNames(file, ms, n);
    const [taken] = await db.pool.query<RowDataPacket[]>(
      `SELECT 1 FROM ${db.own('runs')} WHERE reportpath = ? OR trybackpath = ? OR archivepath = ? LIMIT 1`, [names.report, names.tryback, names.archive]);
    const exists = await Promise.all([names.report, names.tryback, names.archive].map((p) => store.stat(p).then((s) => !!s)));
    if (!taken.length && !exists.some(Boolean)) return names;
  }
}

export async function removeSnapshot(store: FileStore, snapshot: string | null): Promise<void> {
  if (!snapshot) return;
  await fsp.rm(await store.resolve(snapshot), { force: true });
}
