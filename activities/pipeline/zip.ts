import * as fsp from 'node:fs/promises';
import { promisify } from 'node:util';
import * as zlib from 'node:zlib';
import * as yauzl from 'yauzl';

/**
 * Reading zip archives that may be hostile. Nothing is ever extracted to disk: an entry's name is
 * only a label, so `..`, absolute names and links cannot write anywhere. yauzl reads the central
 * directory (zip64, name encodings, unsafe-name checks); an entry's bytes are read here, straight
 * from its local header, inflated with an output cap, and checked against the declared size and
 * CRC, so no declared size is trusted.
 */

export const ZIP_LIMITS = {
  /** Entries (files and folders) in one archive. */
  maxEntries: 100_000,
  /** Declared uncompressed bytes of all entries together. */
  maxTotalBytes: 4 * 1024 ** 3,
  /** Expansion (uncompressed / compressed) past which an entry over `ratioFloorBytes` is a bomb. */
  maxRatio: 200,
  ratioFloorBytes: 1024 ** 2,
};

/** One file of the archive: where its data is and what it claims. */
export interface ZipUnit {
  name: string;
  /** Position in the central directory (ties between equal names keep this order). */
  index: number;
  localHeaderOffset: number;
  compressedSize: number;
  uncompressedSize: number;
  method: number;
  crc32: number;
  /** Why this entry cannot be read (a link, encryption, an unknown method), or undefined. */
  error?: string;
}

export type ZipListing = { ok: true; units: ZipUnit[]; folders: number } | { ok: false; refusal: string };

const S_IFMT = 0o170000;
const S_IFLNK = 0o120000;
const METHOD_STORED = 0;
const METHOD_DEFLATE = 8;

/** Unix mode bits of an entry made on a Unix system (0 otherwise). */
const unixMode = (e: yauzl.Entry) => ((e.versionMadeBy >> 8) === 3 ? (e.externalFileAttributes >>> 16) & 0xffff : 0);

/**
 * The archive's files in a stable order (name, then central directory position), or why the whole
 * archive is refused: not a readable zip, an unsafe entry name, too many entries, or a zip bomb.
 */
export async function listZip(abs: string): Promise<ZipListing> {
  let zip: yauzl.ZipFile;
  try {
    zip = await yauzl.openPromise(abs, { autoClose: false, decodeStrings: true, validateEntrySizes: true });
  } catch (e) {
    return { ok: false, refusal: `not a readable zip archive (${(e as Error).message})` };
  }
  const fileSize = (await fsp.stat(abs)).size;
  try {
    if (zip.entryCount > ZIP_LIMITS.maxEntries) {
      return { ok: false, refusal: `the archive has ${zip.entryCount} entries, more than the ${ZIP_LIMITS.maxEntries} accepted` };
    }
    const units: ZipUnit[] = [];
    let folders = 0;
    let total = 0;
    let index = 0;
    try {
      for await (const e of zip.eachEntry()) {
        const i = index++;
        if (e.fileName.endsWith('/')) { folders++; continue; }
        total += e.uncompressedSize;
        if (total > ZIP_LIMITS.maxTotalBytes) {
          return { ok: false, refusal: `the archive would expand to more than ${ZIP_LIMITS.maxTotalBytes} bytes (a zip bomb?)` };
        }
        if (e.uncompressedSize > ZIP_LIMITS.ratioFloorBytes && e.uncompressedSize > ZIP_LIMITS.maxRatio * Math.max(1, e.compressedSize)) {
          return { ok: false, refusal: `entry ${e.fileName} would expand ${Math.round(e.uncompressedSize / Math.max(1, e.compressedSize))} times (at most ${ZIP_LIMITS.maxRatio} accepted): a zip bomb?` };
        }
        const unit: ZipUnit = {
          name: e.fileName, index: i, localHeaderOffset: e.relativeOffsetOfLocalHeader, compressedSize: e.compressedSize,
          uncompressedSize: e.uncompressedSize, method: e.compressionMethod, crc32: e.crc32,
        };
        if ((unixMode(e) & S_IFMT) === S_IFLNK) unit.error = 'a symbolic link, never followed';
        else if (e.isEncrypted()) unit.error = 'encrypted, cannot be read';
        else if (e.compressionMethod !== METHOD_STORED && e.compressionMethod !== METHOD_DEFLATE) unit.error = `compression method ${e.compressionMethod} is not supported (stored or deflate only)`;
        else if (e.relativeOffsetOfLocalHeader + e.compressedSize > fileSize) unit.error = 'its data lies outside the archive (corrupt zip)';
        units.push(unit);
      }
    } catch (e) {
      // yauzl stops at the first unsafe name ("..", absolute path) or broken directory record.
      return { ok: false, refusal: `the archive is refused: ${(e as Error).message}` };
    }
    units.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : a.index - b.index));
    return { ok: true, units, folders };
  } finally {
    zip.close();
  }
}

const inflateRaw = promisify(zlib.inflateRaw) as (buf: Buffer, options: zlib.ZlibOptions) => Promise<Buffer>;

export type EntryRead = { ok: true; data: Buffer } | { ok: false; tooLarge: boolean; reason: string };

/**
 * An entry's bytes, at most `limit` of them: an entry declared larger is not read, inflating stops
 * one byte past the declared size (so a lying size costs nothing), and bytes that do not match
 * the declared size and CRC are refused.
 */
export async function readZipEntry(abs: string, unit: ZipUnit, limit: number): Promise<EntryRead> {
  if (unit.error) return { ok: false, tooLarge: false, reason: unit.error };
  if (unit.uncompressedSize > limit) return { ok: false, tooLarge: true, reason: `${unit.uncompressedSize} bytes once uncompressed (at most ${limit})` };
  const corrupt = (why: string): EntryRead => ({ ok: false, tooLarge: false, reason: `corrupt entry: ${why}` });
  const fh = await fsp.open(abs, 'r');
  let raw: Buffer;
  try {
    const header = Buffer.alloc(30);
    if ((await fh.read(header, 0, 30, unit.localHeaderOffset)).bytesRead < 30 || header.readUInt32LE(0) !== 0x04034b50) return corrupt('no local header where the directory says');
    const start = unit.localHeaderOffset + 30 + header.readUInt16LE(26) + header.readUInt16LE(28);
    // Compressed data is never larger than the declared output for the stored method, nor (much) for deflate.
    if (unit.compressedSize > limit + 1024 * 64) return { ok: false, tooLarge: true, reason: `${unit.compressedSize} compressed bytes (at most ${limit})` };
    raw = Buffer.alloc(unit.compressedSize);
    if ((await fh.read(raw, 0, raw.length, start)).bytesRead !== raw.length) return corrupt('its data is cut short');
  } finally {
    await fh.close();
  }
  let data: Buffer;
  if (unit.method === METHOD_STORED) data = raw;
  else {
    try {
      // One byte past the declared size is enough to know the archive lied (and it is within `limit`).
      data = await inflateRaw(raw, { maxOutputLength: unit.uncompressedSize + 1 });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE' || e instanceof RangeError) return corrupt(`more bytes than the ${unit.uncompressedSize} the archive declares`);
      return corrupt((e as Error).message);
    }
  }
  if (data.length !== unit.uncompressedSize) return corrupt(`${data.length} bytes where the archive declares ${unit.uncompressedSize}`);
  if (zlib.crc32(data) >>> 0 !== unit.crc32 >>> 0) return corrupt('CRC mismatch');
  return { ok: true, data };
}
