import * as os from 'node:os';
import type { RowDataPacket } from 'mysql2';
import type { MoodleDb } from './db';

/** The site's short name (subjects) and the sender address of its mails (noreplyaddress). */
export async function siteIdentity(db: MoodleDb): Promise<{ shortname: string; fullname: string; from: string }> {
  const [site] = await db.pool.query<RowDataPacket[]>(`SELECT shortname, fullname FROM ${db.t('course')} WHERE id = 1`);
  const [noreply] = await db.pool.query<RowDataPacket[]>(`SELECT value FROM ${db.t('config')} WHERE name = 'noreplyaddress'`);
  return {
    shortname: site.length ? String(site[0].shortname) : 'Moodle',
    fullname: site.length ? String(site[0].fullname) : 'Moodle',
    from: noreply.length && String(noreply[0].value).includes('@') ? String(noreply[0].value) : `moodle-sync@${os.hostname()}`,
  };
}
