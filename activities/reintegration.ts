import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import { pipeline } from 'node:stream/promises';
import { Context } from '@temporalio/activity';
import type { RowDataPacket } from 'mysql2';
import type { MoodleDb } from './moodle/db';
import { ensureOwnTables } from './moodle/ownTables';
import type { FileStore } from './store';
import { LOCK_FILES, READ_LOCK, WRITE_LOCK, inspectLock, lockOwner, readLockContent } from './locks';
import { loadSettingsMap } from './settings/store';
import type { LockAttempt, ReintegrationFiles } from '../workflows/shared';
import { heartbeat, withHeartbeat } from './heartbeat';

/** A file being taken is first renamed to this hidden name, so a retry knows it was ours. */
const TAKING_PREFIX = '.msync-taking.';

export interface ReintegrationDeps {
  db: MoodleDb;
  store: FileStore;
  dropFolder: string;
}

export async function sha256File(abs: string): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(fs.createReadStream(abs), hash);
  return hash.digest('hex');
}


/** Throws the SDK's CancelledFailure once the workflow has asked this activity to stop. */
function throwIfCancelled(): void {
  let signal: AbortSignal | undefined;
  try { signal = Context.current().cancellationSignal; } catch { return; /* outside an activity */ }
  signal.throwIfAborted();
}

/** Why a name in the drop folder is never taken, or undefined when it may be. */
export function skipReason(name: string): string | undefined {
  if (name.startsWith('.')) return 'hidden name (starts with ".")';
  if (name.startsWith('_')) return 'name starts with "_" (not for moodle-sync)';
  if ((LOCK_FILES as readonly string[]).includes(name)) return 'lock file';
  return undefined;
}

export function createReintegrationActivities({ db, store, dropFolder }: ReintegrationDeps) {
  const lockPath = path.join(dropFolder, READ_LOCK);

  async function currentOwner(): Promise<string | undefined | null> {
    const content = await fsp.readFile(lockPath, 'utf8').catch((e: NodeJS.ErrnoException) => {
      if (e.code === 'ENOENT') return null;
      throw e;
    });
    return content === null ? null : lockOwner(content);
  }

  async function isProcessed(name: string, sha256: string): Promise<boolean> {
    await ensureOwnTables(db);
    const [rows] = await db.pool.query<RowDataPacket[]>(
      `SELECT 1 FROM ${db.own('processed_inputs')} WHERE name = ? AND sha256 = ? LIMIT 1`, [name, sha256]);
    return rows.length > 0;
  }

  return {
    /**
     * Takes lock.txt for `owner`, unless a remote system is still writing (alock.txt) or another
     * program holds it. A lock left by an earlier moodle-sync reintegration is taken over: the
     * workflow id is fixed, so that run is over; a retry of this very run finds its own lock.
     */
    async acquireSyncLock(owner: string): Promise<LockAttempt> {
      await fsp.mkdir(dropFolder, { recursive: true });
      const remote = await inspectLock(dropFolder, WRITE_LOCK);
      if (remote.present) return { status: 'remote-writing', lock: remote };
      const holder = await currentOwner();
      if (holder === owner) return { status: 'acquired', recovered: true };
      if (holder === undefined) return { status: 'held-by-other', lock: await inspectLock(dropFolder, READ_LOCK) };
      if (holder !== null) await fsp.rm(lockPath, { force: true }); // a finished moodle-sync run left it
      try {
        await fsp.writeFile(lockPath, readLockContent(owner), { flag: 'wx' });
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'EEXIST') return { status: 'held-by-other', lock: await inspectLock(dropFolder, READ_LOCK) };
        throw e;
      }
      return { status: 'acquired', recovered: false, tookOverFrom: holder ?? undefined };
    },

    /** Moves every finished file from the drop folder into the store root (lock.txt must be ours). */
    async moveDroppedFiles(owner: string): Promise<ReintegrationFiles> {
      if ((await currentOwner()) !== owner) throw new Error(`lock.txt in ${dropFolder} is not held by ${owner}: refusing to take files.`);
      // Heartbeat while working, also inside a long copy: a killed worker is noticed within the
      // heartbeat timeout, and a cancellation reaches us through the heartbeat's answer.
      let current = '';
      return withHeartbeat(() => takeAll(owner, (name) => { current = name; }), 1000, () => current);
    },

    /** Removes lock.txt if, and only if, `owner` holds it. */
    async releaseSyncLock(owner: string): Promise<boolean> {
      if ((await currentOwner()) !== owner) return false;
      await fsp.rm(lockPath, { force: true });
      return true;
    },
  };

  async function takeAll(owner: string, onFile: (name: string) => void): Promise<ReintegrationFiles> {
    await store.ensureLayout();
    const settings = await loadSettingsMap(db);
    const quietMs = Number(settings.quietperiod) * 1000;
    const result: ReintegrationFiles = { taken: [], waiting: [], skipped: [] };
    const names = (await fsp.readdir(dropFolder)).sort();

    // First finish files a killed attempt had started to take.
    for (const staged of names.filter((n) => n.startsWith(TAKING_PREFIX))) {
      await takeStaged(staged.slice(TAKING_PREFIX.length), result);
    }
    for (const name of names) {
      throwIfCancelled(); // between files: a file is always taken whole or not at all
      onFile(name);
      heartbeat(name);
      // A run that was terminated without cleaning up may still be here: it stops once taken over.
      if ((await currentOwner()) !== owner) throw new Error(`lock.txt in ${dropFolder} is no longer held by ${owner}: stopping.`);
      if ((await inspectLock(dropFolder, WRITE_LOCK)).present) {
        result.waiting.push({ name: WRITE_LOCK, reason: 'a remote system started writing (alock.txt): the rest waits for the next pass' });
        break;
      }
      const reason = skipReason(name);
      const abs = path.join(dropFolder, name);
      const st = await fsp.lstat(abs).catch(() => undefined);
      if (!st) continue;
      if (reason || !st.isFile()) {
        // Lock files and our own staged files are machinery, not skipped input.
        if (!name.startsWith(TAKING_PREFIX) && !(LOCK_FILES as readonly string[]).includes(name)) result.skipped.push({ name, reason: reason ?? (st.isDirectory() ? 'folder' : st.isSymbolicLink() ? 'symbolic link' : 'not a regular file') });
        continue;
      }
      if (Date.now() - st.mtimeMs < quietMs) {
        result.waiting.push({ name, reason: `changed less than ${settings.quietperiod} s ago: still being written?` });
        continue;
      }
      const clash = await clashWith(name);
      if (clash) {
        result.waiting.push({ name, reason: clash });
        continue;
      }
      try {
        await fsp.rename(abs, path.join(dropFolder, TAKING_PREFIX + name));
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') continue; // removed meanwhile by its writer
        throw e;
      }
      await takeStaged(name, result, st);
    }
    return result;

    /** Why a same-name store file must not be replaced yet, or undefined when it may be. */
    async function clashWith(name: string): Promise<string | undefined> {
      const existing = await store.stat(name).catch(() => undefined);
      if (!existing) return undefined;
      if (existing.type === 'folder') return `a folder "${name}" exists in the store`;
      const sha = await sha256File(await store.requireFile(name));
      if (await isProcessed(name, sha)) return undefined;
      return `"${name}" in the store has not been processed yet: this one waits for it, so files of one name run in arrival order`;
    }

    async function takeStaged(name: string, out: ReintegrationFiles, before?: fs.Stats): Promise<void> {
      const stagedAbs = path.join(dropFolder, TAKING_PREFIX + name);
      const stagedSha = await sha256File(stagedAbs);
      const existing = await store.stat(name).catch(() => undefined);
      if (existing?.type === 'file' && (await sha256File(await store.requireFile(name))) === stagedSha && !before) {
        // A killed attempt had already copied it: only the drop folder copy is left to remove.
        await fsp.unlink(stagedAbs);
        out.taken.push({ name, size: existing.size, sha256: stagedSha });
        return;
      }
      const after = await fsp.stat(stagedAbs);
      if (before && (after.size !== before.size || after.mtimeMs !== before.mtimeMs)) {
        await restore(name, stagedAbs);
        out.waiting.push({ name, reason: 'changed while being taken: still being written?' });
        return;
      }
      if (!before && (await clashWith(name))) {
        await restore(name, stagedAbs);
        out.waiting.push({ name, reason: (await clashWith(name))! });
        return;
      }
      await store.importFile(name, stagedAbs, true, 'reintegration'); // a retry overwrites a killed attempt's partial copy
      await fsp.unlink(stagedAbs);
      out.taken.push({ name, size: after.size, sha256: stagedSha });
    }

    async function restore(name: string, stagedAbs: string): Promise<void> {
      const back = path.join(dropFolder, name);
      // Never replace a newer drop of the same name: the staged copy then waits, hidden, for the next pass.
      if (!(await fsp.lstat(back).catch(() => undefined))) await fsp.rename(stagedAbs, back);
    }
  }
}
