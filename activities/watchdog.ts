import type { RowDataPacket, ResultSetHeader } from 'mysql2';
import { log } from '@temporalio/activity';
import { withNamedLock, type MoodleDb } from './moodle/db';
import { ensureOwnTables } from './moodle/ownTables';
import { siteIdentity } from './moodle/site';
import { inspectLocks, formatAge, READ_LOCK } from './locks';
import { loadSettingsMap } from './settings/store';
import type { Mailer } from './mail';
import type { LockAlarm, LockStateView } from '../workflows/shared';

export interface WatchdogDeps {
  db: MoodleDb;
  mailer: Mailer;
  dropFolder: string;
}

export interface LockReview {
  locks: LockStateView[];
  alarms: LockAlarm[];
}

/** The main admin (first id of config.siteadmins) and the configured extra recipients. */
export async function alarmRecipients(db: MoodleDb, extra: string): Promise<string[]> {
  const [rows] = await db.pool.query<RowDataPacket[]>(
    `SELECT u.email FROM ${db.t('config')} c JOIN ${db.t('user')} u
       ON u.id = CAST(SUBSTRING_INDEX(c.value, ',', 1) AS UNSIGNED)
     WHERE c.name = 'siteadmins' AND u.deleted = 0`);
  const admin = rows.length && String(rows[0].email).trim() ? [String(rows[0].email).trim()] : [];
  const others = extra.split(',').map((s) => s.trim()).filter(Boolean);
  return [...new Set([...admin, ...others])];
}

const likelyCause = (file: LockAlarm['file']): string => file === READ_LOCK
  ? 'Likely cause: a local sync process issue. A moodle-sync reintegration (or the original tool_sync) took lock.txt and did not finish; check that the moodle-sync worker is running and look for a stuck "reintegration" workflow in the Temporal Web UI.'
  : 'Likely cause: a remote transfer issue. The remote system that drops files into the sync folder created alock.txt and has not removed it; check that transfer. Nothing is taken from the folder while alock.txt exists.';

/** Subject and body of an alarm mail: which file, its age, the likely cause. */
export function composeAlarm(alarm: LockAlarm, site: string, dropFolder: string, delayMin: number): { subject: string; text: string } {
  const where = `${dropFolder}/${alarm.file}`;
  const since = new Date(alarm.sinceMs).toISOString();
  if (alarm.kind === 'stale') {
    return {
      subject: `[${site}] moodle-sync: ${alarm.file} is ${formatAge(alarm.ageSec)} old`,
      text: [
        `The lock file ${where} has existed since ${since} (${formatAge(alarm.ageSec)}), longer than the stale-lock delay of ${delayMin} min.`,
        alarm.holder ? `It says: ${alarm.holder}` : '',
        '',
        likelyCause(alarm.file),
        '',
        'You get one more mail when the lock clears.',
      ].filter((l, i, a) => l !== '' || a[i - 1] !== '').join('\n'),
    };
  }
  return {
    subject: `[${site}] moodle-sync: ${alarm.file} cleared`,
    text: `The lock file ${where}, reported as stale, is gone (it existed since ${since}, ${formatAge(alarm.ageSec)} before it cleared).\nFile reintegration can go on.\n`,
  };
}

export function createWatchdogActivities({ db, mailer, dropFolder }: WatchdogDeps) {
  return {
    /**
     * Compares the lock files with the open incidents and returns the mails still owed: one when
     * a lock passes the delay, one when a lock that was reported clears. Incidents live in the
     * database, so one incident gives one mail however many checks see it.
     */
    async reviewLocks(): Promise<LockReview> {
      await ensureOwnTables(db);
      // A triggered check may overlap a scheduled one: incidents are opened under one lock.
      return withNamedLock(db, 'msync-watchdog', 30, () => reviewUnderLock());
    },

    /** Sends one alarm mail, then records it; a failure throws so Temporal retries it. */
    async mailLockAlarm(alarm: LockAlarm): Promise<string[]> {
      return withNamedLock(db, 'msync-watchdog', 60, () => mailUnderLock(alarm));
    },
  };

  async function reviewUnderLock(): Promise<LockReview> {
    const settings = await loadSettingsMap(db);
    const delaySec = Number(settings.stalelockdelay) * 60;
    const now = Date.now();
    const locks = await inspectLocks(dropFolder, now);
    const alarms: LockAlarm[] = [];
    for (const lock of locks) {
      const [open] = await db.pool.query<RowDataPacket[]>(
        `SELECT id, lockedsince, alarmmailedat FROM ${db.own('lock_incidents')} WHERE lockfile = ? AND clearedat IS NULL ORDER BY id LIMIT 1`,
        [lock.file]);
      let incident: RowDataPacket | undefined = open[0];
      const stale = lock.present && lock.ageSec! >= delaySec;
      if (incident && !(lock.present && Number(incident.lockedsince) === Math.floor(lock.sinceMs!))) {
        // Gone, or replaced by a younger lock: this incident is over.
        await db.pool.query(`UPDATE ${db.own('lock_incidents')} SET clearedat = ? WHERE id = ?`, [now, incident.id]);
        if (incident.alarmmailedat) {
          alarms.push({ incidentId: incident.id, kind: 'cleared', file: lock.file, ageSec: Math.floor((now - Number(incident.lockedsince)) / 1000), sinceMs: Number(incident.lockedsince) });
        }
        incident = undefined;
      }
      if (!stale) continue;
      if (!incident) {
        const [ins] = await db.pool.query<ResultSetHeader>(
          `INSERT INTO ${db.own('lock_incidents')} (lockfile, lockedsince, openedat) VALUES (?, ?, ?)`,
          [lock.file, Math.floor(lock.sinceMs!), now]);
        incident = { id: ins.insertId, alarmmailedat: null } as unknown as RowDataPacket;
      }
      if (!incident.alarmmailedat) {
        alarms.push({ incidentId: incident.id, kind: 'stale', file: lock.file, ageSec: lock.ageSec!, sinceMs: lock.sinceMs!, holder: lock.holder });
      }
    }
    // Cleared incidents whose mail failed earlier are still owed.
    const [owed] = await db.pool.query<RowDataPacket[]>(
      `SELECT id, lockfile, lockedsince, clearedat FROM ${db.own('lock_incidents')}
        WHERE clearedat IS NOT NULL AND alarmmailedat IS NOT NULL AND clearmailedat IS NULL`);
    for (const o of owed) {
      if (!alarms.some((a) => a.incidentId === o.id && a.kind === 'cleared')) {
        alarms.push({ incidentId: o.id, kind: 'cleared', file: o.lockfile, ageSec: Math.floor((Number(o.clearedat) - Number(o.lockedsince)) / 1000), sinceMs: Number(o.lockedsince) });
      }
    }
    return { locks, alarms };
  }

  async function mailUnderLock(alarm: LockAlarm): Promise<string[]> {
    const column = alarm.kind === 'stale' ? 'alarmmailedat' : 'clearmailedat';
    const [done] = await db.pool.query<RowDataPacket[]>(
      `SELECT ${column} AS mailed FROM ${db.own('lock_incidents')} WHERE id = ?`, [alarm.incidentId]);
    if (done.length && done[0].mailed) return [];
    const settings = await loadSettingsMap(db);
    const to = await alarmRecipients(db, settings.alarmrecipients);
    if (!to.length) throw new Error('No alarm recipient: the main admin has no e-mail address and alarmrecipients is empty.');
    const site = await siteIdentity(db);
    const mail = composeAlarm(alarm, site.shortname, dropFolder, Number(settings.stalelockdelay));
    try {
      await mailer.send({ from: site.from, to, ...mail });
    } catch (e) {
      log.warn('Stale-lock alarm mail failed; Temporal retries it', { file: alarm.file, kind: alarm.kind, error: (e as Error).message });
      throw new Error(`Could not send the ${alarm.kind} alarm for ${alarm.file} through SMTP: ${(e as Error).message}`);
    }
    await db.pool.query(`UPDATE ${db.own('lock_incidents')} SET ${column} = ? WHERE id = ?`, [Date.now(), alarm.incidentId]);
    return to;
  }
}
