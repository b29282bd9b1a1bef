import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { pipeline } from 'node:stream/promises';
import { SyncError } from './errors';

export const REPORTS_DIR = 'reports';
export const ARCHIVES_DIR = 'archives';

export interface StoreEntry {
  /** Path relative to the store root, with "/" separators. */
  path: string;
  type: 'file' | 'folder';
  size: number;
  mtimeMs: number;
}

const TEMP_MARK = '.msync-tmp-';
/** moodle-sync's own working names (temporary files, run snapshots): never listed. */
const INTERNAL_MARK = '.msync-';

/**
 * The tool's file store: a plain folder with reports/ and archives/. Every path given to it is
 * relative to its root and can never leave it (no "..", no absolute path, no symbolic link that
 * points out). Writes go to a temporary file in the same folder and are renamed into place.
 */
export class FileStore {
  readonly root: string;
  private realRoot?: string;

  constructor(root: string) {
    this.root = path.resolve(root);
  }

  async ensureLayout(): Promise<void> {
    for (const dir of ['', REPORTS_DIR, ARCHIVES_DIR]) await fsp.mkdir(path.join(this.root, dir), { recursive: true });
    this.realRoot = await fsp.realpath(this.root);
  }

  /** Normalises a store path ("" or "/" is the root) or refuses it. */
  static normalise(rel: string): string {
    if (typeof rel !== 'string' || rel.includes('\0')) throw outside(String(rel), 'it contains a NUL byte');
    if (rel.includes('\\')) throw outside(rel, 'use "/" between folders, not "\\"');
    if (/^[a-z][a-z0-9+.-]*:/i.test(rel)) throw outside(rel, 'URLs are not store paths');
    // "/" alone names the root; any other leading "/" is an absolute host path and refused.
    if (rel.startsWith('/') && rel.replace(/\/+/g, '') !== '') throw outside(rel, 'absolute paths are not allowed');
    const segments = rel.split('/').filter((s) => s !== '' && s !== '.');
    if (segments.some((s) => s === '..')) throw outside(rel, '".." is not allowed');
    return segments.join('/');
  }

  /** The absolute path of a store path, after checking that no symbolic link leads out of the store. */
  async resolve(rel: string): Promise<string> {
    const norm = FileStore.normalise(rel);
    const abs = path.join(this.root, norm);
    await this.assertInside(abs, rel);
    return abs;
  }

  private async assertInside(abs: string, shown: string): Promise<void> {
    const realRoot = this.realRoot ?? (this.realRoot = await fsp.realpath(this.root));
    // Resolve the deepest part that exists: a link anywhere on the way is followed and checked.
    let probe = abs;
    const rest: string[] = [];
    for (;;) {
      try {
        const real = await fsp.realpath(probe);
        const full = path.join(real, ...rest);
        if (full !== realRoot && !full.startsWith(realRoot + path.sep)) throw outside(shown, 'a symbolic link on the way points outside the store');
        return;
      } catch (e) {
        if (e instanceof SyncError) throw e;
        const code = (e as NodeJS.ErrnoException).code;
        if (code !== 'ENOENT' && code !== 'ENOTDIR') throw e;
        // A dangling link is a link out of the store as far as we can tell.
        const st = await fsp.lstat(probe).catch(() => undefined);
        if (st?.isSymbolicLink()) throw outside(shown, 'it is a symbolic link that leads nowhere inside the store');
        rest.unshift(path.basename(probe));
        const parent = path.dirname(probe);
        if (parent === probe) throw outside(shown, 'it does not lie under the store');
        probe = parent;
      }
    }
  }

  async stat(rel: string): Promise<StoreEntry | undefined> {
    const abs = await this.resolve(rel);
    const st = await fsp.stat(abs).catch(() => undefined);
    return st && { path: FileStore.normalise(rel), type: st.isDirectory() ? 'folder' : 'file', size: st.size, mtimeMs: st.mtimeMs };
  }

  /** Lists a folder (recursively when asked), hiding moodle-sync's working files (temporary files, run snapshots). */
  async list(rel = '', recursive = false): Promise<StoreEntry[]> {
    const base = FileStore.normalise(rel);
    const abs = await this.resolve(base);
    const st = await fsp.stat(abs).catch(() => undefined);
    if (!st) throw new SyncError('store.not-found', `No such folder in the store: "${rel || '/'}".`);
    if (!st.isDirectory()) return [(await this.stat(base))!];
    const out: StoreEntry[] = [];
    const walk = async (dirRel: string) => {
      const dirAbs = path.join(this.root, dirRel);
      const names = (await fsp.readdir(dirAbs)).filter((n) => !n.startsWith(INTERNAL_MARK)).sort();
      for (const name of names) {
        const childRel = dirRel ? `${dirRel}/${name}` : name;
        const cst = await fsp.lstat(path.join(dirAbs, name)).catch(() => undefined);
        if (!cst || cst.isSymbolicLink()) continue; // links are never followed when listing
        const isDir = cst.isDirectory();
        out.push({ path: childRel, type: isDir ? 'folder' : 'file', size: isDir ? 0 : cst.size, mtimeMs: cst.mtimeMs });
        if (isDir && recursive) await walk(childRel);
      }
    };
    await walk(base);
    return out;
  }

  /** A temporary name beside `abs`; a fixed `tag` lets a retried writer reuse (overwrite) its own. */
  private async tempBeside(abs: string, tag?: string): Promise<string> {
    if (tag !== undefined && !/^[a-z0-9-]{1,32}$/.test(tag)) throw new Error(`invalid temporary file tag "${tag}"`);
    await fsp.mkdir(path.dirname(abs), { recursive: true });
    return path.join(path.dirname(abs), `${TEMP_MARK}${path.basename(abs)}.${tag ?? `${process.pid}.${randomBytes(4).toString('hex')}`}`);
  }

  private async refuseFolder(abs: string, rel: string): Promise<void> {
    const st = await fsp.lstat(abs).catch(() => undefined);
    if (st?.isDirectory()) throw new SyncError('store.not-a-file', `"${rel}" is a folder in the store, not a file.`);
  }

  /** Writes content atomically: a reader sees the old file or the whole new one, never a part. */
  async writeAtomic(rel: string, content: string | Buffer | NodeJS.ReadableStream, tempTag?: string): Promise<string> {
    const abs = await this.resolve(rel);
    await this.refuseFolder(abs, rel);
    const tmp = await this.tempBeside(abs, tempTag);
    const flags = tempTag ? 'w' : 'wx';
    try {
      if (typeof content === 'string' || Buffer.isBuffer(content)) {
        const fh = await fsp.open(tmp, flags);
        try { await fh.writeFile(content); await fh.sync(); } finally { await fh.close(); }
      } else {
        await pipeline(content, fs.createWriteStream(tmp, { flags }));
        const fh = await fsp.open(tmp, 'r+');
        try { await fh.sync(); } finally { await fh.close(); }
      }
      await this.assertInside(path.dirname(abs), rel); // the folder may have been swapped meanwhile
      await fsp.rename(tmp, abs);
      return abs;
    } catch (e) {
      await fsp.rm(tmp, { force: true });
      throw e;
    }
  }

  /** Copies a file from outside the store into it (atomically), keeping its modification time. */
  async importFile(rel: string, sourceAbs: string, overwrite = true, tempTag?: string): Promise<void> {
    const abs = await this.resolve(rel);
    if (!overwrite && (await fsp.lstat(abs).catch(() => undefined))) {
      throw new SyncError('store.exists', `"${rel}" already exists in the store.`);
    }
    const st = await fsp.stat(sourceAbs);
    if (!st.isFile()) throw new SyncError('store.not-a-file', `"${sourceAbs}" is not a regular file.`);
    await this.writeAtomic(rel, fs.createReadStream(sourceAbs), tempTag);
    await fsp.utimes(abs, st.atime, st.mtime);
  }

  async exportFile(rel: string, destAbs: string): Promise<void> {
    const abs = await this.requireFile(rel);
    const tmp = `${destAbs}${TEMP_MARK}${randomBytes(4).toString('hex')}`;
    try {
      await fsp.copyFile(abs, tmp);
      await fsp.rename(tmp, destAbs);
    } catch (e) {
      await fsp.rm(tmp, { force: true });
      throw e;
    }
  }

  async requireFile(rel: string): Promise<string> {
    const abs = await this.resolve(rel);
    const st = await fsp.stat(abs).catch(() => undefined);
    if (!st) throw new SyncError('store.not-found', `No such file in the store: "${rel}".`);
    if (!st.isFile()) throw new SyncError('store.not-a-file', `"${rel}" is a folder in the store, not a file.`);
    return abs;
  }

  createReadStream(absFromRequireFile: string): fs.ReadStream {
    return fs.createReadStream(absFromRequireFile);
  }

  async remove(rel: string): Promise<void> {
    const norm = FileStore.normalise(rel);
    if (norm === '' || norm === REPORTS_DIR || norm === ARCHIVES_DIR) {
      throw new SyncError('usage', `"${rel || '/'}" is part of the store's layout and cannot be removed.`);
    }
    const abs = await this.resolve(norm);
    const st = await fsp.lstat(abs).catch(() => undefined);
    if (!st) throw new SyncError('store.not-found', `No such file in the store: "${rel}".`);
    if (st.isDirectory()) {
      const inside = await fsp.readdir(abs);
      if (inside.length) throw new SyncError('store.not-a-file', `Folder "${rel}" is not empty: remove its files first.`);
      await fsp.rmdir(abs);
    } else {
      await fsp.unlink(abs);
    }
  }

  /** Renames inside the store; never replaces an existing file unless asked. */
  async move(fromRel: string, toRel: string, overwrite = false): Promise<void> {
    const from = await this.requireFile(fromRel);
    const to = await this.resolve(toRel);
    const existing = await fsp.lstat(to).catch(() => undefined);
    if (existing?.isDirectory()) return this.move(fromRel, [FileStore.normalise(toRel), path.basename(from)].filter(Boolean).join('/'), overwrite);
    if (existing && !overwrite) throw new SyncError('store.exists', `"${toRel}" already exists in the store (use --force to replace it).`);
    await fsp.mkdir(path.dirname(to), { recursive: true });
    await fsp.rename(from, to);
  }
}

function outside(rel: string, why: string): SyncError {
  return new SyncError('store.outside', `Refused store path "${rel}": ${why}. Store paths are relative to the store root and stay inside it.`);
}
