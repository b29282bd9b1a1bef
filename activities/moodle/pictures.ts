import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import type { Metadata } from 'sharp';
import type { PoolConnection, RowDataPacket, ResultSetHeader } from 'mysql2/promise';
import type { MoodleDb } from './db';
import { CONTEXT_USER, insertUserContexts } from './users';

/**
 * A user picture as Moodle 5.1.3 writes it (moodle-writes.md, "set a user picture":
 * process_new_icon, then user.picture = the new f1 row's id): icons f1 100x100, f2 35x35,
 * f3 512x512 cut from the centred square of the source; JPEG icons (quality 90, baseline JFIF,
 * 96 dpi) from a JPEG, 8-bit RGBA PNG icons from anything else; content files in
 * <moodledata>/filedir by SHA-1; four files rows (f1, '.', f2, f3) in the user context.
 */

export const ICON_SIZES = [['f1', 100], ['f2', 35], ['f3', 512]] as const;
/** Source formats process_new_icon takes (GD: JPEG, PNG, GIF). */
const SOURCE_FORMATS = new Set(['jpeg', 'png', 'gif']);
export const EMPTY_SHA1 = 'da39a3ee5e6b4b0d3255bfef95601890afd80709';
/** As on a default Moodle site (config.php directorypermissions 02777; files get its 0666 part). */
const DIR_MODE = 0o2777;
const FILE_MODE = 0o666;

export interface Icon { filename: string; data: Buffer; contenthash: string }
export interface IconSet { mimetype: 'image/jpeg' | 'image/png'; icons: Icon[] }
export type IconResult = { ok: true; set: IconSet } | { ok: false; kind: 'not an image' | 'too large'; reason: string };

/** sharp (libvips) loads on first use: CLI commands that never make a picture do not pay for it. */
let sharpModule: Promise<(typeof import('sharp'))['default']> | undefined;
const loadSharp = () => (sharpModule ??= import('sharp').then((m) => {
  m.default.cache(false); // every image is new: libvips' operation cache would only hold memory
  return m.default;
}));

export const sha1 = (data: Buffer | string): string => createHash('sha1').update(data).digest('hex');

/** GD writes a JFIF APP0 segment at 96 dpi; libvips writes none: add it after SOI. */
const JFIF_96DPI = Buffer.from([0xff, 0xe0, 0x00, 0x10, 0x4a, 0x46, 0x49, 0x46, 0x00, 0x01, 0x01, 0x01, 0x00, 0x60, 0x00, 0x60, 0x00, 0x00]);
function withJfif96(jpeg: Buffer): Buffer {
  if (jpeg[2] === 0xff && jpeg[3] === 0xe0) return jpeg;
  return Buffer.concat([jpeg.subarray(0, 2), JFIF_96DPI, jpeg.subarray(2)]);
}

/**
 * The three icons of an image, or why it cannot be one: not an image (or not a format Moodle
 * takes), or too large (declared dimensions past `maxPixels`, checked before any decoding).
 */
export async function makeIcons(data: Buffer, maxPixels: number): Promise<IconResult> {
  const sharp = await loadSharp();
  let meta: Metadata;
  try {
    meta = await sharp(data, { failOn: 'error', limitInputPixels: false }).metadata();
  } catch (e) {
    return { ok: false, kind: 'not an image', reason: `not a readable image (${(e as Error).message})` };
  }
  if (!meta.format || !SOURCE_FORMATS.has(meta.format)) return { ok: false, kind: 'not an image', reason: `a ${meta.format ?? 'unknown'} file: Moodle makes pictures from JPEG, PNG and GIF images` };
  const { width = 0, height = 0 } = meta;
  if (!width || !height) return { ok: false, kind: 'not an image', reason: 'the image has no size' };
  if (width * height > maxPixels) return { ok: false, kind: 'too large', reason: `${width}x${height} pixels (at most ${maxPixels} pixels)` };
  const jpeg = meta.format === 'jpeg';
  try {
    // Decoded once: the centred square at the largest size (f3), from which f1 and f2 are scaled down.
    const channels = jpeg ? 3 : 4;
    const largest = ICON_SIZES[ICON_SIZES.length - 1][1];
    const base = sharp(data, { failOn: 'error', limitInputPixels: maxPixels, autoOrient: true })
      .resize(largest, largest, { fit: 'cover', position: 'centre' })
      .toColourspace('srgb');
    const square = await (jpeg ? base.removeAlpha() : base.ensureAlpha()).raw().toBuffer();
    const icons = await Promise.all(ICON_SIZES.map(async ([name, size]) => {
      let img = sharp(square, { raw: { width: largest, height: largest, channels } });
      if (size !== largest) img = img.resize(size, size);
      const out = jpeg ? withJfif96(await img.jpeg({ quality: 90, progressive: false }).toBuffer()) : await img.png({ compressionLevel: 1 }).toBuffer();
      return { filename: `${name}.${jpeg ? 'jpg' : 'png'}`, data: out, contenthash: sha1(out) };
    }));
    return { ok: true, set: { mimetype: jpeg ? 'image/jpeg' : 'image/png', icons } };
  } catch (e) {
    return { ok: false, kind: 'not an image', reason: `the image data is damaged (${(e as Error).message})` };
  }
}

const contentPath = (moodledata: string, area: 'filedir' | 'trashdir', hash: string) => path.join(moodledata, area, hash.slice(0, 2), hash.slice(2, 4), hash);

/** Creates the folders under moodledata that are missing, with Moodle's mode (umask aside). */
async function ensureDirs(moodledata: string, parts: string[]): Promise<void> {
  let dir = moodledata;
  for (const part of parts) {
    dir = path.join(dir, part);
    try {
      await fsp.mkdir(dir);
      await fsp.chmod(dir, DIR_MODE);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
  }
}

/**
 * Writes a content file once: filedir/<2 hex>/<2 hex>/<sha1>. Content-addressed, so writing it
 * before the transaction commits is safe to repeat; the temporary name then rename means a reader
 * never sees half a file.
 */
export async function storeContent(moodledata: string, data: Buffer, hash = sha1(data)): Promise<string> {
  const abs = contentPath(moodledata, 'filedir', hash);
  const st = await fsp.stat(abs).catch(() => undefined);
  if (st?.isFile() && st.size === data.length) return hash;
  await ensureDirs(moodledata, ['filedir', hash.slice(0, 2), hash.slice(2, 4)]);
  const tmp = `${abs}.msync-tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    await fsp.writeFile(tmp, data, { mode: FILE_MODE });
    await fsp.chmod(tmp, FILE_MODE);
    await fsp.rename(tmp, abs);
  } catch (e) {
    await fsp.rm(tmp, { force: true });
    throw e;
  }
  return hash;
}

/** The user's context id, made as context_user::instance makes it when the user has none. */
async function userContextId(conn: PoolConnection, db: MoodleDb, userid: number): Promise<number> {
  const find = async () => (await conn.query<RowDataPacket[]>(`SELECT id FROM ${db.t('context')} WHERE contextlevel = ? AND instanceid = ?`, [CONTEXT_USER, userid]))[0];
  let rows = await find();
  if (!rows.length) {
    await insertUserContexts(conn, db, [userid]);
    rows = await find();
  }
  return Number(rows[0].id);
}

const pathnamehash = (contextid: number, filename: string) => sha1(`/${contextid}/user/icon/0/${filename}`);

/**
 * Replaces the user's icon area with `set` and points user.picture at the new f1 row, inside the
 * caller's transaction. Returns the new f1 id and the content hashes the old rows used, to trash
 * once committed if nothing else uses them. The content files must already be in filedir.
 */
export async function replaceUserPicture(conn: PoolConnection, db: MoodleDb, userid: number, set: IconSet, now: number): Promise<{ f1id: number; replaced: boolean; oldHashes: string[] }> {
  const contextid = await userContextId(conn, db, userid);
  const [old] = await conn.query<RowDataPacket[]>(
    `SELECT id, contenthash FROM ${db.t('files')} WHERE contextid = ? AND component = 'user' AND filearea = 'icon' AND itemid = 0`, [contextid]);
  if (old.length) await conn.query(`DELETE FROM ${db.t('files')} WHERE id IN (?)`, [old.map((r) => r.id)]);
  const [f1, f2, f3] = set.icons;
  const row = (filename: string, contenthash: string, size: number, mimetype: string | null) =>
    [contenthash, pathnamehash(contextid, filename), contextid, 'user', 'icon', 0, '/', filename, null, size, mimetype, 0, null, null, null, now, now, 0, null];
  // Moodle inserts f1, then the directory row, then f2 and f3: consecutive ids in that order.
  await conn.query<ResultSetHeader>(
    `INSERT INTO ${db.t('files')} (contenthash, pathnamehash, contextid, component, filearea, itemid, filepath, filename, userid, filesize, mimetype,
       status, source, author, license, timecreated, timemodified, sortorder, referencefileid) VALUES ?`,
    [[row(f1.filename, f1.contenthash, f1.data.length, set.mimetype), row('.', EMPTY_SHA1, 0, null),
      row(f2.filename, f2.contenthash, f2.data.length, set.mimetype), row(f3.filename, f3.contenthash, f3.data.length, set.mimetype)]]);
  const [[{ id: f1id }]] = await conn.query<RowDataPacket[]>(`SELECT id FROM ${db.t('files')} WHERE pathnamehash = ?`, [pathnamehash(contextid, f1.filename)]);
  // Only picture changes: Moodle does not touch timemodified here.
  await conn.query(`UPDATE ${db.t('user')} SET picture = ? WHERE id = ?`, [f1id, userid]);
  const kept = new Set(set.icons.map((i) => i.contenthash));
  return { f1id: Number(f1id), replaced: old.length > 0, oldHashes: [...new Set(old.map((r) => String(r.contenthash)))].filter((h) => !kept.has(h) && h !== EMPTY_SHA1) };
}

/** Writes an icon set's contents (and the empty content the directory row names) to filedir. */
export async function storeIcons(moodledata: string, set: IconSet): Promise<void> {
  await storeContent(moodledata, Buffer.alloc(0), EMPTY_SHA1);
  for (const icon of set.icons) await storeContent(moodledata, icon.data, icon.contenthash);
}

/**
 * After the commit: contents no files row uses any more move from filedir to trashdir, as
 * Moodle's file storage does (its cron empties the trash later).
 */
export async function trashUnusedContents(db: MoodleDb, moodledata: string, hashes: string[]): Promise<void> {
  for (const hash of hashes) {
    const [used] = await db.pool.query<RowDataPacket[]>(`SELECT 1 FROM ${db.t('files')} WHERE contenthash = ? LIMIT 1`, [hash]);
    if (used.length) continue;
    const from = contentPath(moodledata, 'filedir', hash);
    if (!(await fsp.stat(from).catch(() => undefined))) continue;
    await ensureDirs(moodledata, ['trashdir', hash.slice(0, 2), hash.slice(2, 4)]);
    await fsp.rename(from, contentPath(moodledata, 'trashdir', hash));
  }
}
