/**
 * Tool settings: `moodle-sync config show|get|set` through the real CLI against a Moodle database
 * copied from the fixture template (no Temporal needed), plus pure tests of the validation.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fsp from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import mysql from 'mysql2/promise';
import type { RowDataPacket } from 'mysql2';
import { runCli, type CliResult } from './support/sandbox';
import { adminConnection, copyDatabase, ensureTemplate } from '../scripts/fixture';
import { settingDefinitions, findSetting, validateSetting, describeKind, similarKeys, type SettingDefinition } from '../activities/settings/registry';

const DB_SERVER = (process.env.MOODLE_TEST_DB_SERVER || 'mysql://root@127.0.0.1:3306/').replace(/\/?$/, '/');
const dbName = `msync_test_config_${process.pid}_${Date.now()}`;
let db: mysql.Connection;
let moodledata: string;
let env: NodeJS.ProcessEnv;

before(async () => {
  const admin = await adminConnection(DB_SERVER);
  try {
    const template = await ensureTemplate(admin);
    await admin.query(`DROP DATABASE IF EXISTS ${mysql.escapeId(dbName)}`);
    await copyDatabase(admin, template, dbName);
  } finally {
    await admin.end();
  }
  db = await mysql.createConnection({ uri: `${DB_SERVER}${dbName}`, charset: 'utf8mb4' });
  moodledata = await fsp.mkdtemp(path.join(os.tmpdir(), 'msync-config-test-'));
  env = { ...process.env, MOODLE_DB_URL: `${DB_SERVER}${dbName}`, MOODLE_DB_PREFIX: 'mdl_', MOODLEDATA: moodledata, SYNC_STORE: '' };
});

after(async () => {
  await db?.end().catch(() => undefined);
  const admin = await adminConnection(DB_SERVER);
  await admin.query(`DROP DATABASE IF EXISTS ${mysql.escapeId(dbName)}`);
  await admin.end();
  if (moodledata) await fsp.rm(moodledata, { recursive: true, force: true });
});

const config = (...args: string[]): Promise<CliResult> => runCli(['config', ...args], env);
const esc = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const def = (key: string): SettingDefinition => {
  const d = findSetting(key);
  assert.ok(d, `no definition for ${key}`);
  return d;
};

/** Rows of a setting: those of plugin tool_sync, or of every plugin when asked (Moodle has other "encoding" rows). */
async function rows(key: string, anyPlugin = false): Promise<{ id: number; plugin: string; name: string; value: string }[]> {
  const [r] = await db.query<RowDataPacket[]>(
    `SELECT id, plugin, name, value FROM mdl_config_plugins WHERE name = ? ${anyPlugin ? '' : "AND plugin = 'tool_sync'"} ORDER BY id`, [key]);
  return r.map((x) => ({ id: Number(x.id), plugin: String(x.plugin), name: String(x.name), value: String(x.value) }));
}

async function toolSyncRowCount(): Promise<number> {
  const [r] = await db.query<RowDataPacket[]>("SELECT COUNT(*) AS n FROM mdl_config_plugins WHERE plugin = 'tool_sync'");
  return Number(r[0].n);
}

// ---------------------------------------------------------------------------------------------
describe('config show and get on a fresh site (defaults)', () => {
  it('the fixture has no tool_sync rows yet', async () => {
    assert.equal(await toolSyncRowCount(), 0);
  });

  it('show lists every setting with its default and what it accepts', async () => {
    const r = await config('show');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, '');
    const lines = r.stdout.trimEnd().split('\n');
    assert.match(lines[0], /^section\s+key\s+value\s+accepts$/);
    assert.equal(lines.length, settingDefinitions.length + 1);
    settingDefinitions.forEach((d, i) => {
      const value = d.default === '' ? '' : `${esc(d.default)} `;
      assert.match(lines[i + 1], new RegExp(`^${esc(d.section)}\\s+${esc(d.key)}\\s+${value}\\(default\\)\\s+${esc(describeKind(d.kind))}$`), `line for ${d.key}`);
    });
  });

  it('show --json gives every key, in order, with default, section, accepts and help', async () => {
    const r = await config('show', '--json');
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.json, settingDefinitions.map((d) => ({
      key: d.key, value: d.default, isDefault: true, section: d.section, accepts: describeKind(d.kind), help: d.help,
    })));
  });

  it('get prints the default value alone (and the full record with --json)', async () => {
    const [text, json] = await Promise.all([config('get', 'csvseparator'), config('get', 'fileareacleanupdelay', '--json')]);
    assert.equal(text.code, 0, text.stderr);
    assert.equal(text.stdout, ';\n');
    assert.equal(json.code, 0, json.stderr);
    assert.deepEqual(json.json, {
      key: 'fileareacleanupdelay', value: '90', isDefault: true, section: 'files',
      accepts: 'a whole number from 0 to 36500 (days)', help: def('fileareacleanupdelay').help,
    });
  });
});

// ---------------------------------------------------------------------------------------------
// Runs before any value is stored, so a wrongly stored value cannot hide behind a legitimate one.
describe('config set refuses bad values', { concurrency: 3 }, () => {
  // key, bad value, what the message says about it
  const badValues: [string, string, RegExp][] = [
    ['filefailed', 'maybe', /"maybe" is not a yes\/no value/],
    ['csvseparator', '|', /"\|" is not one of the choices/],
    ['fileareacleanupdelay', '36501', /36501 is out of range/],
    ['stalelockdelay', 'ten', /"ten" is not a whole number/],
    ['stalelockdelay', '-1', /"-1" is not a whole number/],
    ['cohorts_filelocation', '../etc/passwd', /"\.\.\/etc\/passwd" is not a relative path inside the store/],
    ['cohorts_filelocation', '/etc/passwd', /"\/etc\/passwd" is not a relative path inside the store/],
    ['cohorts_filelocation', 'file:///etc/passwd', /"file:\/\/\/etc\/passwd" is not a relative path inside the store/],
    ['cohorts_filelocation', 'sub\\cohorts.csv', /"sub\\cohorts\.csv" is not a relative path inside the store/],
    ['cohorts_filelocation', '', /empty file name/],
    ['groups_filelocation', 'ok.csv, /abs.csv', /"\/abs\.csv" is not a relative path inside the store/],
    ['alarmrecipients', 'not-an-address', /"not-an-address" is not an e-mail address/],
    ['userpictures_fileprefix', 'bad prefix!', /"bad prefix!" is not accepted/],
  ];
  for (const [key, value, why] of badValues) {
    it(`refuses ${key} = ${JSON.stringify(value)} (exit 2, names what is accepted, stores nothing)`, async () => {
      const before = await rows(key, true);
      const r = await config('set', key, value);
      assert.equal(r.code, 2, r.stdout + r.stderr);
      assert.equal(r.stdout, '');
      assert.ok(r.stderr.startsWith(`moodle-sync: ${key}: `), r.stderr);
      assert.match(r.stderr, why);
      assert.ok(r.stderr.endsWith(`; expected ${describeKind(def(key).kind)}.\n`), r.stderr);
      assert.deepEqual(await rows(key, true), before);
      assert.deepEqual(await rows(key), []);
    });
  }

});

// ---------------------------------------------------------------------------------------------
describe('config set', { concurrency: 3 }, () => {
  it('stores the normalised value in mdl_config_plugins (plugin tool_sync); get and show read it back', async () => {
    const set = await config('set', 'storereport', 'yes');
    assert.equal(set.code, 0, set.stderr);
    assert.equal(set.stdout, 'storereport = 1\n');
    const stored = await rows('storereport', true);
    assert.equal(stored.length, 1);
    assert.deepEqual({ ...stored[0], id: 0 }, { id: 0, plugin: 'tool_sync', name: 'storereport', value: '1' });
    const getJson = await config('get', 'storereport', '--json');
    assert.equal(getJson.code, 0, getJson.stderr);
    assert.equal(getJson.json.isDefault, false);
    assert.equal(getJson.json.value, '1');
  });

  it('setting twice updates the one row', async () => {
    const first = await config('set', 'quietperiod', '30', '--json');
    assert.equal(first.code, 0, first.stderr);
    assert.deepEqual(first.json, { key: 'quietperiod', value: '30' });
    const [row1] = await rows('quietperiod');
    const second = await config('set', 'quietperiod', ' 0045 ', '--json');
    assert.equal(second.code, 0, second.stderr);
    assert.deepEqual(second.json, { key: 'quietperiod', value: '45' });
    const after2 = await rows('quietperiod');
    assert.deepEqual(after2, [{ ...row1, value: '45' }]);
    const get = await config('get', 'quietperiod');
    assert.equal(get.stdout, '45\n');
  });

  it('normalises lists: locations and e-mail addresses', async () => {
    const [loc, mails, choice] = await Promise.all([
      config('set', 'users_filelocation', ' in/users.csv , extra/users_*.csv ', '--json'),
      config('set', 'alarmrecipients', 'ops@example.org,  admin@example.net', '--json'),
      config('set', 'encoding', 'ISO-8859-1', '--json'),
    ]);
    assert.deepEqual([loc.code, mails.code, choice.code], [0, 0, 0], loc.stderr + mails.stderr + choice.stderr);
    assert.deepEqual((await rows('users_filelocation')).map((r) => [r.plugin, r.value]), [['tool_sync', 'in/users.csv,extra/users_*.csv']]);
    assert.deepEqual((await rows('alarmrecipients')).map((r) => [r.plugin, r.value]), [['tool_sync', 'ops@example.org,admin@example.net']]);
    assert.deepEqual((await rows('encoding')).map((r) => [r.plugin, r.value]), [['tool_sync', 'ISO-8859-1']]);
  });

  it('an unknown key exits with 2, suggests near keys and lists the valid ones', async () => {
    const [get, set] = await Promise.all([config('get', 'users_file'), config('set', 'nosuchkey', '1', '--json')]);
    assert.equal(get.code, 2);
    assert.equal(get.stdout, '');
    assert.match(get.stderr, /^moodle-sync: Unknown setting "users_file"\. Did you mean: [^?]*\busers_filelocation\b[^?]*\?/);
    const valid = get.stderr.match(/Valid keys: (.*)\.\n$/);
    assert.ok(valid, get.stderr);
    assert.deepEqual(valid[1].split(', '), settingDefinitions.map((d) => d.key));
    assert.equal(set.code, 2);
    assert.equal(set.json.error.code, 'config.unknown-key');
    assert.match(set.json.error.message, /^Unknown setting "nosuchkey"\..* Valid keys: encoding, csvseparator, /);
    assert.deepEqual(await rows('nosuchkey'), []);
  });

  it('a refused value keeps the value stored before (and --json gives config.bad-value)', async () => {
    const good = await config('set', 'filecleanup', 'on');
    assert.equal(good.code, 0, good.stderr);
    const bad = await config('set', 'filecleanup', 'perhaps', '--json');
    assert.equal(bad.code, 2);
    assert.deepEqual(bad.json, { error: { code: 'config.bad-value', message: 'filecleanup: "perhaps" is not a yes/no value; expected 0 or 1.' } });
    assert.deepEqual((await rows('filecleanup')).map((r) => r.value), ['1']);
  });

  it('wrong number of arguments or an unknown subcommand exits with 2 and stores nothing', async () => {
    const cases = [
      ['set', 'enrols_defaultcmd'],
      ['set', 'enrols_defaultcmd', 'del', 'extra'],
      ['get'],
      ['show', 'extra'],
      [],
      ['frobnicate'],
    ];
    const results = await Promise.all(cases.map((c) => config(...c)));
    results.forEach((r, i) => {
      assert.equal(r.code, 2, `config ${cases[i].join(' ')}: ${r.stderr}`);
      assert.equal(r.stdout, '');
      assert.match(r.stderr, /^moodle-sync: /);
    });
    for (const i of [0, 1, 2, 3]) assert.match(results[i].stderr, /Wrong number of arguments\. Usage: moodle-sync config show\n\s+moodle-sync config get <key>\n\s+moodle-sync config set <key> <value>\n$/);
    for (const i of [4, 5]) assert.match(results[i].stderr, /config needs one of: show, get, set\./);
    assert.deepEqual(await rows('enrols_defaultcmd'), []);
  });

  it('an unreachable database is a failure (exit 1), not a usage error', async () => {
    const r = await runCli(['config', 'show'], { ...env, MOODLE_DB_URL: `${DB_SERVER}${dbName}_missing` });
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, new RegExp(`${dbName}_missing`));
  });
});

// ---------------------------------------------------------------------------------------------
describe('validateSetting (pure)', () => {
  const accept = (key: string, raw: string, value: string) => {
    const r = validateSetting(def(key), raw);
    assert.deepEqual(r, { ok: true, value }, `${key} = ${JSON.stringify(raw)}`);
  };
  const refuse = (key: string, raw: string, why?: RegExp) => {
    const r = validateSetting(def(key), raw);
    assert.equal(r.ok, false, `${key} = ${JSON.stringify(raw)} was accepted`);
    if (r.ok) return;
    assert.ok(r.reason.startsWith(`${key}: `), r.reason);
    assert.ok(r.reason.endsWith(`; expected ${describeKind(def(key).kind)}.`), r.reason);
    if (why) assert.match(r.reason, why);
  };

  it('keys are unique and every default is valid and already normalised', () => {
    assert.equal(new Set(settingDefinitions.map((d) => d.key)).size, settingDefinitions.length);
    for (const d of settingDefinitions) {
      assert.equal(findSetting(d.key), d);
      assert.deepEqual(validateSetting(d, d.default), { ok: true, value: d.default }, d.key);
    }
    assert.equal(findSetting('nope'), undefined);
  });

  it('bool: yes/no spellings become 1/0', () => {
    for (const raw of ['1', 'on', 'yes', 'true', 'YES', ' True ', 'On']) accept('storereport', raw, '1');
    for (const raw of ['0', 'off', 'no', 'false', 'NO', ' 0 ']) accept('storereport', raw, '0');
    for (const raw of ['', 'maybe', '2', 'y', 'n', 'oui', '01']) refuse('storereport', raw, /is not a yes\/no value/);
    assert.equal(describeKind(def('storereport').kind), '0 or 1');
  });

  it('choice: exact values only (trimmed), and the message lists them', () => {
    accept('encoding', 'UTF-8', 'UTF-8');
    accept('encoding', ' ISO-8859-1 ', 'ISO-8859-1');
    accept('csvseparator', ',', ',');
    refuse('encoding', 'utf-8', /"utf-8" is not one of the choices; expected "UTF-8", "ISO-8859-1"\.$/);
    refuse('encoding', '', /is not one of the choices/);
    refuse('groups_purgeemptygroups', '3');
    accept('groups_purgeemptygroups', '2', '2');
    refuse('enrols_defaultcmd', 'delete', /expected "add", "del", "shift", "enable", "disable"\.$/);
  });

  it('int: whole numbers within the range', () => {
    accept('fileareacleanupdelay', '0', '0');
    accept('fileareacleanupdelay', '36500', '36500');
    accept('fileareacleanupdelay', '007', '7');
    accept('quietperiod', ' 86400 ', '86400');
    refuse('fileareacleanupdelay', '36501', /36501 is out of range; expected a whole number from 0 to 36500 \(days\)\.$/);
    refuse('stalelockdelay', '0', /0 is out of range; expected a whole number from 1 to 43200 \(minutes\)\.$/);
    refuse('quietperiod', '99999999999999999999999', /out of range/);
    for (const raw of ['', ' ', '-1', '+1', '1.5', '1e3', '0x10', 'ten', '１２', '1 2']) refuse('quietperiod', raw, /is not a whole number/);
  });

  it('location: relative store paths, lists and patterns; nothing that leaves the store', () => {
    accept('users_filelocation', 'userimport.csv', 'userimport.csv');
    accept('users_filelocation', 'in/users.csv', 'in/users.csv');
    accept('users_filelocation', ' a.csv , b/c.csv ', 'a.csv,b/c.csv');
    accept('users_filelocation', 'users_*.csv', 'users_*.csv');
    accept('users_filelocation', '...csv', '...csv');
    for (const raw of ['', ' ', ',', 'a.csv,', ',a.csv', 'a.csv, ,b.csv']) refuse('users_filelocation', raw, /empty file name/);
    for (const raw of ['..', '../x.csv', 'a/../x.csv', 'a/../../x.csv', './a.csv', 'a/./b.csv', 'a//b.csv', 'a/', '/a.csv', '/etc/passwd',
      '\\a.csv', '..\\x.csv', 'sub\\x.csv', 'file:///etc/passwd', 'http://example.org/a.csv', 'C:/a.csv', 'a\0b.csv', 'a\nb.csv', 'a.csv,../b.csv']) {
      refuse('users_filelocation', raw, /is not a relative path inside the store \(no "\.\.", no leading "\/", no URL\)/);
    }
  });

  it('emails: comma-separated addresses, or empty', () => {
    accept('alarmrecipients', '', '');
    accept('alarmrecipients', '   ', '');
    accept('alarmrecipients', 'a@example.org', 'a@example.org');
    accept('alarmrecipients', ' a@example.org ,b.c+d@sub.example.net ', 'a@example.org,b.c+d@sub.example.net');
    for (const raw of ['a', 'a@b', '@example.org', 'a b@example.org', 'a@example.org;b@example.org', 'a@example.org,', 'a@example.org,,b@example.org']) {
      refuse('alarmrecipients', raw, /is not an e-mail address; expected e-mail addresses separated by commas \(or empty\)\.$/);
    }
  });

  it('text: the picture prefix pattern', () => {
    accept('userpictures_fileprefix', 'pics-2024_v1.', 'pics-2024_v1.');
    accept('userpictures_fileprefix', ' p ', 'p');
    for (const raw of ['', 'a b', 'a/b', '../x', 'é', 'x'.repeat(65)]) refuse('userpictures_fileprefix', raw, /is not accepted; expected letters, digits, _ \. - \(1 to 64\)\.$/);
    accept('userpictures_fileprefix', 'x'.repeat(64), 'x'.repeat(64));
  });

  it('similarKeys suggests keys a person may have meant', () => {
    assert.equal(similarKeys('users_file')[0], 'users_filelocation');
    assert.deepEqual(similarKeys('quiet_period').slice(0, 1), ['quietperiod']);
    assert.ok(similarKeys('ENCODING').includes('encoding'));
    assert.deepEqual(similarKeys('zz'), []);
    assert.ok(similarKeys('file').length <= 8);
    for (const k of similarKeys('groups_x')) assert.ok(findSetting(k));
  });
});
