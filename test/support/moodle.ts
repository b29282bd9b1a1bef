/** Test fixtures written straight into the test's Moodle database (rows as Moodle's own API makes them). */
import type mysql from 'mysql2/promise';
import type { ResultSetHeader, RowDataPacket } from 'mysql2';

/** A course in category 1 with its context and the default enrol instances (manual on; guest, self off). */
export async function createCourse(db: mysql.Connection, shortname: string, idnumber = ''): Promise<{ id: number; contextid: number; manualEnrolId: number }> {
  const now = Math.floor(Date.now() / 1000);
  const [c] = await db.query<ResultSetHeader>(
    `INSERT INTO mdl_course (category, sortorder, fullname, shortname, idnumber, summary, format, startdate, timecreated, timemodified, visible)
     VALUES (1, 10001, ?, ?, ?, '', 'topics', ?, ?, ?, 1)`, [`Course ${shortname}`, shortname, idnumber, now, now, now]);
  const [x] = await db.query<ResultSetHeader>('INSERT INTO mdl_context (contextlevel, instanceid, depth, path, locked) VALUES (50, ?, 3, NULL, 0)', [c.insertId]);
  await db.query("UPDATE mdl_context SET path = CONCAT('/1/3/', id) WHERE id = ?", [x.insertId]);
  const [e] = await db.query<ResultSetHeader>("INSERT INTO mdl_enrol (enrol, status, courseid, sortorder, roleid, timecreated, timemodified) VALUES ('manual', 0, ?, 0, 5, ?, ?)", [c.insertId, now, now]);
  await db.query("INSERT INTO mdl_enrol (enrol, status, courseid, sortorder, roleid, timecreated, timemodified) VALUES ('guest', 1, ?, 1, 0, ?, ?), ('self', 1, ?, 2, 5, ?, ?)", [c.insertId, now, now, c.insertId, now, now]);
  return { id: c.insertId, contextid: x.insertId, manualEnrolId: e.insertId };
}

export async function rows<T = RowDataPacket>(db: mysql.Connection, sql: string, params: unknown[] = []): Promise<T[]> {
  const [r] = await db.query<RowDataPacket[]>(sql, params);
  return r as T[];
}
