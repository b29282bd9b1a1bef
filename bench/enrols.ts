/** Bench case: 50,000 enrolments (5,000 users in 10 courses), users and courses made first, not measured. */
import * as path from 'node:path';
import type { RowDataPacket } from 'mysql2';
import { createCourse } from '../test/support/moodle';
import { writeLines, type Case } from './case';

const USERS = 5_000;
const COURSES = 10;
const PREFIX = 'benchenr';

export function enrolsCase(): Case {
  const courseIds: number[] = [];
  return {
    key: 'enrols', label: '50,000 enrolments (5,000 users x 10 courses)', rows: USERS * COURSES, tool: 'enrols', target: 3000,
    async setup(sb) {
      const users = path.join(sb.storeRoot, `${PREFIX}-users.csv`);
      await writeLines(users, 'username;firstname;lastname;email', USERS, (i) => `${PREFIX}${i};First${i};Last${i};${PREFIX}${i}@bench.example.com`);
      const r = await sb.cli(['run', 'users', '--file', path.basename(users), '--wait', '--json']);
      if (r.json?.rows?.applied !== USERS) throw new Error(`enrols setup: users not created: ${r.stderr || r.stdout}`);
      for (let k = 1; k <= COURSES; k++) courseIds.push((await createCourse(sb.db, `BENCHC${k}`)).id);
      const cfg = await sb.cli(['config', 'set', 'enrols_useridentifier', 'username']);
      if (cfg.code !== 0) throw new Error(cfg.stderr);
    },
    // Row i: user ((i-1) mod USERS)+1 in course ceil(i/USERS)... interleaved so every chunk spans courses.
    write: (abs) => writeLines(abs, 'cmd;rolename;cid;uid;enrol', USERS * COURSES,
      (i) => `add;student;BENCHC${((i - 1) % COURSES) + 1};${PREFIX}${Math.floor((i - 1) / COURSES) + 1};manual`),
    async verify(sb, rows) {
      const [[ue]] = await sb.db.query<RowDataPacket[]>(
        'SELECT COUNT(*) AS n FROM mdl_user_enrolments ue JOIN mdl_enrol e ON e.id = ue.enrolid WHERE e.courseid IN (?)', [courseIds]);
      const [[ra]] = await sb.db.query<RowDataPacket[]>(
        'SELECT COUNT(*) AS n FROM mdl_role_assignments ra JOIN mdl_context x ON x.id = ra.contextid WHERE x.contextlevel = 50 AND x.instanceid IN (?)', [courseIds]);
      const want = USERS * COURSES;
      if (rows.applied !== want || Number(ue.n) !== want || Number(ra.n) !== want) {
        throw new Error(`enrols: expected ${want} enrolments, got ${JSON.stringify(rows)}, ${ue.n} user enrolments, ${ra.n} role assignments`);
      }
    },
  };
}
