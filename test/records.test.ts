/** The record reader on real files: boundaries, quotes, comments, encodings, byte ranges. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { readRecords, CsvSyntaxError, type CsvFormat } from '../activities/pipeline/records';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'msync-records-'));
const write = (name: string, content: string | Buffer) => {
  const abs = path.join(tmp, name);
  fs.writeFileSync(abs, content);
  return abs;
};
const utf8: CsvFormat = { separator: ';', encoding: 'UTF-8' };
const all = async (abs: string, format = utf8, from?: { offset: number; line: number }) => {
  const out = [];
  for await (const r of readRecords(abs, format, from)) out.push(r);
  return out;
};

describe('readRecords', () => {
  it('splits records, keeps quoted separators and line breaks, marks comments, drops the BOM', async () => {
    const text = '\ufeffusername;note\r\n# a comment with "an odd quote\r\nu1;"a;b"\r\n\r\nu2;"two\r\nlines ""quoted"""\n- dash\n(paren\n[bracket\n/slash\n spaced\nu3;last';
    const abs = write('a.csv', text);
    const recs = await all(abs);
    const data = recs.filter((r) => !r.comment);
    assert.deepEqual(data.map((r) => r.fields), [['username', 'note'], ['u1', 'a;b'], ['u2', 'two\r\nlines "quoted"'], ['u3', 'last']]);
    assert.deepEqual(data.map((r) => r.line), [1, 3, 5, 12]);
    const bytes = fs.readFileSync(abs);
    // Byte ranges give back the original lines, without their terminators.
    assert.equal(bytes.subarray(data[1].start, data[1].end).toString(), 'u1;"a;b"');
    assert.equal(bytes.subarray(data[2].start, data[2].end).toString(), 'u2;"two\r\nlines ""quoted"""');
    assert.equal(bytes.subarray(data[0].start, data[0].end).toString(), 'username;note');
    assert.equal(recs.filter((r) => r.comment).length, 7);
  });

  it('starts in the middle of a file at a record boundary', async () => {
    const abs = write('b.csv', 'h1;h2\nx;1\ny;"2\n2"\nz;3\n');
    const recs = await all(abs);
    const third = recs[2];
    const rest = await all(abs, utf8, { offset: third.start, line: third.line });
    assert.deepEqual(rest.map((r) => r.fields), [['y', '2\n2'], ['z', '3']]);
    assert.deepEqual(rest.map((r) => r.line), [3, 5]);
  });

  it('reads ISO-8859-1', async () => {
    const abs = write('c.csv', Buffer.from('nom;ville\nJos\xe9;Besan\xe7on\n', 'latin1'));
    const recs = await all(abs, { separator: ';', encoding: 'ISO-8859-1' });
    assert.deepEqual(recs[1].fields, ['José', 'Besançon']);
  });

  it('reports an unbalanced quote with its line', async () => {
    const abs = write('d.csv', 'a;b\n1;"open\n2;3\n');
    await assert.rejects(all(abs), (e: unknown) => e instanceof CsvSyntaxError && e.line === 2 && /never closed/.test(e.message));
  });

  it('keeps quotes inside unquoted fields as text (O"Brien, 5" screen), as csv-parse relax_quotes does', async () => {
    const abs = write('e.csv', 'a;b\nO"Brien;5" screen\n1;"x"y\n2;3\n');
    const recs = await all(abs);
    assert.deepEqual(recs.map((r) => r.fields), [['a', 'b'], ['O"Brien', '5" screen'], ['1', '"x"y'], ['2', '3']]);
  });
});
