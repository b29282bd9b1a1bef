import * as fs from 'node:fs';
import type { Encoding } from './records';

/**
 * Whole-file encoding check, streamed: text that is not what `encoding` says, or that is not text
 * at all, refuses the file before any write, naming the line and what to do.
 */
export async function checkEncoding(abs: string, encoding: Encoding): Promise<string | undefined> {
  let line = 1;
  let need = 0; // continuation bytes still expected in a UTF-8 sequence
  let lead = { line: 0, byte: 0 }; // where that sequence started: the byte to name when it breaks
  let multibyteLine = 0; // first line with a valid multi-byte UTF-8 sequence
  let invalid: { line: number; byte: number } | undefined;
  let first = true;
  let bom = false;
  for await (const chunk of fs.createReadStream(abs, { highWaterMark: 256 * 1024 }) as AsyncIterable<Buffer>) {
    if (first) {
      first = false;
      bom = chunk.length >= 3 && chunk[0] === 0xef && chunk[1] === 0xbb && chunk[2] === 0xbf;
    }
    for (let i = 0; i < chunk.length; i++) {
      const b = chunk[i];
      if (b === 0x00) return `line ${line}: binary content (a NUL byte): this is not a CSV text file`;
      if (b === 0x0a) line++;
      if (invalid) continue;
      if (need > 0) {
        if ((b & 0xc0) === 0x80) {
          if (--need === 0 && !multibyteLine) multibyteLine = line;
          continue;
        }
        invalid = lead;
        need = 0;
        continue;
      }
      if (b < 0x80) continue;
      lead = { line, byte: b };
      if (b >= 0xc2 && b <= 0xdf) need = 1;
      else if (b >= 0xe0 && b <= 0xef) need = 2;
      else if (b >= 0xf0 && b <= 0xf4) need = 3;
      else invalid = lead;
    }
  }
  if (need > 0 && !invalid) invalid = lead;
  if (encoding === 'UTF-8' && invalid) {
    return `line ${invalid.line}: the text is not valid UTF-8 (byte 0x${invalid.byte.toString(16).padStart(2, '0')}); it looks like ISO-8859-1: set encoding to ISO-8859-1 or convert the file to UTF-8`;
  }
  if (encoding === 'ISO-8859-1' && !invalid && (bom || multibyteLine)) {
    return `line ${bom ? 1 : multibyteLine}: the file is UTF-8${bom ? ' (it starts with a UTF-8 BOM)' : ''} but encoding is ISO-8859-1: set encoding to UTF-8 or convert the file`;
  }
  return undefined;
}
