/**
 * The shared processing pipeline, through the real path (the moodle-sync CLI and worker processes,
 * a Temporal dev server, a Moodle database copied from the fixture, real files in the store),
 * driven with the users tool: report, tryback, archive and cleanup, simulation, output names,
 * file locations, refusals, a corpus of bad inputs, and what Temporal shows of a run.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { createHash } from 'node:crypto';
import type { RowDataPacket } from 'mysql2';
import { configure, openSandbox, waitFor, type CliResult, type Sandbox } from './support/sandbox';
import { progressQuery, searchAttributes, type FileProgress } from '../workflows/shared';

const HEADER = 'username;firstname;lastname;email';
const latin1 = (s: string) => Buffer.from(s, 'latin1');
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
/** The output name stamp of a moment, in local time, as the worker writes it. */
const stamp = (ms: number) => {
  const d = new Date(ms);
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}${p(d.getMonth() + 1)}${p(d.getDate())}-${p(d.getHours())}${p(d.getMinutes())}`;
};

describe('pipeline (users tool)', () => {
  let sb: Sandbox;

  const put = async (name: string, content: string | Buffer) => {
    const abs = path.join(sb.storeRoot, name);
    await fsp.mkdir(path.dirname(abs), { recursive: true });
    await fsp.writeFile(abs, content);
    return abs;
  };
  const storeBytes = (rel: string) => fsp.readFile(path.join(sb.storeRoot, rel));
  const storeText = async (rel: string) => (await storeBytes(rel)).toString('utf8');
  const inStore = (rel: string) => fs.existsSync(path.join(sb.storeRoot, rel));
  const setConfig = (pairs: Record<string, string>) => configure(sb, pairs);
  const run = (...args: string[]): Promise<CliResult> => sb.cli(['run', 'users', ...args, '--wait', '--json']);
  /** Runs a file that must complete (exit 0); returns the JSON result. */
  const runOk = async (file: string, ...args: string[]) => {
    const r = await run('--file', file, ...args);
    assert.equal(r.code, 0, `run ${file}: ${r.stdout}${r.stderr}`);
    assert.equal(r.json.status, 'completed');
    return r.json;
  };
  const user = async (username: string) => {
    const [r] = await sb.db.query<RowDataPacket[]>('SELECT * FROM mdl_user WHERE username = ?', [username]);
    return r[0];
  };
  const userCount = async () => {
    const [r] = await sb.db.query<RowDataPacket[]>('SELECT COUNT(*) AS n FROM mdl_user');
    return Number(r[0].n);
  };
  /** A file that must be refused as a whole: exit 1, the reason in the result and the report, no write, the input kept. */
  const expectRefused = async (name: string, content: string | Buffer, reason: RegExp) => {
    await put(name, content);
    const before = await userCount();
    const r = await run('--file', name);
    assert.equal(r.code, 1, `${name} should be refused: ${r.stdout}${r.stderr}`);
    assert.equal(r.json.status, 'failed');
    assert.equal(r.json.files[0].outcome, 'refused');
    assert.match(r.json.refusal, reason);
    assert.equal(r.json.rows.applied, 0);
    const report = await storeText(r.json.report);
    // One line, whatever the reason holds (a quoted header name may hold a line break).
    assert.ok(report.includes(`FILE REFUSED, nothing was written: ${r.json.refusal.replace(/\r/g, '\\r').replace(/\n/g, '\\n')}\n`), report);
    assert.match(report, /^mode: live\n\nFILE REFUSED, nothing was written: [^\n]+\n\nend of report\n$/m);
    assert.equal(await userCount(), before, 'a refused file writes nothing');
    assert.equal(r.json.archive, null, 'a refused file is not archived');
    assert.ok((await storeBytes(name)).equals(Buffer.isBuffer(content) ? content : Buffer.from(content)), 'a refused file stays in the store as it was');
    return r.json;
  };

  before(async () => {
    sb = await openSandbox('pipeline');
    await fsp.mkdir(sb.storeRoot, { recursive: true });
    await setConfig({ storereport: '1', filefailed: '1', filearchive: '1', users_primaryidentity: 'username' });
    await sb.startWorker();
  });
  after(async () => sb?.close());

  it('writes a report: header with tool, operation, file, start time and mode; one line per row; totals; end of report', async () => {
    const content = [HEADER, '# a comment line', 'rep1;Ann;One;rep1@example.com', '', 'rep2;"Multi', 'line";Two;not-an-email', 'rep3;Cy;Three;rep3@example.com', 'rep4;Dee;Four;"bad\r', 'email"', ''].join('\n');
    await put('report.csv', content);
    const t0 = Date.now();
    const r = await runOk('report.csv');
    const t1 = Date.now();
    assert.deepEqual(r.rows, { total: 4, applied: 2, failed: 2, skipped: 0 });
    assert.ok([stamp(t0), stamp(t1)].map((s) => `reports/${s}_report_report.csv`).includes(r.report), r.report);
    const report = await storeText(r.report);
    const u1 = await user('rep1');
    const u3 = await user('rep3');
    const m = new RegExp([
      '^moodle-sync report',
      'tool: users',
      'operation: add',
      `file: report\\.csv \\(sha256 ${sha256(Buffer.from(content))}\\)`,
      'started: (\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d) UTC',
      'mode: live',
      '',
      `line 3: applied: user rep1 \\(id ${u1.id}\\) created`,
      'line 5: failed: column email: "not-an-email" is not accepted \\(not an e-mail address\\)',
      `line 7: applied: user rep3 \\(id ${u3.id}\\) created`,
      // A line break in a message is shown as \r \n: the report keeps one line per row.
      'line 8: failed: column email: "bad\\\\r\\\\nemail" is not accepted \\(not an e-mail address\\)',
      '',
      '4 row\\(s\\): 2 applied, 2 failed, 0 skipped',
      '',
      'end of report\n$',
    ].join('\n')).exec(report);
    assert.ok(m, `unexpected report:\n${report}`);
    const started = Date.parse(`${m[1].replace(' ', 'T')}Z`);
    assert.ok(started >= Math.floor(t0 / 1000) * 1000 && started <= t1, `start time ${m[1]} is not the run's`);
    assert.equal(await user('rep2'), undefined);
  });

  it('writes a tryback: the original header line, then the failed lines byte for byte (ISO-8859-1, quoted separator and line break)', async () => {
    await setConfig({ encoding: 'ISO-8859-1' });
    try {
      const header = latin1('username;firstname;lastname;email');
      const ok1 = latin1('iso1;Amélie;Dupont;iso1@example.com');
      const bad1 = latin1('iso2;"Zoë; the\r\nsecond";Brontë;not-an-email');
      const bad2 = latin1('iso3;Günter;Grass');
      const ok2 = latin1('iso4;Jürgen;Çava;iso4@example.com');
      const nl = Buffer.from('\n');
      const content = Buffer.concat([header, nl, ok1, nl, bad1, nl, bad2, nl, ok2, nl]);
      await put('latin.csv', content);
      const r = await runOk('latin.csv');
      assert.deepEqual(r.rows, { total: 4, applied: 2, failed: 2, skipped: 0 });
      assert.match(r.tryback, /^latin_tryback_\d{8}-\d{4}\.csv$/);
      const tryback = await storeBytes(r.tryback);
      assert.equal(tryback.toString('hex'), Buffer.concat([header, nl, bad1, nl, bad2, nl]).toString('hex'), 'the tryback is not the header and the failed lines, byte for byte');
      // The ISO-8859-1 text was converted once (no mojibake) into Moodle's UTF-8.
      assert.equal((await user('iso1')).firstname, 'Amélie');
      assert.equal((await user('iso4')).lastname, 'Çava');
      const report = await storeText(r.report);
      assert.match(report, /line 3: failed: column email: "not-an-email" is not accepted/);
      assert.match(report, /line 5: failed: line 5: 3 values for 4 columns/);
      // The tryback itself replays: fixed, it is a valid input of the same format.
      const fixed = Buffer.concat([header, nl, latin1('iso2;"Zoë; the\r\nsecond";Brontë;iso2@example.com'), nl, latin1('iso3;Günter;Grass;iso3@example.com'), nl]);
      await put(r.tryback, fixed);
      const replay = await runOk(r.tryback);
      assert.deepEqual(replay.rows, { total: 2, applied: 2, failed: 0, skipped: 0 });
      assert.equal((await user('iso2')).firstname, 'Zoë; the\r\nsecond');
      assert.equal((await user('iso3')).firstname, 'Günter');
    } finally {
      await setConfig({ encoding: 'UTF-8' });
    }
  });

  it('archives under archives/ and, with filecleanup, removes the input only after its report and tryback exist', async () => {
    await setConfig({ filecleanup: '1' });
    const events: string[] = [];
    const watchers = [
      fs.watch(sb.storeRoot, (type, name) => events.push(`root:${type}:${name}`)),
      fs.watch(path.join(sb.storeRoot, 'reports'), (type, name) => events.push(`reports:${type}:${name}`)),
      fs.watch(path.join(sb.storeRoot, 'archives'), (type, name) => events.push(`archives:${type}:${name}`)),
    ];
    try {
      const content = `${HEADER}\narc1;Ann;One;arc1@example.com\narc2;Bob;Two;broken-email\n`;
      await put('archived.csv', content);
      await new Promise((res) => setTimeout(res, 200)); // the creation's own events come first
      events.length = 0;
      const r = await runOk('archived.csv');
      assert.deepEqual(r.rows, { total: 2, applied: 1, failed: 1, skipped: 0 });
      assert.match(r.archive, /^archives\/\d{8}-\d{4}_archived\.csv$/);
      assert.equal(await storeText(r.archive), content, 'the archive is the input as it ran');
      assert.equal(inStore('archived.csv'), false, 'filecleanup removes the input');
      assert.ok(inStore(r.report) && inStore(r.tryback));
      await new Promise((res) => setTimeout(res, 300)); // the last events arrive
      const at = (what: string) => events.lastIndexOf(what);
      const removed = at('root:rename:archived.csv');
      assert.ok(removed >= 0, `no removal seen: ${events.join(', ')}`);
      for (const written of [`reports:rename:${path.basename(r.report)}`, `root:rename:${r.tryback}`, `archives:rename:${path.basename(r.archive)}`]) {
        const i = at(written);
        assert.ok(i >= 0 && i < removed, `${written} must come before the input's removal: ${events.join(', ')}`);
      }
    } finally {
      for (const w of watchers) w.close();
      await setConfig({ filecleanup: '0' });
    }
    // Without filearchive, nothing is archived.
    await setConfig({ filearchive: '0' });
    try {
      await put('notarchived.csv', `${HEADER}\narc3;Cy;Three;arc3@example.com\n`);
      const r = await runOk('notarchived.csv');
      assert.equal(r.archive, null);
      assert.deepEqual((await fsp.readdir(path.join(sb.storeRoot, 'archives'))).filter((n) => n.endsWith('notarchived.csv')), []);
      assert.ok(inStore('notarchived.csv'), 'without filecleanup the input stays');
    } finally {
      await setConfig({ filearchive: '1' });
    }
  });

  it('--simulate: the report says simulation and shows every row; nothing reaches mdl_user; the input is neither moved nor archived', async () => {
    await setConfig({ filecleanup: '1' });
    try {
      const content = `${HEADER}\nsim1;Ann;One;sim1@example.com\nsim2;Bob;Two;bad\nsim3;Cy;Three;sim3@example.com\n`;
      await put('simulated.csv', content);
      const before = await userCount();
      const r = await runOk('simulated.csv', '--simulate');
      assert.equal(r.simulate, true);
      assert.deepEqual(r.rows, { total: 3, applied: 2, failed: 1, skipped: 0 });
      const report = await storeText(r.report);
      assert.match(report, /^mode: SIMULATION: every row ran in a transaction that was rolled back; nothing was written to Moodle$/m);
      assert.match(report, /^line 2: applied: user sim1 \(id \d+\) created$/m);
      assert.match(report, /^line 3: failed: column email: "bad"/m);
      assert.match(report, /^line 4: applied: user sim3 \(id \d+\) created$/m);
      assert.equal(await userCount(), before, 'a simulation writes no user');
      const [ctx] = await sb.db.query<RowDataPacket[]>('SELECT COUNT(*) AS n FROM mdl_context WHERE contextlevel = 30 AND instanceid NOT IN (SELECT id FROM mdl_user)');
      assert.equal(Number(ctx[0].n), 0, 'a simulation leaves no user context behind');
      assert.equal(await storeText('simulated.csv'), content, 'the input is still there, unchanged');
      assert.equal(r.archive, null);
      assert.deepEqual((await fsp.readdir(path.join(sb.storeRoot, 'archives'))).filter((n) => n.endsWith('_simulated.csv')), []);
      // The same file then runs for real.
      const live = await runOk('simulated.csv');
      assert.deepEqual(live.rows, { total: 3, applied: 2, failed: 1, skipped: 0 });
      assert.equal(await userCount(), before + 2);
      assert.equal(inStore('simulated.csv'), false);
    } finally {
      await setConfig({ filecleanup: '0' });
    }
  });

  it('gives two runs of the same file name in the same minute distinct report, tryback and archive names', async () => {
    const content = `${HEADER}\nsame1;Ann;One;same1@example.com\nsame2;Bob;Two;bad\n`;
    // Both runs must fall in one minute, or the names would differ anyway: a pair that straddles
    // a minute is run again, under another file name, in the next one.
    for (let attempt = 1; ; attempt++) {
      if (new Date().getSeconds() > 55) await new Promise((res) => setTimeout(res, (61 - new Date().getSeconds()) * 1000));
      const name = `same${attempt}.csv`;
      await put(name, content);
      const t0 = Date.now();
      const a = await runOk(name);
      const b = await runOk(name);
      const s = stamp(t0);
      if (s !== stamp(Date.now())) {
        assert.ok(attempt < 3, 'two runs never fell in one minute');
        continue;
      }
      assert.deepEqual([a.report, a.tryback, a.archive], [`reports/${s}_report_${name}`, `same${attempt}_tryback_${s}.csv`, `archives/${s}_${name}`]);
      assert.deepEqual([b.report, b.tryback, b.archive], [`reports/${s}-2_report_${name}`, `same${attempt}_tryback_${s}-2.csv`, `archives/${s}-2_${name}`]);
      // Neither run's outputs replaced the other's.
      assert.match(await storeText(a.report), attempt === 1 ? /line 2: applied: user same1 \(id \d+\) created/ : /line 2: applied: user same1 \(id \d+\) updated/);
      assert.match(await storeText(b.report), /line 2: applied: user same1 \(id \d+\) updated \(nothing changed\)/);
      for (const p of [a.tryback, b.tryback]) assert.equal(await storeText(p), `${HEADER}\nsame2;Bob;Two;bad\n`);
      for (const p of [a.archive, b.archive]) assert.equal(await storeText(p), content);
      break;
    }
  });

  it('runs every file of a comma list or a * pattern in name order, and never picks up a tryback or a report', async () => {
    await put('listb.csv', `${HEADER}\norder1;FromB;Order;order1@example.com\n`);
    await put('lista.csv', `${HEADER}\norder1;FromA;Order;order1@example.com\n`);
    await setConfig({ users_filelocation: 'listb.csv,lista.csv,listmissing.csv' });
    try {
      const r = await run();
      assert.equal(r.code, 0, r.stdout + r.stderr);
      assert.deepEqual(r.json.files.map((f: { file: string }) => f.file), ['lista.csv', 'listb.csv']);
      assert.equal((await user('order1')).firstname, 'FromB', 'lista.csv ran first, then listb.csv');

      await put('feed1.csv', `${HEADER}\nfeed1;Ann;Feed;feed1@example.com\nfeedbad;Bad;Feed;bad\n`);
      await put('feed2.csv', `${HEADER}\nfeed2;Bob;Feed;feed2@example.com\n`);
      await put('feed_notes.txt', 'not a match\n');
      await put('sub/feed3.csv', `${HEADER}\nfeed3;Cy;Feed;feed3@example.com\n`);
      await put('feed0_tryback_20250101-1200.csv', `${HEADER}\nfeedold;Old;Tryback;old@example.com\n`);
      await setConfig({ users_filelocation: 'feed*.csv' });
      const first = await run();
      assert.equal(first.code, 0, first.stdout + first.stderr);
      assert.deepEqual(first.json.files.map((f: { file: string }) => f.file), ['feed1.csv', 'feed2.csv']);
      assert.ok(first.json.files[0].tryback.startsWith('feed1_tryback_'), 'the first run leaves a tryback that matches the pattern');
      // A second run sees the new tryback (and the reports) in the store, and still takes only the inputs.
      const second = await run();
      assert.deepEqual(second.json.files.map((f: { file: string }) => f.file), ['feed1.csv', 'feed2.csv']);
      assert.equal(await user('feedold'), undefined, 'a tryback never runs as an input');
      assert.equal(await user('feed3'), undefined, 'the pattern does not reach into folders');
      assert.ok(await user('feed2'));
      // A pattern that matches everything in reports/ still takes no report.
      await setConfig({ users_filelocation: 'reports/*' });
      const reports = await run();
      assert.equal(reports.code, 0);
      assert.deepEqual(reports.json.files, []);
      assert.match(reports.json.message, /no input file: nothing in the store matches "reports\/\*"/);
    } finally {
      await setConfig({ users_filelocation: 'userimport.csv' });
    }
  });

  it('exits 2 on a missing --file, and on --file without a value', async () => {
    const r = await sb.cli(['run', 'users', '--file', 'nosuchfile.csv', '--wait', '--json']);
    assert.equal(r.code, 2);
    assert.match(r.json.error.message, /No such file in the store: "nosuchfile\.csv"/);
    const noValue = await sb.cli(['run', 'users', '--wait', '--json', '--file']);
    assert.equal(noValue.code, 2);
    assert.match(noValue.json.error.message, /--file needs a value/);
    const badOp = await sb.cli(['run', 'users', '--op', 'explode', '--file', 'same1.csv', '--json']);
    assert.equal(badOp.code, 2);
    assert.match(badOp.json.error.message, /no operation "explode"/);
  });

  it('refuses a bad file as a whole: exit 1, status failed, a report that says why, no database write', async () => {
    const json = await expectRefused('refused.csv', 'username;firstname;email\nref1;Ann;ref1@example.com\n', /^bad header \(line 1\): missing required column "lastname"$/);
    assert.equal(json.tryback, null);
    assert.equal(await user('ref1'), undefined);
  });

  describe('bad input corpus (with filecleanup on: nothing may be lost)', () => {
    before(async () => setConfig({ filecleanup: '1' }));
    after(async () => setConfig({ filecleanup: '0', encoding: 'UTF-8', csvseparator: ';' }));

    it('a "," file while csvseparator is ";"', async () => {
      await expectRefused('comma.csv', 'username,firstname,lastname\nc1,Ann,One\n', /the header "username,firstname,lastname" is one column when split by ";" but looks separated by ",": set csvseparator to ","/);
      await setConfig({ csvseparator: ',' });
      try {
        await expectRefused('semicolon.csv', 'username;firstname;lastname\nc1;Ann;One\n', /the header "username;firstname;lastname" is one column when split by "," but looks separated by ";": set csvseparator to ";"/);
      } finally {
        await setConfig({ csvseparator: ';' });
      }
    });

    it('ISO-8859-1 bytes while encoding is UTF-8', async () => {
      await expectRefused('latin-as-utf8.csv', latin1(`${HEADER}\nl1;Ann;One;l1@example.com\nl2;Zoë;Two;l2@example.com\n`),
        /^line 3: the text is not valid UTF-8 \(byte 0xeb\); it looks like ISO-8859-1: set encoding to ISO-8859-1 or convert the file to UTF-8$/);
      // The byte named is the accented one, on its own line, also when it ends the line.
      await expectRefused('latin-eol.csv', latin1(`${HEADER}\nl1;Ann;Brontë\nl2;Bob;Two;l2@example.com\n`), /^line 2: the text is not valid UTF-8 \(byte 0xeb\)/);
    });

    it('a UTF-8 file while encoding is ISO-8859-1', async () => {
      await setConfig({ encoding: 'ISO-8859-1' });
      try {
        await expectRefused('utf8-as-latin.csv', `${HEADER}\nu1;Ann;One;u1@example.com\nu2;Zoë;Two;u2@example.com\n`,
          /^line 3: the file is UTF-8 but encoding is ISO-8859-1: set encoding to UTF-8 or convert the file$/);
        await expectRefused('bom-as-latin.csv', `\ufeff${HEADER}\nu1;Ann;One;u1@example.com\n`, /^line 1: the file is UTF-8 \(it starts with a UTF-8 BOM\) but encoding is ISO-8859-1/);
      } finally {
        await setConfig({ encoding: 'UTF-8' });
      }
    });

    it('a UTF-8 BOM is accepted and the header still matches', async () => {
      await put('bom.csv', `\ufeff${HEADER}\nbom1;Zoë;Bom;bom1@example.com\n`);
      const r = await runOk('bom.csv');
      assert.deepEqual(r.rows, { total: 1, applied: 1, failed: 0, skipped: 0 });
      const u = await user('bom1');
      assert.equal(u.firstname, 'Zoë');
      assert.equal(u.email, 'bom1@example.com');
    });

    it('CRLF line ends are read as line ends, not as data', async () => {
      await put('crlf.csv', `${HEADER}\r\ncr1;Ann;One;cr1@example.com\r\ncr2;Bob;Two;bad\r\n`);
      const r = await runOk('crlf.csv');
      assert.deepEqual(r.rows, { total: 2, applied: 1, failed: 1, skipped: 0 });
      assert.equal((await user('cr1')).email, 'cr1@example.com');
      assert.match(await storeText(r.report), /^line 3: failed: column email: "bad" is not accepted/m);
      assert.equal(await storeText(r.tryback), `${HEADER}\ncr2;Bob;Two;bad\n`);
    });

    it('an unbalanced quote refuses the file and names the line', async () => {
      await expectRefused('quote.csv', `${HEADER}\nq1;Ann;One;q1@example.com\nq2;"Open;Two;q2@example.com\nq3;Cy;Three;q3@example.com\n`,
        /^line 3: a quoted field opens here and is never closed \(unbalanced quote\)$/);
      assert.equal(await user('q1'), undefined);
    });

    it('short and long rows fail alone ("N values for M columns"); the other rows are applied', async () => {
      const short = 'sl2;Bob;Short';
      const long = 'sl3;Cy;Long;sl3@example.com;extra';
      await put('shortlong.csv', `${HEADER}\nsl1;Ann;One;sl1@example.com\n${short}\n${long}\nsl4;Dee;Four;sl4@example.com\n`);
      const r = await runOk('shortlong.csv');
      assert.deepEqual(r.rows, { total: 4, applied: 2, failed: 2, skipped: 0 });
      const report = await storeText(r.report);
      assert.match(report, /^line 3: failed: line 3: 3 values for 4 columns$/m);
      assert.match(report, /^line 4: failed: line 4: 5 values for 4 columns$/m);
      assert.ok(await user('sl1'));
      assert.ok(await user('sl4'));
      assert.equal(await user('sl2'), undefined);
      assert.equal(await user('sl3'), undefined);
      assert.equal(inStore('shortlong.csv'), false);
      assert.equal(await storeText(r.tryback), `${HEADER}\n${short}\n${long}\n`, 'the failed rows are kept in the tryback');
    });

    it('an empty file', async () => {
      await expectRefused('empty.csv', '', /^the file is empty: a header line is expected$/);
      await expectRefused('blank.csv', '\n\n# only a comment\n', /^the file is empty: a header line is expected$/);
    });

    it('a header alone: 0 rows, completed', async () => {
      await put('headeronly.csv', `${HEADER}\n`);
      const r = await runOk('headeronly.csv');
      assert.deepEqual(r.rows, { total: 0, applied: 0, failed: 0, skipped: 0 });
      assert.equal(r.files[0].outcome, 'completed');
      assert.match(await storeText(r.report), /\n0 row\(s\): 0 applied, 0 failed, 0 skipped\n\nend of report\n$/);
    });

    it('binary junk', async () => {
      await expectRefused('junk.csv', zlib.gzipSync(Buffer.from(`${HEADER}\nj1;Ann;One;j1@example.com\n`)), /^line 1: binary content \(a NUL byte\): this is not a CSV text file$/);
    });

    it('a duplicate header column', async () => {
      await expectRefused('dupcol.csv', 'username;firstname;lastname;firstname\nd1;Ann;One;Two\n', /^bad header \(line 1\): column "firstname" appears twice \(columns 2 and 4\)$/);
    });

    it('an unknown column', async () => {
      await expectRefused('unknowncol.csv', 'username;firstname;lastname;shoesize\nk1;Ann;One;42\n', /^bad header \(line 1\): unknown column "shoesize"; accepted: username, firstname, lastname, /);
      await expectRefused('unknowncol2.csv', 'username;firstname;lastname;"shoe\nsize"\nk1;Ann;One;42\n', /^bad header \(line 1\): unknown column "shoe\nsize"; accepted: /);
    });

    it('a missing required column', async () => {
      await expectRefused('missingcol.csv', 'username;lastname\nm1;One\n', /^bad header \(line 1\): missing required column "firstname"$/);
    });

    it('a 100 KB field fails its row with a length error; the other rows are applied', async () => {
      const big = 'x'.repeat(100 * 1024);
      await put('bigfield.csv', `${HEADER};description\nbig1;Ann;One;big1@example.com;${big}\nbig2;${big};Two;big2@example.com;short\nbig3;Cy;Three;big3@example.com;\n`);
      const r = await runOk('bigfield.csv');
      assert.deepEqual(r.rows, { total: 3, applied: 2, failed: 1, skipped: 0 });
      assert.match(await storeText(r.report), /^line 3: failed: column firstname: "x{60}" is not accepted \(longer than 100 characters\)$/m);
      // No line length limit: a 100 KB value in a column that takes it arrives whole.
      assert.equal((await user('big1')).description, big);
      assert.ok(await user('big3'));
      assert.equal(await user('big2'), undefined);
      assert.equal((await storeBytes(r.tryback)).length, Buffer.byteLength(`${HEADER};description\nbig2;${big};Two;big2@example.com;short\n`));
    });

    it('SQL-injection and CSV-formula text are stored verbatim, as data', async () => {
      const values = [
        ['inj1', "Robert'); DROP TABLE mdl_user;--", '=cmd|\' /C calc\'!A0'],
        ['inj2', '1\' OR \'1\'=\'1', '+SUM(1;2)'],
        ['inj3', '"; DELETE FROM mdl_context; --', '@HYPERLINK("http://x")'],
        ['inj4', '\\\'; SELECT SLEEP(5); #', '-2+3'],
      ];
      const csvField = (v: string) => (/[;"\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v);
      await put('inject.csv', `${HEADER}\n${values.map(([u, f, l]) => `${u};${csvField(f)};${csvField(l)};${u}@example.com`).join('\n')}\n`);
      const [ctxBefore] = await sb.db.query<RowDataPacket[]>('SELECT COUNT(*) AS n FROM mdl_context');
      const before = await userCount();
      const r = await runOk('inject.csv');
      assert.deepEqual(r.rows, { total: 4, applied: 4, failed: 0, skipped: 0 });
      for (const [u, f, l] of values) {
        const row = await user(u);
        assert.equal(row.firstname, f);
        assert.equal(row.lastname, l);
      }
      assert.equal(await userCount(), before + 4, 'mdl_user is intact');
      const [ctxAfter] = await sb.db.query<RowDataPacket[]>('SELECT COUNT(*) AS n FROM mdl_context');
      assert.equal(Number(ctxAfter[0].n), Number(ctxBefore[0].n) + 4, 'mdl_context is intact');
      const [admin] = await sb.db.query<RowDataPacket[]>("SELECT username FROM mdl_user WHERE id = 2");
      assert.equal(admin[0].username, 'admin');
    });
  });

  describe('what Temporal shows', () => {
    it('gives the child workflow of a file the search attributes Tool, Operation, InputFile and Outcome', async () => {
      await put('visible.csv', `${HEADER}\nvis1;Ann;One;vis1@example.com\nvis2;Bob;Two;bad\n`);
      const r = await runOk('visible.csv');
      const childId = `${r.workflowId}/visible.csv`;
      const client = sb.temporal.client;
      const found = (await waitFor('the child in visibility with its outcome', async () => {
        for await (const wf of client.workflow.list({ query: "Tool='users' AND InputFile='visible.csv'" })) {
          if (wf.workflowId === childId && wf.typedSearchAttributes.get(searchAttributes.outcome)) return wf;
        }
        return undefined;
      }, 20000, 250))!;
      assert.equal(found.type, 'processFile');
      assert.equal(found.typedSearchAttributes.get(searchAttributes.tool), 'users');
      assert.equal(found.typedSearchAttributes.get(searchAttributes.operation), 'add');
      assert.equal(found.typedSearchAttributes.get(searchAttributes.inputFile), 'visible.csv');
      assert.equal(found.typedSearchAttributes.get(searchAttributes.outcome), 'completed-with-failures');
      const parent = (await waitFor('the parent with its outcome', async () => {
        for await (const wf of client.workflow.list({ query: `Tool='users' AND Outcome='completed' AND WorkflowId='${r.workflowId}'` })) return wf;
        return undefined;
      }, 20000, 250))!;
      assert.equal(parent.type, 'runTool');
      // A refused file's child says so too (refused.csv ran earlier in this file).
      const refused = (await waitFor('the refused child', async () => {
        for await (const wf of client.workflow.list({ query: "Tool='users' AND Outcome='refused' AND InputFile='refused.csv'" })) return wf;
        return undefined;
      }, 20000, 250))!;
      assert.equal(refused.type, 'processFile');
      // The progress query answers on the finished child.
      const progress = await client.workflow.getHandle(childId).query(progressQuery);
      assert.deepEqual({ rowsTotal: progress.rowsTotal, rowsDone: progress.rowsDone, failed: progress.failed, stage: progress.stage }, { rowsTotal: 2, rowsDone: 2, failed: 1, stage: 'done' });
    });

    it('answers the progress query while a file runs', async () => {
      const rows = 12_000;
      const lines = [HEADER];
      for (let i = 1; i <= rows; i++) lines.push(i % 1000 === 0 ? `prog${i};Bad;Row;bad` : `prog${i};First${i};Last${i};prog${i}@example.com`);
      await put('progress.csv', `${lines.join('\n')}\n`);
      const started = await sb.cli(['run', 'users', '--file', 'progress.csv', '--json']);
      assert.equal(started.code, 0, started.stderr);
      const handle = sb.temporal.client.workflow.getHandle(`${started.json.workflowId}/progress.csv`);
      const seen: FileProgress[] = [];
      await waitFor('the file run to finish', async () => {
        const p = await handle.query(progressQuery).catch(() => undefined);
        if (p) seen.push(p);
        return p?.stage === 'done';
      }, 90000, 20);
      const during = seen.filter((p) => p.stage === 'applying' && p.rowsDone < p.rowsTotal);
      assert.ok(during.length > 0, `no answer while rows were being applied: ${JSON.stringify(seen.slice(0, 5))} ... ${seen.length} answers`);
      for (const p of during) {
        assert.equal(p.rowsTotal, rows);
        assert.ok(p.rowsDone % 500 === 0, `rowsDone ${p.rowsDone} counts whole chunks`);
        assert.ok(p.failed <= p.rowsDone / 1000);
      }
      for (let i = 1; i < seen.length; i++) assert.ok(seen[i].rowsDone >= seen[i - 1].rowsDone, 'progress never goes back');
      const last = seen[seen.length - 1];
      assert.deepEqual({ rowsTotal: last.rowsTotal, rowsDone: last.rowsDone, failed: last.failed }, { rowsTotal: rows, rowsDone: rows, failed: rows / 1000 });
      const result = await sb.temporal.client.workflow.getHandle(started.json.workflowId).result();
      assert.deepEqual(result.files[0].rows, { total: rows, applied: rows - rows / 1000, failed: rows / 1000, skipped: 0 });
    });
  });
});
