import type { PoolConnection, ResultSetHeader, RowDataPacket } from 'mysql2/promise';
import type { MoodleDb } from './db';
import { touchCacheFlags } from './users';
import { ACTING_USER, addGroupMember, unenrolUser } from './enrol';
import { insertWithIds, pluginConfig, siteConfig } from './rows';
import { logEvents } from './deferred';
import {
  configLogCreated, courseContext, enrolInstanceCreated, enrolInstanceDeleted, enrolInstanceUpdated, roleAssigned, roleUnassigned,
  userEnrolmentCreated, userEnrolmentUpdated, type LogEvent,
} from './events';

/**
 * Meta links (enrol_meta) as Moodle 5.1.3 writes them (moodle-writes.md "enable an enrol plugin",
 * "meta link"): the instance in the child (meta) course, and what enrol_meta_sync makes of the
 * parent (master) course's enrolments and roles, with the events each step logs. A sync that finds
 * nothing to change writes nothing and logs nothing.
 */

export const META_COMPONENT = 'enrol_meta';
/** enrol_meta's value for "no enrolment found" in its MIN/MAX aggregates. */
const NONE = 9999999999;

export interface MetaSite {
  /** config enrol_plugins_enabled, in order. */
  enabledPlugins: string[];
  /** enrol_meta unenrolaction: 0 unenrol, 1 keep, 2 suspend, 3 suspend and remove roles (default). */
  unenrolAction: number;
  syncAll: boolean;
  noSyncRoleIds: number[];
  sessionTimeout: number;
}

export async function readMetaSite(conn: PoolConnection, db: MoodleDb): Promise<MetaSite> {
  const c = await siteConfig(conn, db, ['enrol_plugins_enabled', 'sessiontimeout']);
  const p = (await pluginConfig(conn, db, ['enrol_meta'])).get('enrol_meta')!;
  const num = (v: string | undefined, d: number) => (v !== undefined && v !== '' && !Number.isNaN(Number(v)) ? Number(v) : d);
  return {
    enabledPlugins: (c.enrol_plugins_enabled ?? '').split(',').map((s) => s.trim()).filter(Boolean),
    unenrolAction: num(p.unenrolaction, 3),
    syncAll: num(p.syncall, 1) !== 0,
    noSyncRoleIds: (p.nosyncroleids ?? '').split(',').map((s) => Number(s.trim())).filter((n) => n > 0),
    sessionTimeout: num(c.sessiontimeout, 28800),
  };
}

export const metaEnabled = (site: MetaSite): boolean => site.enabledPlugins.includes('meta');

/**
 * \core\plugininfo\enrol::enable_plugin(name, 1), as the "Manage enrol plugins" page does: the
 * name appended to enrol_plugins_enabled, a config_log row, the system context marked dirty.
 * False when it was enabled already. Updates `site`.
 */
export async function enableEnrolPlugin(conn: PoolConnection, db: MoodleDb, site: MetaSite, plugin: string, now: number): Promise<boolean> {
  if (site.enabledPlugins.includes(plugin)) return false;
  const list = [...site.enabledPlugins, plugin];
  const [res] = await conn.query<ResultSetHeader>(`UPDATE ${db.t('config')} SET value = ? WHERE name = 'enrol_plugins_enabled'`, [list.join(',')]);
  if (!res.affectedRows) await conn.query(`INSERT INTO ${db.t('config')} (name, value) VALUES ('enrol_plugins_enabled', ?)`, [list.join(',')]);
  const [log] = await conn.query<ResultSetHeader>(
    `INSERT INTO ${db.t('config_log')} (userid, timemodified, plugin, name, value, oldvalue) VALUES (?, ?, ?, 'enrol_plugins_enabled', '1', '0')`, [ACTING_USER, now, plugin]);
  // add_to_config_log('enrol_plugins_enabled', !$enabled, $enabled, $plugin): the values as passed.
  await logEvents(conn, db, now, [configLogCreated(log.insertId, { name: 'enrol_plugins_enabled', oldvalue: false, value: 1, plugin })]);
  await touchCacheFlags(conn, db, 'accesslib/dirtycontexts', ['/1'], now, now + site.sessionTimeout);
  site.enabledPlugins = list;
  return true;
}

export interface MetaInstance {
  id: number;
  status: number;
  /** customint1: the parent (master) course. */
  parentid: number;
  /** customint2: the group synced members join (0: none). */
  groupid: number;
  /** The child (meta) course and its context. */
  course: { id: number; contextid: number; shortname: string; path: string };
}

const INSTANCE_SQL = (db: MoodleDb, where: string) =>
  `SELECT e.id, e.status, e.customint1, e.customint2, c.id AS courseid, c.shortname, x.id AS contextid, x.path
     FROM ${db.t('enrol')} e JOIN ${db.t('course')} c ON c.id = e.courseid
     JOIN ${db.t('context')} x ON x.contextlevel = 50 AND x.instanceid = c.id
    WHERE e.enrol = 'meta' AND ${where} ORDER BY e.courseid, e.id`;

const toInstance = (r: RowDataPacket): MetaInstance => ({
  id: Number(r.id), status: Number(r.status), parentid: Number(r.customint1), groupid: Number(r.customint2 ?? 0),
  course: { id: Number(r.courseid), contextid: Number(r.contextid), shortname: String(r.shortname), path: String(r.path) },
});

/** The meta instances of `childid` that link `parentid` (Moodle's form makes one; a site may hold more). */
export async function findMetaInstances(conn: PoolConnection, db: MoodleDb, childid: number, parentid: number): Promise<MetaInstance[]> {
  const [rows] = await conn.query<RowDataPacket[]>(INSTANCE_SQL(db, 'e.courseid = ? AND e.customint1 = ?'), [childid, parentid]);
  return rows.map(toInstance);
}

/** Meta instances whose parent is one of `parentids`, in courses not listed in `exceptCourses`. */
export async function metaInstancesOfParents(conn: PoolConnection, db: MoodleDb, parentids: number[], exceptCourses: number[]): Promise<MetaInstance[]> {
  if (!parentids.length) return [];
  const [rows] = await conn.query<RowDataPacket[]>(INSTANCE_SQL(db, 'e.customint1 IN (?) AND e.courseid NOT IN (?)'), [parentids, exceptCourses.length ? exceptCourses : [0]]);
  return rows.map(toInstance);
}

/** enrol_meta add_instance(child, customint1 = parent): the row its form makes, after the course's other instances. */
export async function createMetaInstance(conn: PoolConnection, db: MoodleDb, child: MetaInstance['course'], parentid: number, now: number): Promise<MetaInstance> {
  const [[next]] = await conn.query<RowDataPacket[]>(`SELECT COALESCE(MAX(sortorder), -1) + 1 AS n FROM ${db.t('enrol')} WHERE courseid = ?`, [child.id]);
  const [res] = await conn.query<ResultSetHeader>(
    `INSERT INTO ${db.t('enrol')} (enrol, status, courseid, sortorder, name, enrolperiod, enrolstartdate, enrolenddate, expirynotify, expirythreshold,
       notifyall, password, cost, currency, roleid, customint1, timecreated, timemodified)
     VALUES ('meta', 0, ?, ?, NULL, 0, 0, 0, 0, 0, 0, NULL, NULL, NULL, 0, ?, ?, ?)`, [child.id, Number(next.n), parentid, now, now]);
  await logEvents(conn, db, now, [enrolInstanceCreated(courseContext(child), res.insertId, 'meta')]);
  return { id: res.insertId, status: 0, parentid, groupid: 0, course: child };
}

/** enrol_plugin::update_status: status and timemodified, enrol_instance_updated, the child course context marked dirty. */
export async function setMetaStatus(conn: PoolConnection, db: MoodleDb, inst: MetaInstance, status: 0 | 1, site: MetaSite, now: number): Promise<void> {
  await conn.query(`UPDATE ${db.t('enrol')} SET status = ?, timemodified = ? WHERE id = ?`, [status, now, inst.id]);
  await logEvents(conn, db, now, [enrolInstanceUpdated(courseContext(inst.course), inst.id, 'meta')]);
  await touchCacheFlags(conn, db, 'accesslib/dirtycontexts', [inst.course.path], now, now + site.sessionTimeout);
  inst.status = status;
}

export interface MetaSyncCounts { enrolled: number; updated: number; unenrolled: number; suspended: number; rolesAssigned: number; rolesRemoved: number }

/** `3 enrolled, 2 roles assigned`, or `nothing to sync`. */
export function describeSync(n: MetaSyncCounts): string {
  const parts = ([
    [n.enrolled, 'enrolled'], [n.updated, 'enrolment(s) updated'], [n.unenrolled, 'unenrolled'], [n.suspended, 'suspended'],
    [n.rolesAssigned, 'role(s) assigned'], [n.rolesRemoved, 'role(s) removed'],
  ] as const).filter(([k]) => k > 0).map(([k, what]) => `${k} ${what}`);
  return parts.length ? parts.join(', ') : 'nothing to sync';
}

interface ParentEnrolment { status: 0 | 1; timestart: number; timeend: number; deleted: boolean }

/** The parent's enrolments as enrol_meta_sync aggregates them: active if any is, earliest start and latest end of the active ones. */
async function parentEnrolments(conn: PoolConnection, db: MoodleDb, inst: MetaInstance, site: MetaSite): Promise<Map<number, ParentEnrolment>> {
  const plugins = site.enabledPlugins.filter((p) => p !== 'meta');
  const out = new Map<number, ParentEnrolment>();
  if (!plugins.length) return out;
  const [rows] = await conn.query<RowDataPacket[]>(
    `SELECT pue.userid, MAX(u.deleted) AS deleted, MIN(pue.status + pe.status) AS status,
            MIN(CASE WHEN pue.status + pe.status = 0 THEN pue.timestart ELSE ${NONE} END) AS timestart,
            MAX(CASE WHEN pue.status + pe.status = 0 THEN (CASE WHEN pue.timeend = 0 THEN ${NONE} ELSE pue.timeend END) ELSE 0 END) AS timeend
       FROM ${db.t('user_enrolments')} pue JOIN ${db.t('enrol')} pe ON pe.id = pue.enrolid AND pe.courseid = ? AND pe.enrol <> 'meta' AND pe.enrol IN (?)
       JOIN ${db.t('user')} u ON u.id = pue.userid
      GROUP BY pue.userid`, [inst.parentid, plugins]);
  for (const r of rows) {
    const at = (v: unknown) => (Number(v) === NONE ? 0 : Number(v));
    out.set(Number(r.userid), { status: Number(r.status) === 0 ? 0 : 1, timestart: at(r.timestart), timeend: at(r.timeend), deleted: Number(r.deleted) === 1 });
  }
  return out;
}

/**
 * enrol_meta_sync for one instance:
 *  1. enabled instance: users enrolled in the parent (not deleted; with syncall off, only those
 *     holding a synced role there) get a meta enrolment, active if one of their parent enrolments
 *     is, dated by the active ones;
 *  2. enrolments of users no longer enrolled in the parent: unenrolled (unenrolaction 0), kept (1),
 *     suspended (2), suspended with the instance's roles removed (3);
 *  3. enabled instance: status and dates follow the parent's;
 *  4. enabled instance: active meta enrolments carry the user's parent course roles (given by an
 *     enabled plugin or by hand; not nosyncroleids), component enrol_meta, itemid the instance;
 *  5. unless unenrolaction is 2: enrol_meta roles without such a parent role, an active enrolment
 *     or an enabled instance go;
 *  6. with a group (customint2), enrolled users are in it (component enrol_meta, itemid the instance).
 * Users whose enrolments or roles change are marked dirty. Events as the steps log them:
 * user_enrolment_created (enrol_user), user_enrolment_deleted and the rest of unenrol_user,
 * user_enrolment_updated (update_user_enrol), role_assigned (role_assign), role_unassigned.
 */
export async function syncMetaInstance(conn: PoolConnection, db: MoodleDb, inst: MetaInstance, site: MetaSite, now: number): Promise<MetaSyncCounts> {
  const n: MetaSyncCounts = { enrolled: 0, updated: 0, unenrolled: 0, suspended: 0, rolesAssigned: 0, rolesRemoved: 0 };
  const t = (name: string) => db.t(name);
  const cctx = courseContext(inst.course);
  const log = (events: LogEvent[]) => logEvents(conn, db, now, events);
  const unassigned = (rows: RowDataPacket[]) => log(rows.map((r) => roleUnassigned(cctx, {
    id: Number(r.id), roleid: Number(r.roleid), userid: Number(r.userid), component: META_COMPONENT, itemid: inst.id,
  })));
  const dirty = new Set<number>();
  const enabled = inst.status === 0;
  const parent = await parentEnrolments(conn, db, inst, site);
  const [ueRows] = await conn.query<RowDataPacket[]>(`SELECT id, userid, status, timestart, timeend FROM ${t('user_enrolments')} WHERE enrolid = ?`, [inst.id]);
  const mine = new Map(ueRows.map((r) => [Number(r.userid), { id: Number(r.id), status: Number(r.status), timestart: Number(r.timestart), timeend: Number(r.timeend) }]));
  const ignored = site.noSyncRoleIds.length ? site.noSyncRoleIds : [0];
  const [parentCtx] = await conn.query<RowDataPacket[]>(`SELECT id FROM ${t('context')} WHERE contextlevel = 50 AND instanceid = ?`, [inst.parentid]);
  const parentContextid = parentCtx.length ? Number(parentCtx[0].id) : 0;

  if (enabled) {
    let candidates = [...parent].filter(([userid, p]) => !p.deleted && !mine.has(userid));
    if (!site.syncAll && candidates.length) {
      const [withRole] = await conn.query<RowDataPacket[]>(
        `SELECT DISTINCT userid FROM ${t('role_assignments')} WHERE contextid = ? AND component <> ? AND roleid NOT IN (?) AND userid IN (?)`,
        [parentContextid, META_COMPONENT, ignored, candidates.map(([u]) => u)]);
      const keep = new Set(withRole.map((r) => Number(r.userid)));
      candidates = candidates.filter(([u]) => keep.has(u));
    }
    if (candidates.length) {
      await conn.query(`INSERT INTO ${t('user_enrolments')} (status, enrolid, userid, timestart, timeend, modifierid, timecreated, timemodified) VALUES ?`,
        [candidates.map(([u, p]) => [p.status, inst.id, u, p.timestart, p.timeend, ACTING_USER, now, now])]);
      const [made] = await conn.query<RowDataPacket[]>(`SELECT id, userid FROM ${t('user_enrolments')} WHERE enrolid = ? AND userid IN (?)`, [inst.id, candidates.map(([u]) => u)]);
      const ueid = new Map(made.map((r) => [Number(r.userid), Number(r.id)]));
      await log(candidates.map(([u]) => userEnrolmentCreated(cctx, ueid.get(u)!, u, 'meta')));
      candidates.forEach(([u]) => dirty.add(u));
      n.enrolled = candidates.length;
    }
  }

  for (const [userid, ue] of mine) {
    if (parent.has(userid)) continue;
    if (site.unenrolAction === 0) {
      await unenrolUser(conn, db, { id: inst.id, roleid: 0, status: inst.status, enrol: 'meta' }, inst.course, userid, now, site.sessionTimeout);
      mine.delete(userid);
      n.unenrolled++;
    } else if ((site.unenrolAction === 2 || site.unenrolAction === 3) && ue.status === 0) {
      await conn.query(`UPDATE ${t('user_enrolments')} SET status = 1, modifierid = ?, timemodified = ? WHERE id = ?`, [ACTING_USER, now, ue.id]);
      await log([userEnrolmentUpdated(cctx, ue.id, userid, 'meta')]);
      ue.status = 1;
      dirty.add(userid);
      n.suspended++;
      if (site.unenrolAction === 3) {
        const [gone] = await conn.query<RowDataPacket[]>(`SELECT id, roleid, userid FROM ${t('role_assignments')} WHERE contextid = ? AND userid = ? AND component = ? AND itemid = ? ORDER BY id`,
          [inst.course.contextid, userid, META_COMPONENT, inst.id]);
        if (gone.length) await conn.query(`DELETE FROM ${t('role_assignments')} WHERE id IN (?)`, [gone.map((r) => r.id)]);
        await unassigned(gone);
        n.rolesRemoved += gone.length;
      }
    }
  }

  if (enabled) {
    for (const [userid, ue] of mine) {
      const p = parent.get(userid);
      if (!p || (p.status === ue.status && p.timestart === ue.timestart && p.timeend === ue.timeend)) continue;
      await conn.query(`UPDATE ${t('user_enrolments')} SET status = ?, timestart = ?, timeend = ?, modifierid = ?, timemodified = ? WHERE id = ?`,
        [p.status, p.timestart, p.timeend, ACTING_USER, now, ue.id]);
      await log([userEnrolmentUpdated(cctx, ue.id, userid, 'meta')]);
      dirty.add(userid);
      n.updated++;
    }
    const components = ['', ...site.enabledPlugins.filter((p) => p !== 'meta').map((p) => `enrol_${p}`)];
    const [need] = await conn.query<RowDataPacket[]>(
      `SELECT DISTINCT pra.roleid, pra.userid FROM ${t('role_assignments')} pra
         JOIN ${t('user')} u ON u.id = pra.userid AND u.deleted = 0
         JOIN ${t('user_enrolments')} ue ON ue.enrolid = ? AND ue.userid = pra.userid AND ue.status = 0
         LEFT JOIN ${t('role_assignments')} ra ON ra.contextid = ? AND ra.userid = pra.userid AND ra.roleid = pra.roleid AND ra.component = ? AND ra.itemid = ?
        WHERE pra.contextid = ? AND pra.component IN (?) AND pra.roleid NOT IN (?) AND ra.id IS NULL
        ORDER BY pra.userid, pra.roleid`,
      [inst.id, inst.course.contextid, META_COMPONENT, inst.id, parentContextid, components, ignored]);
    if (need.length) {
      const raid = await insertWithIds(conn, `INSERT INTO ${t('role_assignments')} (roleid, contextid, userid, timemodified, modifierid, component, itemid, sortorder) VALUES ?`,
        [need.map((r) => [r.roleid, inst.course.contextid, r.userid, now, ACTING_USER, META_COMPONENT, inst.id, 0])], need.map((r) => `${r.roleid}:${r.userid}`),
        async (firstId) => {
          const [made] = await conn.query<RowDataPacket[]>(`SELECT id, roleid, userid FROM ${t('role_assignments')} WHERE id >= ? AND contextid = ? AND component = ? AND itemid = ?`,
            [firstId, inst.course.contextid, META_COMPONENT, inst.id]);
          return new Map(made.map((r) => [`${r.roleid}:${r.userid}`, Number(r.id)]));
        });
      await log(need.map((r) => roleAssigned(cctx, { id: raid.get(`${r.roleid}:${r.userid}`)!, roleid: Number(r.roleid), userid: Number(r.userid), component: META_COMPONENT, itemid: inst.id })));
      need.forEach((r) => dirty.add(Number(r.userid)));
      n.rolesAssigned = need.length;
    }
  }

  if (site.unenrolAction !== 2) {
    const [unwanted] = await conn.query<RowDataPacket[]>(
      `SELECT DISTINCT ra.id, ra.roleid, ra.userid FROM ${t('role_assignments')} ra
         LEFT JOIN ${t('role_assignments')} pra ON pra.contextid = ? AND pra.userid = ra.userid AND pra.roleid = ra.roleid AND pra.component <> ? AND pra.roleid NOT IN (?)
         LEFT JOIN ${t('user_enrolments')} ue ON ue.enrolid = ? AND ue.userid = ra.userid AND ue.status = 0
        WHERE ra.contextid = ? AND ra.component = ? AND ra.itemid = ? AND (pra.id IS NULL OR ue.id IS NULL OR ? <> 0) ORDER BY ra.id`,
      [parentContextid, META_COMPONENT, ignored, inst.id, inst.course.contextid, META_COMPONENT, inst.id, inst.status]);
    if (unwanted.length) {
      await conn.query(`DELETE FROM ${t('role_assignments')} WHERE id IN (?)`, [unwanted.map((r) => r.id)]);
      await unassigned(unwanted);
      unwanted.forEach((r) => dirty.add(Number(r.userid)));
      n.rolesRemoved += unwanted.length;
    }
  }

  if (inst.groupid > 0) {
    for (const userid of mine.keys()) await addGroupMember(conn, db, inst.groupid, userid, now, META_COMPONENT, inst.id);
  }
  if (dirty.size) await touchCacheFlags(conn, db, 'accesslib/dirtyusers', [...dirty].map(String), now, now + site.sessionTimeout);
  return n;
}

/**
 * enrol_meta's observers: enrolments and roles that changed in the `parentids` courses reach their
 * meta courses at once, as Moodle syncs a parent's links on every enrolment and role event there;
 * meta courses that are parents in turn follow. Nothing while the plugin is disabled. Returns the
 * links synced.
 */
export async function syncMetaChildren(conn: PoolConnection, db: MoodleDb, parentids: number[], now: number): Promise<MetaInstance[]> {
  if (!parentids.length) return [];
  const site = await readMetaSite(conn, db);
  if (!metaEnabled(site)) return [];
  const synced: MetaInstance[] = [];
  const seen = new Set<number>();
  let parents = [...new Set(parentids)];
  while (parents.length) {
    parents.forEach((id) => seen.add(id));
    const next: number[] = [];
    for (const inst of await metaInstancesOfParents(conn, db, parents, [])) {
      const n = await syncMetaInstance(conn, db, inst, site, now);
      synced.push(inst);
      if (Object.values(n).some((v) => v > 0) && !seen.has(inst.course.id)) next.push(inst.course.id);
    }
    parents = [...new Set(next)];
  }
  return synced;
}

/**
 * enrol_meta's course_deleted observer, for links whose parent was just deleted (its enrolments
 * already gone): the links' enrolments follow unenrolaction as the sync makes them; with 0 the
 * instance is deleted, with 2 or 3 it is disabled, with 1 it stays. Nothing while the plugin is
 * disabled (the observer returns at once). Returns a note per link, with its parent.
 */
export async function detachFromDeletedParents(conn: PoolConnection, db: MoodleDb, parentids: number[], deletedCourses: number[], site: MetaSite, now: number): Promise<{ parentid: number; note: string }[]> {
  if (!metaEnabled(site)) return [];
  const notes: { parentid: number; note: string }[] = [];
  for (const inst of await metaInstancesOfParents(conn, db, parentids, deletedCourses)) {
    if ((site.unenrolAction === 2 || site.unenrolAction === 3) && inst.status === 0) await setMetaStatus(conn, db, inst, 1, site, now);
    const counts = await syncMetaInstance(conn, db, inst, site, now);
    if (site.unenrolAction === 0) {
      await conn.query(`DELETE FROM ${db.t('enrol')} WHERE id = ?`, [inst.id]);
      await logEvents(conn, db, now, [enrolInstanceDeleted(courseContext(inst.course), inst.id, 'meta')]);
      await touchCacheFlags(conn, db, 'accesslib/dirtycontexts', [inst.course.path], now, now + site.sessionTimeout);
    }
    const fate = site.unenrolAction === 0 ? 'deleted' : site.unenrolAction === 1 ? 'kept' : 'disabled';
    notes.push({ parentid: inst.parentid, note: `meta link in ${inst.course.shortname} ${fate} (${describeSync(counts)})` });
  }
  return notes;
}
