/**
 * insertWithIds against the real server: the ids it counts from a multi-row INSERT's first id are
 * the ids the rows got (MariaDB hands a statement's ids out as one run, auto_increment_increment
 * apart), also with other connections inserting into the table at the same time, and the read-back
 * path (innodb_autoinc_lock_mode 2) gives the same answer.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import mysql from 'mysql2/promise';
import { insertWithIds } from '../activities/moodle/rows';

const SERVER = (process.env.MOODLE_TEST_DB_SERVER || 'mysql://root@127.0.0.1:3306/').replace(/\/?$/, '/');

describe('ids of multi-row inserts', () => {
  const dbName = `msync_rows_${randomBytes(4).toString('hex')}`;
  let pool: mysql.Pool;

  before(async () => {
    const admin = await mysql.createConnection({ uri: SERVER });
    await admin.query(`CREATE DATABASE \`${dbName}\``);
    await admin.end();
    pool = mysql.createPool({ uri: `${SERVER}${dbName}`, connectionLimit: 4 });
    await pool.query('CREATE TABLE items (id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY, k VARCHAR(40) NOT NULL UNIQUE) ENGINE=InnoDB');
  });
  after(async () => {
    await pool.query(`DROP DATABASE \`${dbName}\``);
    await pool.end();
  });

  /** Inserts `n` rows named `<tag>-<i>` and returns the ids insertWithIds gave and the ids the table holds. */
  async function insertBatch(conn: mysql.PoolConnection, tag: string, n: number, step?: number | null) {
    const keys = Array.from({ length: n }, (_, i) => `${tag}-${i}`);
    let readBackUsed = false;
    const given = await insertWithIds(conn, 'INSERT INTO items (k) VALUES ?', [keys.map((k) => [k])], keys, async (firstId) => {
      readBackUsed = true;
      const [rows] = await conn.query<mysql.RowDataPacket[]>('SELECT id, k FROM items WHERE id >= ? AND k IN (?)', [firstId, keys]);
      return new Map(rows.map((r) => [String(r.k), Number(r.id)]));
    }, step);
    const [held] = await conn.query<mysql.RowDataPacket[]>('SELECT id, k FROM items WHERE k IN (?)', [keys]);
    return { given, held: new Map(held.map((r) => [String(r.k), Number(r.id)])), readBackUsed };
  }

  it('counts the ids of four connections inserting at once, and reads them back when told to', async () => {
    const [[mode]] = await pool.query<mysql.RowDataPacket[]>('SELECT @@innodb_autoinc_lock_mode AS m');
    const conns = await Promise.all([0, 1, 2, 3].map(() => pool.getConnection()));
    try {
      for (let round = 0; round < 5; round++) {
        const results = await Promise.all(conns.map((c, i) => insertBatch(c, `r${round}c${i}`, 300, i === 3 ? null : undefined)));
        for (const [i, r] of results.entries()) {
          assert.equal(r.given.size, 300);
          assert.deepEqual(r.given, r.held, `connection ${i}, round ${round}`);
          assert.equal(r.readBackUsed, i === 3 || Number(mode.m) === 2);
        }
      }
    } finally {
      for (const c of conns) c.release();
    }
  });

  it('steps by auto_increment_increment', async () => {
    // A session of its own: its step is read on its first insert.
    const own = mysql.createPool({ uri: `${SERVER}${dbName}`, connectionLimit: 1 });
    const conn = await own.getConnection();
    try {
      await conn.query('SET SESSION auto_increment_increment = 3');
      const r = await insertBatch(conn, 'step3', 50);
      assert.deepEqual(r.given, r.held);
      const ids = [...r.given.values()];
      assert.deepEqual(ids.slice(1).map((id, i) => id - ids[i]), ids.slice(1).map(() => 3));
    } finally {
      conn.release();
      await own.end();
    }
  });
});
