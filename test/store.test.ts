/**
 * The file store and `moodle-sync files`: round trips through the real CLI (spawned, no Temporal,
 * no database), exit codes, --json shapes, and every way out of the store we could think of.
 * FileStore itself is also tested directly: the whole escape matrix, and atomic writes.
 */
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { runCli, type CliResult } from './support/sandbox';
import { FileStore } from '../activities/store';
import { SyncError } from '../activities/errors';

const SECRET = 'TOP-SECRET-OUTSIDE-THE-STORE';
const TEMP_MARK = '.msync-tmp-';
const CONCURRENCY = 3;

const worlds: string[] = [];
after(async () => {
  for (const dir of worlds) await fsp.rm(dir, { recursive: true, force: true });
});

const esc = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

interface World {
  tmp: string;
  moodledata: string;
  store: string;
  outside: string;
  local: string;
  env: NodeJS.ProcessEnv;
  cli(...args: string[]): Promise<CliResult>;
  /** Absolute path inside the store. */
  s(rel: string): string;
  /** Absolute path in the local (outside the store) working folder. */
  l(name: string): string;
}

/**
 * A fresh temporary world:
 *   <tmp>/moodledata/tool_sync   the store (reports/, archives/)
 *   <tmp>/moodledata/x           a secret just above the store ("../x")
 *   <tmp>/outside/secret.txt     a secret beside moodledata
 *   <tmp>/local/                 the local side of put/get
 */
async function makeWorld(opts: { links?: boolean; linkedArchives?: boolean } = {}): Promise<World> {
  const tmp = await fsp.mkdtemp(path.join(os.tmpdir(), 'msync-store-test-'));
  worlds.push(tmp);
  const moodledata = path.join(tmp, 'moodledata');
  const store = path.join(moodledata, 'tool_sync');
  const outside = path.join(tmp, 'outside');
  const local = path.join(tmp, 'local');
  for (const d of [moodledata, outside, local]) await fsp.mkdir(d, { recursive: true });
  await fsp.writeFile(path.join(outside, 'secret.txt'), SECRET);
  await fsp.writeFile(path.join(moodledata, 'x'), SECRET);
  await fsp.writeFile(path.join(local, 'hello.csv'), 'hello;world\n');
  if (opts.linkedArchives) {
    // The archives/ subfolder of the store is itself a link to a folder outside.
    await fsp.mkdir(path.join(outside, 'arch'));
    await fsp.mkdir(store, { recursive: true });
    await fsp.symlink(path.join(outside, 'arch'), path.join(store, 'archives'));
  }
  await new FileStore(store).ensureLayout();
  if (opts.links) {
    await fsp.writeFile(path.join(store, 'reports', 'ok.csv'), 'inside;content\n');
    await fsp.symlink(outside, path.join(store, 'reports', 'out')); // folder outside
    await fsp.symlink('../../../outside/secret.txt', path.join(store, 'reports', 'secret.csv')); // file outside (relative link)
    await fsp.symlink(path.join(outside, 'nothing.csv'), path.join(store, 'reports', 'dangling')); // dangling
    await fsp.symlink(path.join(outside, 'newdir'), path.join(store, 'reports', 'ddir')); // dangling folder
    await fsp.symlink('ok.csv', path.join(store, 'reports', 'inner.csv')); // stays inside
  }
  const env = { ...process.env, MOODLEDATA: moodledata, SYNC_STORE: '' };
  return {
    tmp, moodledata, store, outside, local, env,
    cli: (...args) => runCli(['files', ...args], env),
    s: (rel) => path.join(store, rel),
    l: (name) => path.join(local, name),
  };
}

/** Every entry under `root` (links not followed): type, content hash or link target. */
async function snapshot(root: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const walk = async (dir: string) => {
    for (const name of (await fsp.readdir(dir)).sort()) {
      const abs = path.join(dir, name);
      const rel = path.relative(root, abs);
      const st = await fsp.lstat(abs);
      if (st.isSymbolicLink()) out[rel] = `link -> ${await fsp.readlink(abs)}`;
      else if (st.isDirectory()) { out[rel] = 'dir'; await walk(abs); }
      else out[rel] = `file ${createHash('sha256').update(await fsp.readFile(abs)).digest('hex')}`;
    }
  };
  await walk(root);
  return out;
}

const passwdHash = async (): Promise<string> => createHash('sha256').update(await fsp.readFile('/etc/passwd')).digest('hex');

/** Runs a files command that must be refused as leaving the store, and checks nothing changed. */
async function expectRefused(w: World, args: string[], shown: string, why: RegExp = /./): Promise<CliResult> {
  const before = await snapshot(w.tmp);
  const passwd = await passwdHash();
  const r = await w.cli(...args);
  const what = `files ${args.join(' ')}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;
  assert.equal(r.code, 1, what);
  assert.match(r.stderr, new RegExp(`^moodle-sync: Refused store path "${esc(shown)}": `), what);
  assert.match(r.stderr, why, what);
  assert.match(r.stderr, /Store paths are relative to the store root and stay inside it\./, what);
  if (!args.includes('--json')) assert.equal(r.stdout, '', what);
  for (const text of [r.stdout, r.stderr]) {
    assert.ok(!text.includes(SECRET), `the secret leaked: ${what}`);
    assert.ok(!/^root:/m.test(text), `/etc/passwd leaked: ${what}`);
  }
  assert.deepEqual(await snapshot(w.tmp), before, `something changed on disk: ${what}`);
  assert.equal(await passwdHash(), passwd);
  return r;
}

const rawTempFiles = async (dir: string): Promise<string[]> => (await fsp.readdir(dir)).filter((n) => n.startsWith(TEMP_MARK));

// The CLI is spawned for every call (~1 s of start-up each): both groups run side by side.
describe('moodle-sync files', { concurrency: true }, () => {
  // ---------------------------------------------------------------------------------------------
  describe('moodle-sync files: everyday use', { concurrency: CONCURRENCY }, () => {
    it('ls at the root shows reports/ and archives/ (text and --json)', async () => {
      const w = await makeWorld();
      const text = await w.cli('ls');
      assert.equal(text.code, 0, text.stderr);
      assert.equal(text.stderr, '');
      const lines = text.stdout.trimEnd().split('\n');
      assert.match(lines[0], /^path\s+size\s+modified$/);
      assert.equal(lines.length, 3, text.stdout);
      assert.match(lines[1], /^archives\/\s+-\s+\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
      assert.match(lines[2], /^reports\/\s+-\s+\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);

      const json = await w.cli('ls', '--json');
      assert.equal(json.code, 0, json.stderr);
      assert.equal(json.json.root, w.store);
      assert.deepEqual(Object.keys(json.json).sort(), ['entries', 'root']);
      assert.deepEqual(json.json.entries.map((e: any) => [e.path, e.type, e.size]), [['archives', 'folder', 0], ['reports', 'folder', 0]]);
      for (const e of json.json.entries) assert.equal(typeof e.mtimeMs, 'number');
    });

    it('put, ls, cat, get, mv and rm round trip, byte for byte (text and binary)', async () => {
      const w = await makeWorld();
      const text = 'idnumber;firstname;lastname\r\nu1;Élodie;Müller\n"q";"x;y"\n';
      const binary = Buffer.concat([Buffer.from(Array.from({ length: 256 }, (_, i) => i)), randomBytes(70_000), Buffer.from([0, 0xff, 0x0d, 0x0a])]);
      await fsp.writeFile(w.l('users.csv'), text);
      await fsp.writeFile(w.l('blob.bin'), binary);
      const mtime = new Date('2001-02-03T04:05:06Z');
      await fsp.utimes(w.l('blob.bin'), mtime, mtime);

      const [putText, putBin] = await Promise.all([
        w.cli('put', w.l('users.csv'), 'reports/users.csv', '--json'),
        w.cli('put', w.l('blob.bin'), '--json'), // no target: the file's name at the root
      ]);
      assert.equal(putText.code, 0, putText.stderr);
      assert.deepEqual(putText.json, { put: 'reports/users.csv', size: Buffer.byteLength(text) });
      assert.equal(await fsp.readFile(w.s('reports/users.csv'), 'utf8'), text);
      assert.equal(putBin.code, 0, putBin.stderr);
      assert.deepEqual(putBin.json, { put: 'blob.bin', size: binary.length });
      assert.ok((await fsp.readFile(w.s('blob.bin'))).equals(binary));
      assert.equal((await fsp.stat(w.s('blob.bin'))).mtime.toISOString(), mtime.toISOString()); // put keeps the modification time
      assert.deepEqual(await rawTempFiles(w.store), []);
      assert.deepEqual(await rawTempFiles(w.s('reports')), []);

      const [ls, cat, get] = await Promise.all([
        w.cli('ls', '--recursive', '--json'),
        w.cli('cat', 'reports/users.csv'),
        w.cli('get', 'blob.bin', w.l('copy.bin'), '--json'),
      ]);
      assert.equal(ls.code, 0, ls.stderr);
      assert.deepEqual(ls.json.entries.map((e: any) => [e.path, e.type, e.size]), [
        ['archives', 'folder', 0], ['blob.bin', 'file', binary.length], ['reports', 'folder', 0], ['reports/users.csv', 'file', Buffer.byteLength(text)],
      ]);
      assert.equal(cat.code, 0, cat.stderr);
      assert.equal(cat.stdout, text); // ends with \n: printed as is
      assert.equal(get.code, 0, get.stderr);
      assert.deepEqual(get.json, { get: 'blob.bin', to: w.l('copy.bin') });
      assert.ok((await fsp.readFile(w.l('copy.bin'))).equals(binary));
      assert.deepEqual((await fsp.readdir(w.local)).sort(), ['blob.bin', 'copy.bin', 'hello.csv', 'users.csv']); // no temp file left

      const mv = await w.cli('mv', 'blob.bin', 'archives/2024/blob.bin', '--json');
      assert.equal(mv.code, 0, mv.stderr);
      assert.deepEqual(mv.json, { moved: 'blob.bin', to: 'archives/2024/blob.bin' });
      assert.equal(fs.existsSync(w.s('blob.bin')), false);
      assert.ok((await fsp.readFile(w.s('archives/2024/blob.bin'))).equals(binary));

      const rm = await w.cli('rm', 'archives/2024/blob.bin', '--json');
      assert.equal(rm.code, 0, rm.stderr);
      assert.deepEqual(rm.json, { removed: 'archives/2024/blob.bin' });
      assert.equal(fs.existsSync(w.s('archives/2024/blob.bin')), false);
      assert.ok(fs.existsSync(w.s('archives/2024')), 'rm removes the file, not its folder');
    });

    it('put refuses to replace a store file unless --force', async () => {
      const w = await makeWorld();
      await fsp.writeFile(w.s('reports/a.csv'), 'old');
      await fsp.writeFile(w.l('a.csv'), 'new');
      const refused = await w.cli('put', w.l('a.csv'), 'reports/a.csv');
      assert.equal(refused.code, 1);
      assert.match(refused.stderr, /"reports\/a\.csv" already exists in the store/);
      assert.equal(await fsp.readFile(w.s('reports/a.csv'), 'utf8'), 'old');
      const forced = await w.cli('put', w.l('a.csv'), 'reports/a.csv', '--force');
      assert.equal(forced.code, 0, forced.stderr);
      assert.equal(forced.stdout, `${w.l('a.csv')} -> store:reports/a.csv (3 B)\n`);
      assert.equal(await fsp.readFile(w.s('reports/a.csv'), 'utf8'), 'new');
    });

    it('mv refuses to overwrite unless --force', async () => {
      const w = await makeWorld();
      await fsp.writeFile(w.s('reports/a.csv'), 'A');
      await fsp.writeFile(w.s('archives/a.csv'), 'B');
      const refused = await w.cli('mv', 'reports/a.csv', 'archives/a.csv');
      assert.equal(refused.code, 1);
      assert.match(refused.stderr, /"archives\/a\.csv" already exists in the store \(use --force to replace it\)/);
      assert.equal(await fsp.readFile(w.s('reports/a.csv'), 'utf8'), 'A');
      assert.equal(await fsp.readFile(w.s('archives/a.csv'), 'utf8'), 'B');
      const forced = await w.cli('mv', 'reports/a.csv', 'archives/a.csv', '--force');
      assert.equal(forced.code, 0, forced.stderr);
      assert.equal(forced.stdout, 'store:reports/a.csv -> store:archives/a.csv\n');
      assert.equal(fs.existsSync(w.s('reports/a.csv')), false);
      assert.equal(await fsp.readFile(w.s('archives/a.csv'), 'utf8'), 'A');
    });

    it('put and mv into a folder (including the root) keep the file name', async () => {
      const w = await makeWorld();
      const intoFolder = await w.cli('put', w.l('hello.csv'), 'archives', '--json');
      assert.equal(intoFolder.code, 0, intoFolder.stderr);
      assert.deepEqual(intoFolder.json, { put: 'archives/hello.csv', size: 12 });
      assert.equal(await fsp.readFile(w.s('archives/hello.csv'), 'utf8'), 'hello;world\n');

      const intoRoot = await w.cli('put', w.l('hello.csv'), '/', '--json');
      assert.equal(intoRoot.code, 0, intoRoot.stderr);
      assert.deepEqual(intoRoot.json, { put: 'hello.csv', size: 12 });
      assert.equal(await fsp.readFile(w.s('hello.csv'), 'utf8'), 'hello;world\n');

      const mvIntoFolder = await w.cli('mv', 'hello.csv', 'reports');
      assert.equal(mvIntoFolder.code, 0, mvIntoFolder.stderr);
      assert.equal(await fsp.readFile(w.s('reports/hello.csv'), 'utf8'), 'hello;world\n');

      const mvToRoot = await w.cli('mv', 'archives/hello.csv', '.');
      assert.equal(mvToRoot.code, 0, mvToRoot.stderr);
      assert.equal(await fsp.readFile(w.s('hello.csv'), 'utf8'), 'hello;world\n');
      assert.equal(fs.existsSync(w.s('archives/hello.csv')), false);
    });

    it('rm refuses the root, reports/ and archives/ (usage, exit 2)', async () => {
      const w = await makeWorld();
      const cases: [string, string][] = [['/', '/'], ['reports', 'reports'], ['./archives/', './archives/']];
      const results = await Promise.all(cases.map(([arg]) => w.cli('rm', arg)));
      results.forEach((r, i) => {
        assert.equal(r.code, 2, r.stderr);
        assert.equal(r.stderr, `moodle-sync: "${cases[i][1]}" is part of the store's layout and cannot be removed.\n`);
      });
      assert.deepEqual((await fsp.readdir(w.store)).sort(), ['archives', 'reports']);
    });

    it('usage mistakes exit with 2 and say what is expected', async () => {
      const w = await makeWorld();
      const [none, unknown, catNone, mvOne, badOpt] = await Promise.all([
        w.cli(),
        w.cli('frobnicate', '--json'),
        w.cli('cat'),
        w.cli('mv', 'reports/a.csv'),
        w.cli('ls', '--bogus'),
      ]);
      for (const r of [none, unknown, catNone, mvOne, badOpt]) {
        assert.equal(r.code, 2, r.stderr);
        assert.match(r.stderr, /^moodle-sync: /);
      }
      assert.match(none.stderr, /files needs one of: ls, put, get, cat, rm, prune, mv\./);
      assert.deepEqual(Object.keys(unknown.json), ['error']);
      assert.equal(unknown.json.error.code, 'usage');
      assert.match(unknown.json.error.message, /files needs one of: ls, put, get, cat, rm, prune, mv\.\nUsage: moodle-sync files ls/);
      for (const r of [catNone, mvOne]) assert.match(r.stderr, /Wrong number of arguments\. Usage: moodle-sync files ls/);
      assert.match(badOpt.stderr, /Unknown option --bogus\. Options here: --json, --help, --recursive, --force, --dry-run, --older-than\./);
    });

    it('failures exit with 1: missing store file, missing local file, existing local file, folder as file', async () => {
      const w = await makeWorld();
      await fsp.writeFile(w.s('reports/a.csv'), 'A');
      await fsp.writeFile(w.l('taken.csv'), 'mine');
      const [getMissing, putMissing, getTaken, catFolder] = await Promise.all([
        w.cli('get', 'reports/nope.csv', w.l('nope.csv')),
        w.cli('put', w.l('absent.csv'), 'reports/absent.csv'),
        w.cli('get', 'reports/a.csv', w.l('taken.csv')),
        w.cli('cat', 'reports'),
      ]);
      assert.deepEqual([getMissing, putMissing, getTaken, catFolder].map((r) => r.code), [1, 1, 1, 1]);
      assert.equal(getMissing.stderr, 'moodle-sync: No such file in the store: "reports/nope.csv".\n');
      assert.equal(putMissing.stderr, `moodle-sync: No such local file: "${w.l('absent.csv')}".\n`);
      assert.equal(getTaken.stderr, `moodle-sync: Local file "${w.l('taken.csv')}" exists (use --force to replace it).\n`);
      assert.equal(catFolder.stderr, 'moodle-sync: "reports" is a folder in the store, not a file.\n');
      assert.equal(fs.existsSync(w.l('nope.csv')), false);
      assert.equal(fs.existsSync(w.s('reports/absent.csv')), false);
      assert.equal(await fsp.readFile(w.l('taken.csv'), 'utf8'), 'mine');
    });
  });

  // ---------------------------------------------------------------------------------------------
  const DOTDOT = /"\.\." is not allowed/;
  const ABSOLUTE = /absolute paths are not allowed/;
  const LINK_OUT = /a symbolic link on the way points outside the store/;
  const DANGLING = /it is a symbolic link that leads nowhere inside the store/;

  interface EscapeCase {
    name: string;
    world?: { links?: boolean; linkedArchives?: boolean };
    args: (w: World) => string[];
    shown: (w: World) => string;
    why: RegExp;
  }

  // Each case runs in a world of its own: the whole temporary tree is compared before and after.
  const escapeCases: EscapeCase[] = [
    { name: 'ls ..', args: () => ['ls', '..'], shown: () => '..', why: DOTDOT },
    { name: 'cat ../x (--json)', args: () => ['cat', '../x', '--json'], shown: () => '../x', why: DOTDOT },
    { name: 'put to a/../../x', args: (w) => ['put', w.l('hello.csv'), 'a/../../x', '--force'], shown: () => 'a/../../x', why: DOTDOT },
    { name: 'rm reports/../../x', args: () => ['rm', 'reports/../../x'], shown: () => 'reports/../../x', why: DOTDOT },
    { name: 'cat /etc/passwd', args: () => ['cat', '/etc/passwd'], shown: () => '/etc/passwd', why: ABSOLUTE },
    { name: 'get //etc/passwd', args: (w) => ['get', '//etc/passwd', w.l('passwd')], shown: () => '//etc/passwd', why: ABSOLUTE },
    { name: 'put to an absolute path', args: (w) => ['put', w.l('hello.csv'), path.join(w.outside, 'new.txt')], shown: (w) => path.join(w.outside, 'new.txt'), why: ABSOLUTE },
    { name: 'cat ..\\x (backslash)', args: () => ['cat', '..\\x'], shown: () => '..\\x', why: /use "\/" between folders, not "\\"/ },
    { name: 'cat file:///etc/passwd', args: () => ['cat', 'file:///etc/passwd'], shown: () => 'file:///etc/passwd', why: /URLs are not store paths/ },
    { name: 'ls through a link to a folder outside', world: { links: true }, args: () => ['ls', 'reports/out'], shown: () => 'reports/out', why: LINK_OUT },
    { name: 'cat through a link to a folder outside', world: { links: true }, args: () => ['cat', 'reports/out/secret.txt'], shown: () => 'reports/out/secret.txt', why: LINK_OUT },
    { name: 'put through a link to a folder outside', world: { links: true }, args: (w) => ['put', w.l('hello.csv'), 'reports/out/new.txt'], shown: () => 'reports/out/new.txt', why: LINK_OUT },
    { name: 'put with a link to a folder outside as target folder', world: { links: true }, args: (w) => ['put', w.l('hello.csv'), 'reports/out'], shown: () => 'reports/out', why: LINK_OUT },
    { name: 'cat a link to a file outside', world: { links: true }, args: () => ['cat', 'reports/secret.csv'], shown: () => 'reports/secret.csv', why: LINK_OUT },
    { name: 'get a link to a file outside', world: { links: true }, args: (w) => ['get', 'reports/secret.csv', w.l('got.csv')], shown: () => 'reports/secret.csv', why: LINK_OUT },
    { name: 'rm a link to a file outside', world: { links: true }, args: () => ['rm', 'reports/secret.csv'], shown: () => 'reports/secret.csv', why: LINK_OUT },
    { name: 'mv a link to a file outside', world: { links: true }, args: () => ['mv', 'reports/secret.csv', 'reports/mine.csv'], shown: () => 'reports/secret.csv', why: LINK_OUT },
    { name: 'mv --force onto a link to a file outside', world: { links: true }, args: () => ['mv', 'reports/ok.csv', 'reports/secret.csv', '--force'], shown: () => 'reports/secret.csv', why: LINK_OUT },
    { name: 'put --force onto a dangling link', world: { links: true }, args: (w) => ['put', w.l('hello.csv'), 'reports/dangling', '--force'], shown: () => 'reports/dangling', why: DANGLING },
    { name: 'put into a store subfolder that is a link outside', world: { linkedArchives: true }, args: (w) => ['put', w.l('hello.csv'), 'archives'], shown: () => 'archives', why: LINK_OUT },
      { name: 'mv from outside', world: { links: true }, args: () => ['mv', '../x', 'reports/x.csv'], shown: () => '../x', why: DOTDOT },
    { name: 'mv to outside', world: { links: true }, args: () => ['mv', 'reports/ok.csv', '../x', '--force'], shown: () => '../x', why: DOTDOT },
  ];

  describe('moodle-sync files: escape attempts are refused (exit 1, path named, nothing touched)', { concurrency: CONCURRENCY }, () => {
    for (const c of escapeCases) {
      it(c.name, async () => {
        const w = await makeWorld(c.world);
        const r = await expectRefused(w, c.args(w), c.shown(w), c.why);
        if (r.json !== undefined) {
          assert.equal(r.json.error.code, 'store.outside');
          assert.match(r.json.error.message, new RegExp(`^Refused store path "${esc(c.shown(w))}"`));
        }
      });
    }

    it('a NUL byte cannot even reach the CLI (spawn refuses it); FileStore refuses it too', async () => {
      const w = await makeWorld();
      await assert.rejects(w.cli('cat', 'reports/a\0b'), { code: 'ERR_INVALID_ARG_VALUE' });
      const store = new FileStore(w.store);
      await assert.rejects(store.requireFile('reports/a\0b'), (e: unknown) => e instanceof SyncError && e.code === 'store.outside' && /NUL byte/.test(e.message));
    });

    it('links and odd names that stay inside the store still work', async () => {
      const w = await makeWorld({ links: true });
      const before = await snapshot(w.outside);
      const [cat, odd] = await Promise.all([w.cli('cat', 'reports/inner.csv', '--json'), w.cli('put', w.l('hello.csv'), '%2e%2e/~/x')]);
      assert.equal(cat.code, 0, cat.stderr);
      assert.deepEqual(cat.json, { path: 'reports/inner.csv', content: 'inside;content\n' });
      assert.equal(odd.code, 0, odd.stderr);
      assert.equal(await fsp.readFile(w.s('%2e%2e/~/x'), 'utf8'), 'hello;world\n');
      assert.deepEqual(await snapshot(w.outside), before);
      assert.equal(await fsp.readFile(path.join(w.moodledata, 'x'), 'utf8'), SECRET);
    });
  });
});

// ---------------------------------------------------------------------------------------------
describe('FileStore', () => {
  it('normalise accepts relative paths and "/" for the root, refuses everything else', () => {
    const good: [string, string][] = [['', ''], ['/', ''], ['//', ''], ['.', ''], ['./reports', 'reports'], ['reports/', 'reports'],
      ['reports//a.csv', 'reports/a.csv'], ['reports/./a.csv', 'reports/a.csv'], ['...', '...'], ['a..b/c', 'a..b/c'], ['%2e%2e/x', '%2e%2e/x']];
    for (const [rel, norm] of good) assert.equal(FileStore.normalise(rel), norm, rel);
    const bad = ['..', '../x', './../x', 'a/../../x', 'reports/../../x', 'reports/..', 'a/..', '/etc/passwd', '//etc/passwd', '/./x',
      '..\\x', 'a\\b', 'file:///etc/passwd', 'file:x', 'C:/x', 'http://example.org/x', 'x\0y', '\0'];
    for (const rel of bad) {
      assert.throws(() => FileStore.normalise(rel), (e: unknown) => e instanceof SyncError && e.code === 'store.outside' && e.message.includes(`"${rel}"`), JSON.stringify(rel));
    }
  });

  it('every operation refuses every escape, and nothing outside changes', async () => {
    const w = await makeWorld({ links: true });
    // archives/ becomes a link to a folder outside, too.
    await fsp.rm(w.s('archives'), { recursive: true });
    await fsp.mkdir(path.join(w.outside, 'arch'));
    await fsp.symlink(path.join(w.outside, 'arch'), w.s('archives'));
    const store = new FileStore(w.store);
    await store.ensureLayout();
    const secretAbs = path.join(w.outside, 'secret.txt');
    const escapes = [
      '..', '../x', './../x', 'a/../../x', 'reports/../../x', '../tool_sync/reports/ok.csv',
      secretAbs, `/${secretAbs}`, '..\\x', 'reports\\..\\..\\x', `file://${secretAbs}`, 'x\0y',
      'reports/out', 'reports/out/secret.txt', 'reports/out/new.txt', 'reports/out/deep/new.txt',
      'reports/secret.csv', 'reports/dangling', 'reports/ddir', 'reports/ddir/new.txt', 'archives/new.txt', 'archives/x/y.csv',
    ];
    const before = await snapshot(w.tmp);
    let n = 0;
    for (const p of escapes) {
      const ops: [string, () => Promise<unknown>][] = [
        ['list', () => store.list(p, true)],
        ['stat', () => store.stat(p)],
        ['requireFile', () => store.requireFile(p)],
        ['resolve', () => store.resolve(p)],
        ['writeAtomic', () => store.writeAtomic(p, 'PWNED')],
        ['writeAtomic(stream)', () => store.writeAtomic(p, Readable.from([Buffer.from('PWNED')]))],
        ['importFile', () => store.importFile(p, w.l('hello.csv'))],
        ['exportFile', () => store.exportFile(p, w.l(`out-${n++}`))],
        ['remove', () => store.remove(p)],
        ['move from', () => store.move(p, 'reports/moved.csv', true)],
        ['move to', () => store.move('reports/ok.csv', p, true)],
      ];
      for (const [name, op] of ops) {
        await assert.rejects(op(), (e: unknown) => {
          assert.ok(e instanceof SyncError, `${name}(${JSON.stringify(p)}) threw ${String(e)}`);
          assert.equal(e.code, 'store.outside', `${name}(${JSON.stringify(p)}): ${e.message}`);
          assert.ok(e.message.includes(`"${p}"`), `${name}(${JSON.stringify(p)}): ${e.message}`);
          return true;
        }, `${name}(${JSON.stringify(p)}) was not refused`);
      }
    }
    assert.deepEqual(await snapshot(w.tmp), before);
  });

  it('writeAtomic leaves no temporary file behind (string, Buffer and stream)', async () => {
    const w = await makeWorld();
    const store = new FileStore(w.store);
    await store.ensureLayout();
    const abs = await store.writeAtomic('reports/a.csv', 'one');
    assert.equal(abs, w.s('reports/a.csv'));
    assert.equal(await fsp.readFile(abs, 'utf8'), 'one');
    await store.writeAtomic('reports/a.csv', Buffer.from([0, 1, 2, 255]));
    assert.deepEqual([...(await fsp.readFile(abs))], [0, 1, 2, 255]);
    await store.writeAtomic('reports/new/deeper/b.csv', Readable.from([Buffer.from('two'), Buffer.from('three')]));
    assert.equal(await fsp.readFile(w.s('reports/new/deeper/b.csv'), 'utf8'), 'twothree');
    assert.deepEqual(await fsp.readdir(w.s('reports')), ['a.csv', 'new']);
    assert.deepEqual(await fsp.readdir(w.s('reports/new/deeper')), ['b.csv']);
    await assert.rejects(store.writeAtomic('reports', 'x'), { code: 'store.not-a-file' });
    await assert.rejects(store.writeAtomic('', 'x'), { code: 'store.not-a-file' });
    assert.deepEqual(await rawTempFiles(w.store), []);
  });

  it('a failed stream write leaves the old content intact and no temporary file', async () => {
    const w = await makeWorld();
    const store = new FileStore(w.store);
    await store.ensureLayout();
    await store.writeAtomic('reports/a.csv', 'OLD CONTENT\n');
    const failing = () => {
      let sent = 0;
      return new Readable({
        read() {
          if (sent++ < 3) this.push(Buffer.alloc(64 * 1024, 'N'));
          else this.destroy(new Error('disk gone'));
        },
      });
    };
    await assert.rejects(store.writeAtomic('reports/a.csv', failing()), /disk gone/);
    assert.equal(await fsp.readFile(w.s('reports/a.csv'), 'utf8'), 'OLD CONTENT\n');
    await assert.rejects(store.writeAtomic('reports/fresh.csv', failing()), /disk gone/);
    assert.equal(fs.existsSync(w.s('reports/fresh.csv')), false);
    assert.deepEqual(await fsp.readdir(w.s('reports')), ['a.csv']);
  });

  it('readers see the old or the new file, never a part', async () => {
    const w = await makeWorld();
    const store = new FileStore(w.store);
    await store.ensureLayout();
    const size = 512 * 1024;
    await store.writeAtomic('reports/big.csv', Buffer.alloc(size, 'a'));
    let chunks = 0;
    const slow = new Readable({
      read() {
        if (chunks++ < 32) setTimeout(() => this.push(Buffer.alloc(size / 32, 'b')), 3); // ~100 ms of writing
        else this.push(null);
      },
    });
    const writing = store.writeAtomic('reports/big.csv', slow);
    let done = false;
    void writing.finally(() => (done = true));
    const seen = new Set<string>();
    while (!done) {
      const content = await fsp.readFile(w.s('reports/big.csv'), 'latin1');
      assert.equal(content.length, size);
      assert.ok(/^(a+|b+)$/.test(content), 'a reader saw a mix of old and new content');
      seen.add(content[0]);
    }
    await writing;
    assert.ok(seen.has('a'), 'the old file was readable during the write');
    assert.equal(await fsp.readFile(w.s('reports/big.csv'), 'latin1'), 'b'.repeat(size));
  });

  it('listing hides temporary files of writes in progress (but not other dot files) and links', async () => {
    const w = await makeWorld({ links: true });
    const store = new FileStore(w.store);
    await store.ensureLayout();
    await fsp.writeFile(w.s(`reports/${TEMP_MARK}ok.csv.123.abcdef01`), 'half written');
    await fsp.writeFile(w.s(`${TEMP_MARK}root.csv.1.00000000`), 'half written');
    await fsp.writeFile(w.s('reports/.hidden'), 'dot file');
    assert.deepEqual((await store.list('reports')).map((e) => e.path), ['reports/.hidden', 'reports/ok.csv']);
    assert.deepEqual((await store.list('', true)).map((e) => e.path), ['archives', 'reports', 'reports/.hidden', 'reports/ok.csv']);
    assert.deepEqual(await store.list('reports/ok.csv'), [{ ...(await store.stat('reports/ok.csv'))!, path: 'reports/ok.csv' }]);
  });

  it('a store root reached through a link works normally', async () => {
    const w = await makeWorld();
    const alias = path.join(w.tmp, 'alias');
    await fsp.symlink(w.store, alias);
    const store = new FileStore(alias);
    await store.ensureLayout();
    await store.writeAtomic('reports/a.csv', 'via alias');
    assert.equal(await fsp.readFile(w.s('reports/a.csv'), 'utf8'), 'via alias');
    assert.deepEqual((await store.list('reports')).map((e) => e.path), ['reports/a.csv']);
    await store.move('reports/a.csv', 'a.csv');
    assert.equal(await fsp.readFile(w.s('a.csv'), 'utf8'), 'via alias');
    await assert.rejects(store.requireFile('../tool_sync/a.csv'), { code: 'store.outside' });
  });
});
