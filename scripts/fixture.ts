/**
 * The Moodle 5.1.3 fixture: loads ../shared/fixtures/moodle-5.1.3-fresh.sql.gz into a database
 * (demo and test template) and copies databases table by table (fast per-test databases).
 *   tsx scripts/fixture.ts demo      creates the demo database named in MOODLE_DB_URL if missing
 *   tsx scripts/fixture.ts template  loads the test template (once per fixture content)
 *   tsx scripts/fixture.ts drop-template
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { createHash } from 'node:crypto';
import mysql from 'mysql2/promise';
import type { RowDataPacket } from 'mysql2';
import { projectRoot, loadEnv } from '../activities/env';

/** ../shared, or where MOODLE_SYNC_SHARED points. */
export const sharedDir = (): string => path.resolve(process.env.MOODLE_SYNC_SHARED || path.join(projectRoot, '..', 'shared'));
export const fixtureFile = (): string => path.join(sharedDir(), 'fixtures', 'moodle-5.1.3-fresh.sql.gz');
export const samplesDir = (): string => path.join(sharedDir(), 'samples');

/** The server part of a MySQL URL (no database), and the database it names. */
export function splitDbUrl(url: string): { server: string; database: string } {
  const u = new URL(url);
  const database = decodeURIComponent(u.pathname.replace(/^\//, ''));
  u.pathname = '/';
  return { server: u.toString(), database };
}

export async function adminConnection(serverUrl: string): Promise<mysql.Connection> {
  return mysql.createConnection({ uri: serverUrl, multipleStatements: true, charset: 'utf8mb4' });
}

export async function databaseExists(conn: mysql.Connection, name: string): Promise<boolean> {
  const [rows] = await conn.query<RowDataPacket[]>('SELECT 1 FROM information_schema.schemata WHERE schema_name = ?', [name]);
  return rows.length > 0;
}

/** Loads the fixture dump into a new database `name` (skipping MariaDB's sandbox-mode first line). */
export async function loadFixture(conn: mysql.Connection, name: string): Promise<void> {
  const sql = zlib.gunzipSync(fs.readFileSync(fixtureFile())).toString('utf8').replace(/^\/\*M!999999[^\n]*\n/, '');
  await conn.query(`CREATE DATABASE ${mysql.escapeId(name)} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`);
  try {
    await conn.query(`USE ${mysql.escapeId(name)}`);
    await conn.query(sql);
  } catch (e) {
    await conn.query(`DROP DATABASE IF EXISTS ${mysql.escapeId(name)}`);
    throw e;
  }
}

/** Copies every table of `from` into a new database `to` (schema, rows and AUTO_INCREMENT). */
export async function copyDatabase(conn: mysql.Connection, from: string, to: string): Promise<void> {
  const [tables] = await conn.query<RowDataPacket[]>(
    "SELECT table_name AS t FROM information_schema.tables WHERE table_schema = ? AND table_type = 'BASE TABLE'", [from]);
  const f = mysql.escapeId(from);
  const t = mysql.escapeId(to);
  const statements = tables.map(({ t: name }) => {
    const n = mysql.escapeId(name);
    return `CREATE TABLE ${t}.${n} LIKE ${f}.${n}; INSERT INTO ${t}.${n} SELECT * FROM ${f}.${n};`;
  });
  await conn.query(`CREATE DATABASE ${t} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`);
  await conn.query(`SET SESSION sql_mode = CONCAT(@@sql_mode, ',NO_AUTO_VALUE_ON_ZERO'); ${statements.join('\n')}`);
}

/** The template database for this fixture's exact content. */
export function templateName(): string {
  const digest = createHash('sha256').update(fs.readFileSync(fixtureFile())).digest('hex').slice(0, 10);
  return `msync_fixture_${digest}`;
}

/** Loads the template once; concurrent callers wait on a server-side lock. */
export async function ensureTemplate(conn: mysql.Connection): Promise<string> {
  const name = templateName();
  await conn.query("SELECT GET_LOCK('msync_fixture_template', 300)");
  try {
    if (!(await databaseExists(conn, name))) await loadFixture(conn, name);
  } finally {
    await conn.query("SELECT RELEASE_LOCK('msync_fixture_template')");
  }
  return name;
}

async function cli(action: string | undefined): Promise<void> {
  const env = loadEnv();
  const { server, database } = splitDbUrl(action === 'demo' ? env.dbUrl : process.env.MOODLE_TEST_DB_SERVER || 'mysql://root@127.0.0.1:3306/');
  const conn = await adminConnection(server);
  try {
    if (action === 'demo') {
      if (await databaseExists(conn, database)) console.log(`demo database ${database}: already there`);
      else { await loadFixture(conn, database); console.log(`demo database ${database}: created from ${fixtureFile()}`); }
    } else if (action === 'template') {
      console.log(`test template: ${await ensureTemplate(conn)}`);
    } else if (action === 'drop-template') {
      await conn.query(`DROP DATABASE IF EXISTS ${mysql.escapeId(templateName())}`);
    } else {
      throw new Error('usage: tsx scripts/fixture.ts demo|template|drop-template');
    }
  } finally {
    await conn.end();
  }
}

if (require.main === module) {
  cli(process.argv[2]).catch((e) => { console.error(`fixture: ${e.message}`); process.exit(1); });
}
