import * as fsp from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';

/** Held by moodle-sync while it takes files from the drop folder. */
export const READ_LOCK = 'lock.txt';
/** Held by a remote system while it is still writing into the drop folder. */
export const WRITE_LOCK = 'alock.txt';
export const LOCK_FILES = [READ_LOCK, WRITE_LOCK] as const;
export type LockFileName = (typeof LOCK_FILES)[number];

const HOLDER_PREFIX = 'holder: moodle-sync reintegration ';

export interface LockState {
  file: LockFileName;
  present: boolean;
  /** Modification time of the lock file (ms since epoch), when present. */
  sinceMs?: number;
  ageSec?: number;
  /** First line of the lock's content, for people (who holds it). */
  holder?: string;
}

/** What lock.txt says: who holds it and since when (the original wrote a bare Unix time). */
export function readLockContent(owner: string, now = new Date()): string {
  return `${HOLDER_PREFIX}${owner} (host ${os.hostname()}, pid ${process.pid})\nsince: ${now.toISOString()}\ntime: ${Math.floor(now.getTime() / 1000)}\n`;
}

/** The reintegration that wrote a lock.txt, or undefined when another program wrote it. */
export function lockOwner(content: string): string | undefined {
  const first = content.split('\n', 1)[0];
  if (!first.startsWith(HOLDER_PREFIX)) return undefined;
  return first.slice(HOLDER_PREFIX.length).replace(/ \(host .*\)$/, '');
}

export async function inspectLock(dropFolder: string, file: LockFileName, nowMs = Date.now()): Promise<LockState> {
  const abs = path.join(dropFolder, file);
  const st = await fsp.lstat(abs).catch(() => undefined);
  if (!st) return { file, present: false };
  const content = await fsp.readFile(abs, 'utf8').catch(() => '');
  return {
    file,
    present: true,
    sinceMs: st.mtimeMs,
    ageSec: Math.max(0, Math.floor((nowMs - st.mtimeMs) / 1000)),
    holder: content.split('\n', 1)[0].slice(0, 200) || '(empty)',
  };
}

export const inspectLocks = (dropFolder: string, nowMs = Date.now()): Promise<LockState[]> =>
  Promise.all(LOCK_FILES.map((f) => inspectLock(dropFolder, f, nowMs)));

export { formatAge } from '../workflows/format';
