import * as fs from 'node:fs';
import { parse as parseSync } from 'csv-parse/sync';

/**
 * Reading command files. A small byte scanner finds where each record starts and ends (quote
 * aware, so a quoted field may hold separators and line breaks) and which lines are comments;
 * csv-parse splits each record into fields. Byte ranges let a tryback copy failed lines byte for
 * byte and let a chunk start reading in the middle of a file. Nothing holds a whole file.
 */

export type Encoding = 'UTF-8' | 'ISO-8859-1';

export interface CsvFormat {
  separator: string;
  encoding: Encoding;
}

/** One record of the file: where it is, and its fields (undefined for a comment or blank line). */
export interface RawRecord {
  /** 1-based number of the record's first physical line. */
  line: number;
  /** Byte range in the file, line terminator excluded. */
  start: number;
  end: number;
  comment: boolean;
}

/** A record as read: fields for data, nothing for a comment, or why its fields could not be read. */
export interface CsvRecord extends RawRecord {
  fields?: string[];
  error?: string;
}

/** Lines starting with these (or blank) are comments, as existing feeds rely on (spec decision 1). */
const COMMENT_START = new Set([0x23, 0x2f, 0x2d, 0x28, 0x5b, 0x20]); // # / - ( [ space
const QUOTE = 0x22;
const LF = 0x0a;
const CR = 0x0d;

export const UTF8_BOM = Buffer.from([0xef, 0xbb, 0xbf]);

/**
 * Splits a byte stream into records. Quote rules match csv-parse's: a quote opens a quoted field
 * only at the start of a field; inside one, "" is a quote and a lone " closes it.
 */
export class RecordScanner {
  private pending: Buffer[] = [];
  private pendingStart: number;
  private offset: number;
  private line: number;
  private recordLine: number;
  private atRecordStart = true;
  private atFieldStart = true;
  private inQuotes = false;
  private quoteMaybeClosed = false;
  private comment = false;
  private blank = true;
  private lastWasCR = false;

  constructor(private readonly separator: number, from: { offset: number; line: number } = { offset: 0, line: 1 }) {
    this.offset = from.offset;
    this.pendingStart = from.offset;
    this.line = from.line;
    this.recordLine = from.line;
  }

  /** True when the stream ended inside a quoted field (an unbalanced quote). */
  get unterminatedQuote(): boolean {
    return this.inQuotes && !this.quoteMaybeClosed;
  }

  get openRecordLine(): number {
    return this.recordLine;
  }

  /** Feeds bytes; returns the records completed by them, with their bytes. */
  push(chunk: Buffer): { record: RawRecord; bytes: Buffer }[] {
    const out: { record: RawRecord; bytes: Buffer }[] = [];
    let sliceFrom = 0;
    for (let i = 0; i < chunk.length; i++) {
      const b = chunk[i];
      if (this.atRecordStart) {
        this.atRecordStart = false;
        this.comment = COMMENT_START.has(b);
        this.blank = b === LF || b === CR;
      }
      if (this.inQuotes) {
        if (this.quoteMaybeClosed) {
          this.quoteMaybeClosed = false;
          if (b === QUOTE) continue; // "" inside quotes
          this.inQuotes = false; // the quote closed the field; fall through for this byte
        } else {
          if (b === QUOTE) this.quoteMaybeClosed = true;
          else if (b === LF) this.line++;
          continue;
        }
      }
      if (b === LF) {
        const end = this.offset + i + 1;
        const bytes = this.take(chunk, sliceFrom, i + 1);
        sliceFrom = i + 1;
        let contentEnd = bytes.length - 1;
        if (contentEnd > 0 && bytes[contentEnd - 1] === CR) contentEnd--;
        out.push({
          record: { line: this.recordLine, start: end - bytes.length, end: end - bytes.length + contentEnd, comment: this.comment || this.blank },
          bytes: bytes.subarray(0, contentEnd),
        });
        this.line++;
        this.recordLine = this.line;
        this.atRecordStart = true;
        this.atFieldStart = true;
        continue;
      }
      if (b !== CR) this.blank = false;
      if (this.comment) continue;
      if (b === QUOTE && this.atFieldStart) {
        this.inQuotes = true;
        this.atFieldStart = false;
        continue;
      }
      this.atFieldStart = b === this.separator;
    }
    this.lastWasCR = chunk.length > 0 && chunk[chunk.length - 1] === CR;
    if (sliceFrom < chunk.length) this.pending.push(chunk.subarray(sliceFrom));
    this.offset += chunk.length;
    return out;
  }

  /** The last record when the file does not end with a line break. */
  finish(): { record: RawRecord; bytes: Buffer } | undefined {
    const bytes = Buffer.concat(this.pending);
    this.pending = [];
    if (bytes.length === 0) return undefined;
    const contentEnd = this.lastWasCR && !this.inQuotes ? bytes.length - 1 : bytes.length;
    const start = this.offset - bytes.length;
    return { record: { line: this.recordLine, start, end: start + contentEnd, comment: this.comment || this.blank }, bytes: bytes.subarray(0, contentEnd) };
  }

  private take(chunk: Buffer, from: number, to: number): Buffer {
    const part = chunk.subarray(from, to);
    if (this.pending.length === 0) return part;
    const all = Buffer.concat([...this.pending, part]);
    this.pending = [];
    return all;
  }
}

export class CsvSyntaxError extends Error {
  constructor(readonly line: number, message: string) {
    super(message);
  }
}

/** Splits one record's text into fields; csv-parse handles every record that has quotes. */
export function createFieldSplitter(format: CsvFormat) {
  const decoder = format.encoding === 'UTF-8' ? 'utf8' : 'latin1';
  const options = { delimiter: format.separator, record_delimiter: '\n', relax_column_count: true, relax_quotes: true, skip_empty_lines: false } as const;
  return {
    decode: (bytes: Buffer): string => bytes.toString(decoder),
    /** Parses one record (its bytes, no line terminator); throws csv-parse's error on bad quoting. */
    split(bytes: Buffer): string[] {
      const text = bytes.toString(decoder);
      // Without a quote, plain splitting gives exactly what csv-parse gives, much faster.
      if (!text.includes('"')) return text.split(format.separator);
      const records = parseSync(text, options) as string[][];
      if (records.length !== 1) throw new Error(`expected one record, found ${records.length}`);
      return records[0];
    },
  };
}

/**
 * Reads records from `from` (a record boundary) to the end or for `limit` data records.
 * Comment and blank lines are yielded with `comment: true` and no fields.
 */
export async function* readRecords(abs: string, format: CsvFormat, from: { offset: number; line: number } = { offset: 0, line: 1 }): AsyncGenerator<CsvRecord> {
  const scanner = new RecordScanner(format.separator.charCodeAt(0), from);
  const splitter = createFieldSplitter(format);
  const stream = fs.createReadStream(abs, { start: from.offset, highWaterMark: 256 * 1024 });
  let first = from.offset === 0;
  const emit = function* (items: { record: RawRecord; bytes: Buffer }[]) {
    for (const { record, bytes } of items) {
      let body = bytes;
      if (first) {
        first = false;
        if (format.encoding === 'UTF-8' && body.subarray(0, 3).equals(UTF8_BOM)) {
          body = body.subarray(3);
          record.start += 3;
          record.comment = body.length === 0 || COMMENT_START.has(body[0]) || body[0] === CR;
        }
      }
      if (record.comment) { yield { ...record }; continue; }
      try {
        yield { ...record, fields: splitter.split(body) };
      } catch (e) {
        yield { ...record, error: (e as Error).message };
      }
    }
  };
  for await (const chunk of stream) yield* emit(scanner.push(chunk as Buffer));
  if (scanner.unterminatedQuote) throw new CsvSyntaxError(scanner.openRecordLine, `line ${scanner.openRecordLine}: a quoted field opens here and is never closed (unbalanced quote)`);
  const last = scanner.finish();
  if (last) yield* emit([last]);
}
