import type { MoodleDb } from './db';
import { ledgerTables } from '../pipeline/ledger';
import { toolLeaseTables } from '../toolLease';

/**
 * moodle-sync's own tables, beside Moodle's under their own prefix. Created on demand and
 * idempotently (CREATE TABLE IF NOT EXISTS), so any worker or CLI may call this at start.
 */
const ownTableDefinitions = (db: MoodleDb): string[] => [
  `CREATE TABLE IF NOT EXISTS ${db.own('lock_incidents')} (
     id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
     lockfile VARCHAR(32) NOT NULL,
     lockedsince BIGINT NOT NULL,
     openedat BIGINT NOT NULL,
     alarmmailedat BIGINT NULL,
     clearedat BIGINT NULL,
     clearmailedat BIGINT NULL,
     KEY open_incident (lockfile, clearedat)
   ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci`,
  // Inputs whose exact content has run: reintegration may replace such a store file.
  `CREATE TABLE IF NOT EXISTS ${db.own('processed_inputs')} (
     name VARCHAR(255) NOT NULL,
     sha256 CHAR(64) NOT NULL,
     processedat BIGINT NOT NULL,
     PRIMARY KEY (name, sha256)
   ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`,
  ...ledgerTables(db),
  ...toolLeaseTables(db),
];

const ensured = new WeakSet<MoodleDb>();

export async function ensureOwnTables(db: MoodleDb): Promise<void> {
  if (ensured.has(db)) return;
  for (const ddl of ownTableDefinitions(db)) await db.pool.query(ddl);
  ensured.add(db);
}
