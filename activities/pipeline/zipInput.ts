import type { DataRow } from '../tools/types';
import type { ChunkPlan, RunPlan } from './ledger';
import { listZip, readZipEntry } from './zip';

/**
 * Zip archives as pipeline input (ToolOperation.input = 'zip'): the units of work are the
 * archive's files, in name order, planned in chunks like CSV rows. A tool's row carries the
 * entry's name (`values.entry`) and reads its bytes from the run's snapshot on demand.
 *
 * An archive has no tryback: a failed entry is named in the report, its sender still holds it,
 * and copying possibly hostile content back into the store would help no one.
 */

export const ZIP_HEADER = ['entry'];

/** A unit as the chunk reader gives it: the tool's row, its place, a read error, its report label. */
export interface ReadUnit {
  row: DataRow;
  start: number;
  end: number;
  error?: string;
  label?: string;
}

/** Whole-archive checks (before any write) and the chunk plan. */
export async function planZip(abs: string, chunkSize: number): Promise<{ plan: RunPlan; refusal?: string }> {
  const plan: RunPlan = { header: ZIP_HEADER, headerRange: null, chunks: [], totalRows: 0, readErrors: 0 };
  const listing = await listZip(abs);
  if (!listing.ok) return { plan, refusal: listing.refusal };
  for (let i = 0; i < listing.units.length; i += chunkSize) {
    plan.chunks.push({ offset: i, line: i + 1, rows: Math.min(chunkSize, listing.units.length - i) });
  }
  plan.totalRows = listing.units.length;
  plan.readErrors = listing.units.filter((u) => u.error).length;
  return { plan };
}

/** The units of one chunk; the snapshot never changes, so listing it again gives the same order. */
export async function readZipChunk(abs: string, chunk: ChunkPlan): Promise<ReadUnit[]> {
  const listing = await listZip(abs);
  if (!listing.ok) throw new Error(`the run's archive snapshot can no longer be read: ${listing.refusal}`);
  return listing.units.slice(chunk.offset, chunk.offset + chunk.rows).map((u, i) => ({
    row: {
      line: chunk.line + i,
      values: { entry: u.name },
      content: { declaredSize: u.uncompressedSize, read: (limit: number) => readZipEntry(abs, u, limit) },
    },
    start: u.index,
    end: u.index,
    error: u.error,
    label: `entry ${u.name}`,
  }));
}
