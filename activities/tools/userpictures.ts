import * as path from 'node:path';
import type { RowDataPacket } from 'mysql2/promise';
import type { ChunkContext, DataRow, RowOutcome, Tool } from './types';
import { readUserSiteConfig } from '../moodle/users';
import { makeIcons, replaceUserPicture, storeIcons, trashUnusedContents, type IconSet } from '../moodle/pictures';

/**
 * The user pictures tool (reference 5.4): every zip named `<userpictures_fileprefix>*.zip`, in
 * name order; each image in it (any folder depth) is named after its user and becomes that user's
 * picture, as Moodle's process_new_icon makes it. The archive itself is read by the pipeline
 * (hostile archives are refused or contained there); this tool checks each image.
 */

/** One image's bytes once uncompressed, and its declared pixels (checked before decoding). */
export const MAX_IMAGE_BYTES = 20 * 1024 ** 2;
export const MAX_IMAGE_PIXELS = 40_000_000;
/** Images resized at once (sharp works on libuv's threads). */
const PARALLEL = 2;

type UserField = 'id' | 'idnumber' | 'username' | 'hostedusername' | 'email';
interface Target { id: number; username: string; picture: number }

/** The user key an entry carries: its file name without folders and without its last extension. */
export function userKey(entry: string): string {
  const base = path.posix.basename(entry);
  const dot = base.lastIndexOf('.');
  return dot > 0 ? base.slice(0, dot) : base;
}

/** Files that are never pictures: hidden files and the __MACOSX resource forks of Mac archives. */
const isSystemFile = (entry: string) => path.posix.basename(entry).startsWith('.') || entry.startsWith('__MACOSX/');

/** The one non-deleted user the key names, or why there is none. */
async function findUser(ctx: ChunkContext, field: UserField, key: string, localHost: number): Promise<Target | string> {
  let column: string = field;
  let value = key;
  let host = localHost;
  if (field === 'hostedusername') {
    // <username>@<mnethostid>: the host is the numeric id after the last @.
    const at = key.lastIndexOf('@');
    if (at <= 0 || !/^\d+$/.test(key.slice(at + 1))) return `"${key}" is not <username>@<mnet host id>`;
    column = 'username';
    value = key.slice(0, at);
    host = Number(key.slice(at + 1));
  }
  if (field === 'id' && !/^\d+$/.test(key)) return `"${key}" is not a user id`;
  if (value === '') return 'the file name gives no user key';
  const [rows] = await ctx.conn.query<RowDataPacket[]>(
    `SELECT id, username, picture FROM ${ctx.db.t('user')} WHERE \`${column}\` = ? AND mnethostid = ? AND deleted = 0 ORDER BY id LIMIT 2`, [value, host]);
  if (rows.length > 1) return `more than one user has ${field} "${key}"`;
  if (!rows.length) return `no user with ${field} "${key}"`;
  return { id: Number(rows[0].id), username: String(rows[0].username), picture: Number(rows[0].picture) };
}

/** Runs `fn` over `items`, `limit` at a time, keeping their order. */
async function mapLimit<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]);
    }
  }));
  return out;
}

const failed = (message: string): RowOutcome => ({ status: 'failed', message });
const skippedHasPicture = (u: Target): RowOutcome =>
  ({ status: 'skipped', message: `user ${u.username} (id ${u.id}) already has a picture and userpictures_overwrite is off` });

/** The icons of one entry, or its failure (read limits, not an image, too large). */
async function iconsOf(row: DataRow): Promise<IconSet | RowOutcome> {
  const read = await row.content!.read(MAX_IMAGE_BYTES);
  if (!read.ok) return failed(`${read.tooLarge ? 'too large' : 'not an image'}: ${read.reason}`);
  const made = await makeIcons(read.data, MAX_IMAGE_PIXELS);
  return made.ok ? made.set : failed(`${made.kind}: ${made.reason}`);
}

/**
 * A chunk of images: users are found first, the images resized next (no lock held yet), and the
 * rows written last, in entry order, each user re-read under lock so that a user named twice in
 * one zip ends with one picture.
 */
async function applyPictures(ctx: ChunkContext, rows: DataRow[]): Promise<RowOutcome[]> {
  const field = ctx.settings.userpictures_userfield as UserField;
  const overwrite = ctx.settings.userpictures_overwrite !== '0';
  const { mnethostid } = await readUserSiteConfig(ctx.conn, ctx.db);
  const out: RowOutcome[] = new Array(rows.length);
  const work: { i: number; user: Target }[] = [];
  for (const [i, row] of rows.entries()) {
    const entry = row.values.entry;
    if (isSystemFile(entry)) { out[i] = { status: 'skipped', message: 'a hidden or system file, not a picture' }; continue; }
    const user = await findUser(ctx, field, userKey(entry), mnethostid);
    if (typeof user === 'string') out[i] = failed(`user not found: ${user}`);
    else if (user.picture && !overwrite) out[i] = skippedHasPicture(user);
    else work.push({ i, user });
  }
  const icons = await mapLimit(work, PARALLEL, async ({ i }) => {
    const set = await iconsOf(rows[i]);
    // A simulation writes nothing, not even content files.
    if ('icons' in set && !ctx.simulate) await storeIcons(ctx.moodledata, set);
    return set;
  });
  for (const [k, { i, user }] of work.entries()) {
    const set = icons[k];
    if (!('icons' in set)) { out[i] = set; continue; }
    const [[current]] = await ctx.conn.query<RowDataPacket[]>(`SELECT picture FROM ${ctx.db.t('user')} WHERE id = ? FOR UPDATE`, [user.id]);
    if (Number(current.picture) && !overwrite) { out[i] = skippedHasPicture(user); continue; }
    const r = await replaceUserPicture(ctx.conn, ctx.db, user.id, set, ctx.now);
    if (r.oldHashes.length) ctx.afterCommit(() => trashUnusedContents(ctx.db, ctx.moodledata, r.oldHashes));
    out[i] = {
      status: 'applied',
      message: `updated: user ${user.username} (id ${user.id}), ${set.icons.map((x) => x.filename).join(', ')}${r.replaced ? ', replacing the previous picture' : ''}`,
    };
  }
  return out;
}

export const userPicturesTool: Tool = {
  name: 'userpictures',
  defaultOp: 'sync',
  syncAll: ['sync'],
  operations: [{
    tool: 'userpictures',
    op: 'sync',
    summary: 'set user pictures from zip archives of images named after their users',
    locationSetting: 'userpictures_fileprefix',
    location: (settings) => `${settings.userpictures_fileprefix || 'userpictures_'}*.zip`,
    input: 'zip',
    header: null,
    chunkSize: 50,
    forceCleanupSetting: 'userpictures_forcedeletion',
    apply: applyPictures,
  }],
};
