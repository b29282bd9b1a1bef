/** What a bench case is, and helpers the cases share. */
import * as fs from 'node:fs';
import type { Sandbox } from '../test/support/sandbox';

export interface Case {
  key: string;
  label: string;
  rows: number;
  /** Tool and operation the case runs (default: users). */
  tool?: string;
  op?: string;
  /** Extension of the input file (default: csv). */
  ext?: string;
  /** Rows per second to reach. */
  target: number;
  /** Peak worker RSS to stay under, in MB. */
  memTarget?: number;
  /** Not measured: what the file needs in Moodle first (users, courses). */
  setup?(sb: Sandbox): Promise<void>;
  /** Writes the case's input file. */
  write(abs: string): Promise<void>;
  /** Throws unless Moodle holds what the run should have made. */
  verify(sb: Sandbox, rows: { total: number; applied: number; failed: number }): Promise<void>;
}

/** Writes a CSV file from a header and a line generator, in 64 KB writes. */
export async function writeLines(abs: string, header: string, rows: number, line: (i: number) => string): Promise<void> {
  const out = fs.createWriteStream(abs);
  const write = (s: string) => (out.write(s) ? Promise.resolve() : new Promise<void>((r) => out.once('drain', () => r())));
  await write(`${header}\n`);
  let buf = '';
  for (let i = 1; i <= rows; i++) {
    buf += `${line(i)}\n`;
    if (buf.length > 1 << 16) { await write(buf); buf = ''; }
  }
  await write(buf);
  await new Promise<void>((resolve, reject) => out.end((e?: Error | null) => (e ? reject(e) : resolve())));
}
