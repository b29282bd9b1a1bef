import * as path from 'node:path';
import { ARCHIVES_DIR, REPORTS_DIR, type FileStore, type StoreEntry } from './store';
import type { MoodleDb } from './moodle/db';
import { loadSettingsMap } from './settings/store';
import { withHeartbeat } from './heartbeat';
import type { PruneResult, PrunedKind } from '../workflows/shared';

const DAY_MS = 86_400_000;
/** Outputs carry their minute in their name (pipeline/outputs.ts): YYYYMMDD-HHMM, local time. */
const STAMP = /(\d{4})(\d{2})(\d{2})-(\d{2})(\d{2})/;
const TRYBACK = /_tryback_\d{8}-\d{4}(-\d+)?(\.[^/]*)?$/;
/** Removed paths listed in the result: enough to read, small enough for a Temporal payload. */
const LISTED = 200;

/** What kind of output a store path is, or undefined for anything else (inputs above all). */
export function outputKind(storePath: string): PrunedKind | undefined {
  if (storePath.startsWith(`${REPORTS_DIR}/`)) return 'report';
  if (storePath.startsWith(`${ARCHIVES_DIR}/`)) return 'archive';
  if (TRYBACK.test(path.posix.basename(storePath))) return 'tryback';
  return undefined;
}

/**
 * When an output was written: the later of its name's stamp and its modification time (an
 * archive keeps its input's modification time, which may be much older than the archiving).
 */
export function outputTime(entry: StoreEntry): number {
  const m = STAMP.exec(path.posix.basename(entry.path));
  const stamped = m ? new Date(+m[1], +m[2] - 1, +m[3], +m[4], +m[5]).getTime() : NaN;
  return Number.isFinite(stamped) ? Math.max(stamped, entry.mtimeMs) : entry.mtimeMs;
}

export interface PruneOptions {
  /** Age limit in days; without it, the fileareacleanupdelay setting (0 or empty: off). */
  olderThanDays?: number;
  dryRun?: boolean;
  nowMs?: number;
}

/**
 * Removes reports, archives and trybacks older than the limit (reference 3.4, without the
 * original's defect of removing inputs too): files waiting to run are never touched.
 */
export async function pruneStore(deps: { db: MoodleDb; store: FileStore }, opts: PruneOptions = {}): Promise<PruneResult> {
  const days = opts.olderThanDays ?? (Number((await loadSettingsMap(deps.db)).fileareacleanupdelay) || 0);
  const dryRun = opts.dryRun ?? false;
  const result: PruneResult = { olderThanDays: null, dryRun, removedCount: 0, removedBytes: 0, byKind: { report: 0, archive: 0, tryback: 0 }, removed: [], kept: 0, summary: '' };
  if (opts.olderThanDays === undefined && days <= 0) {
    result.summary = 'store pruning is off (fileareacleanupdelay is 0)';
    return result;
  }
  result.olderThanDays = days;
  const now = opts.nowMs ?? Date.now();
  const limit = now - days * DAY_MS;
  for (const entry of await deps.store.list('', true)) {
    const kind = entry.type === 'file' ? outputKind(entry.path) : undefined;
    if (!kind) continue;
    const written = outputTime(entry);
    if (written > limit) { result.kept++; continue; }
    if (!dryRun) await deps.store.remove(entry.path);
    result.removedCount++;
    result.removedBytes += entry.size;
    result.byKind[kind]++;
    if (result.removed.length < LISTED) result.removed.push({ path: entry.path, kind, ageDays: Math.floor((now - written) / DAY_MS) });
  }
  const kinds = (Object.entries(result.byKind) as [PrunedKind, number][]).filter(([, n]) => n).map(([k, n]) => `${n} ${k}${n > 1 ? 's' : ''}`);
  result.summary = `${dryRun ? 'would remove' : 'removed'} ${result.removedCount} output(s)${kinds.length ? ` (${kinds.join(', ')})` : ''} older than ${days} day(s); ${result.kept} newer kept`;
  return result;
}

export function createStoreCleanupActivities(deps: { db: MoodleDb; store: FileStore }) {
  return {
    pruneStore: (opts: PruneOptions = {}) => withHeartbeat(() => pruneStore(deps, opts)),
  };
}
