import type { RowDataPacket } from 'mysql2/promise';
import type { MoodleDb } from '../moodle/db';
import { identityKey } from '../moodle/collation';
import { ENROLMENT_COLUMN } from './userEnrolments';

/**
 * What a users `add` row reads and writes, for running chunks side by side (ToolOperation.rowKeys).
 * A row finds its account by the primary identity (users_primaryidentity: idnumber or email) or
 * its username, checks those two for clashes, and writes only the account that has its username
 * (or a new one with its values). So its keys are its username and identity value, and those of
 * every account Moodle holds now that has one of them: a value an earlier row of the file sets is
 * in that row's keys; a value an account has today is in the keys of every row that may find or
 * change that account.
 * Rows that reach other accounts or other records (deletions, renames, cohorts, enrolments, another
 * host, lookups by id) key the whole file: it runs one chunk at a time.
 */

const SERIAL_COLUMNS = new Set(['deleted', 'oldusername', 'cohort', 'cohortid', 'mnethostid']);
const WHOLE_FILE = ['*'];

type Identity = { username: string; identity: string };

const keysOf = (a: Identity): string[] => [`u:${identityKey(a.username)}`, ...(a.identity.trim() ? [`i:${identityKey(a.identity)}`] : [])];

export async function accountKeys(rows: Record<string, string>[], file: { header: readonly string[]; settings: Record<string, string>; db: MoodleDb }): Promise<string[][]> {
  const column = file.settings.users_primaryidentity || 'idnumber';
  if (column === 'id' || file.header.some((h) => SERIAL_COLUMNS.has(h) || ENROLMENT_COLUMN.test(h))) return rows.map(() => WHOLE_FILE);
  // With username as the identity, the username is all a row finds accounts by.
  const identityColumn = column === 'idnumber' || column === 'email' ? column : undefined;
  const own: Identity[] = rows.map((v) => ({ username: (v.username ?? '').trim(), identity: identityColumn ? v[identityColumn] ?? '' : '' }));
  const linked = await accountsSharing(file.db, own, identityColumn);
  return own.map((row) => {
    const keys = new Set(keysOf(row));
    for (const key of keysOf(row)) for (const account of linked.get(key) ?? []) keysOf(account).forEach((k) => keys.add(k));
    return [...keys];
  });
}

/** Accounts (any host, deleted or not: more keys only ever make chunks wait) by each key they answer to. */
async function accountsSharing(db: MoodleDb, rows: Identity[], identityColumn: string | undefined): Promise<Map<string, Identity[]>> {
  const usernames = [...new Set(rows.map((r) => r.username).filter(Boolean))];
  const identities = [...new Set(rows.map((r) => r.identity.trim()).filter(Boolean))];
  const lookups = ([['username', usernames], [identityColumn, identities]] as const).filter(([column, values]) => column && values.length);
  const by = new Map<string, Identity[]>();
  if (!lookups.length) return by;
  const [accounts] = await db.pool.query<RowDataPacket[]>(
    `SELECT username, ${identityColumn ? `\`${identityColumn}\`` : "''"} AS identity FROM ${db.t('user')} WHERE ${lookups.map(([column]) => `\`${column}\` IN (?)`).join(' OR ')}`,
    lookups.map(([, values]) => values));
  for (const a of accounts) {
    const account = { username: String(a.username), identity: String(a.identity ?? '') };
    for (const key of keysOf(account)) {
      const list = by.get(key);
      if (list) list.push(account); else by.set(key, [account]);
    }
  }
  return by;
}
