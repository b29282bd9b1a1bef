import type { PoolConnection, RowDataPacket } from 'mysql2/promise';
import type { MoodleDb } from './db';
import { CONTEXT_COURSE, type EventContext } from './events';

/**
 * The contexts events are logged in, read once and remembered: a context's level, instance and
 * course never change, and ids are never reused, so a process may keep them (bounded) across chunks.
 */

const MAX_REMEMBERED = 20_000;
const byDb = new WeakMap<MoodleDb, { contexts: Map<number, EventContext>; courses: Map<number, number> }>();

function memory(db: MoodleDb) {
  let m = byDb.get(db);
  if (!m) byDb.set(db, (m = { contexts: new Map(), courses: new Map() }));
  if (m.contexts.size > MAX_REMEMBERED) m.contexts.clear();
  if (m.courses.size > MAX_REMEMBERED) m.courses.clear();
  return m;
}

/**
 * Contexts by id, with their course as \core\event\base::create finds it: the course context
 * itself or the course context above a module or block, else 0. Ids without a context are left out.
 */
export async function eventContexts(conn: PoolConnection, db: MoodleDb, ids: number[]): Promise<Map<number, EventContext>> {
  const { contexts } = memory(db);
  const missing = [...new Set(ids)].filter((id) => !contexts.has(id));
  if (missing.length) {
    const [rows] = await conn.query<RowDataPacket[]>(`SELECT id, contextlevel, instanceid, path FROM ${db.t('context')} WHERE id IN (?)`, [missing]);
    const ancestors = new Set<number>();
    const paths = new Map<number, number[]>();
    for (const r of rows) {
      const path = String(r.path ?? '').split('/').filter(Boolean).map(Number).filter((a) => a !== Number(r.id));
      paths.set(Number(r.id), path);
      if (Number(r.contextlevel) > CONTEXT_COURSE) path.forEach((a) => ancestors.add(a));
    }
    const courseOf = new Map<number, number>();
    if (ancestors.size) {
      const [up] = await conn.query<RowDataPacket[]>(`SELECT id, instanceid FROM ${db.t('context')} WHERE id IN (?) AND contextlevel = ?`, [[...ancestors], CONTEXT_COURSE]);
      for (const a of up) courseOf.set(Number(a.id), Number(a.instanceid));
    }
    for (const r of rows) {
      const level = Number(r.contextlevel);
      const instanceid = Number(r.instanceid);
      const above = level > CONTEXT_COURSE ? paths.get(Number(r.id))!.find((a) => courseOf.has(a)) : undefined;
      const courseid = level === CONTEXT_COURSE ? instanceid : above !== undefined ? courseOf.get(above)! : 0;
      contexts.set(Number(r.id), { id: Number(r.id), level, instanceid, courseid });
    }
  }
  const out = new Map<number, EventContext>();
  for (const id of ids) {
    const c = contexts.get(id);
    if (c) out.set(id, c);
  }
  return out;
}

export async function eventContext(conn: PoolConnection, db: MoodleDb, id: number): Promise<EventContext> {
  const c = (await eventContexts(conn, db, [id])).get(id);
  if (!c) throw new Error(`context ${id} does not exist`);
  return c;
}

/** The context of a course, by course id. */
export async function courseEventContext(conn: PoolConnection, db: MoodleDb, courseid: number): Promise<EventContext> {
  const { courses } = memory(db);
  let contextid = courses.get(courseid);
  if (contextid === undefined) {
    const [rows] = await conn.query<RowDataPacket[]>(`SELECT id FROM ${db.t('context')} WHERE contextlevel = ? AND instanceid = ?`, [CONTEXT_COURSE, courseid]);
    if (!rows.length) throw new Error(`course ${courseid} has no context`);
    contextid = Number(rows[0].id);
    courses.set(courseid, contextid);
  }
  return { id: contextid, level: CONTEXT_COURSE, instanceid: courseid, courseid };
}
