/**
 * The courses tool's create operation through the real path (the moodle-sync CLI and worker, a
 * Temporal dev server, a Moodle database copied from the fixture): the original's scenario step 1
 * (reference 11.1) on its sample files, every row written compared table by table with what
 * moodle-writes.md says Moodle 5.1.3 writes, update semantics (spec decision 6), and row errors.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import type { RowDataPacket } from 'mysql2';
import { openSandbox, runToolFile, storeText, type Sandbox } from './support/sandbox';
import { samplesDir } from '../scripts/fixture';
import { parseMoodleTime } from '../activities/moodle/time';
import { LogReader, categoryCtx, courseCtx, logRow } from './support/logstore';

type Row = Record<string, unknown>;
const nowSec = () => Math.floor(Date.now() / 1000);
const WEEK = 604800;
const YEAR = 31536000; // moodlecourse courseduration in the fixture
const FORUM_MODULE = 8;
/** Tables a course creation may touch, and some it must not. */
const TABLES = ['course', 'course_categories', 'context', 'course_sections', 'course_format_options', 'enrol', 'forum', 'course_modules',
  'role_assignments', 'user_enrolments', 'cache_flags', 'block_instances', 'grade_items', 'grade_categories', 'groups', 'event'];

interface Diff { inserted: Row[]; updated: { before: Row; after: Row }[]; deleted: Row[] }

/** Midnight (Europe/London, the fixture's zone) of the day after `t`: the course form's default start date. */
function tomorrowMidnight(t: number): number {
  const today = new Date(t * 1000).toLocaleDateString('en-CA', { timeZone: 'Europe/London' }); // YYYY-MM-DD
  const next = new Date(`${today}T00:00:00Z`);
  next.setUTCDate(next.getUTCDate() + 1);
  const r = parseMoodleTime(next.toISOString().slice(0, 10), 'Europe/London');
  assert.ok(r.ok);
  return r.value;
}

describe('courses tool: create and update', () => {
  let sb: Sandbox;
  const query = async (sql: string, params: unknown[] = []): Promise<Row[]> => ((await sb.db.query<RowDataPacket[]>(sql, params))[0]).map((r) => ({ ...r }));
  const one = async (sql: string, params: unknown[] = []) => (await query(sql, params))[0];
  /** Settings straight into config_plugins (what `config set` writes): a CLI process per setting would double the test's time. */
  const setting = async (k: string, v: string) => {
    await sb.db.query("INSERT INTO mdl_config_plugins (plugin, name, value) VALUES ('tool_sync', ?, ?) ON DUPLICATE KEY UPDATE value = VALUES(value)", [k, v]);
  };
  const snapshot = async () => new Map(await Promise.all(TABLES.map(async (t) => [t, new Map((await query(`SELECT * FROM mdl_${t}`)).map((r) => [Number(r.id), r]))] as const)));
  const diff = (a: Awaited<ReturnType<typeof snapshot>>, b: Awaited<ReturnType<typeof snapshot>>): Map<string, Diff> => new Map(TABLES.map((t) => {
    const before = a.get(t)!;
    const after = b.get(t)!;
    return [t, {
      inserted: [...after].filter(([id]) => !before.has(id)).map(([, r]) => r),
      updated: [...after].filter(([id, r]) => before.has(id) && JSON.stringify(before.get(id)) !== JSON.stringify(r)).map(([id, r]) => ({ before: before.get(id)!, after: r })),
      deleted: [...before].filter(([id]) => !after.has(id)).map(([, r]) => r),
    }];
  }));
  /** Runs a file through the CLI and returns its result with the run's time window. */
  const run = async (name: string, content: string) => {
    const t0 = nowSec();
    const r = await runToolFile(sb, 'courses', name, content);
    return { ...r, t0, t1: nowSec() };
  };
  const runSample = async (name: string) => run(name, await fsp.readFile(path.join(samplesDir(), name), 'utf8'));
  const course = (shortname: string) => one('SELECT * FROM mdl_course WHERE shortname = ?', [shortname]);
  const category = (name: string) => one('SELECT * FROM mdl_course_categories WHERE name = ?', [name]);
  const contextOf = (level: number, instanceid: unknown) => one('SELECT * FROM mdl_context WHERE contextlevel = ? AND instanceid = ?', [level, instanceid]);
  const inWindow = (v: unknown, r: { t0: number; t1: number }, what: string) => assert.ok(Number(v) >= r.t0 && Number(v) <= r.t1, `${what} ${v} not within the run [${r.t0}, ${r.t1}]`);

  let step1: { diff: Map<string, Diff>; t0: number; t1: number; log: Awaited<ReturnType<LogReader['since']>> };
  let log: LogReader;
  /** A course's event context, by shortname. */
  const ctxOfCourse = async (shortname: string) => {
    const c = await course(shortname);
    return courseCtx({ id: Number(c.id), contextid: Number((await contextOf(50, c.id)).id) });
  };

  before(async () => {
    sb = await openSandbox('courses');
    // Reference 11.1 configuration.
    for (const [k, v] of [['csvseparator', ';'], ['storereport', '1'], ['filearchive', '1'], ['filefailed', '1'], ['filecleanup', '0'],
      ['courses_fileuploadidentifier', 'shortname'], ['courses_coursecategoryidentifier', 'idname'], ['courses_newcategoriesvisible', '1'], ['courses_protectcategory', '0']]) {
      await setting(k, v);
    }
    await sb.startWorker();
    log = new LogReader(sb.db);
  });
  after(async () => {
    await sb?.close();
  });

  it('reference 11.1 step 1: course_create_sample.csv makes TESTCOURSE1..3; the template rows are row errors in the report and the tryback', async () => {
    const before = await snapshot();
    await log.mark();
    const r = await runSample('course_create_sample.csv');
    step1 = { diff: diff(before, await snapshot()), t0: r.t0, t1: r.t1, log: await log.since(r.t0) };
    assert.deepEqual(r.rows, { total: 11, applied: 9, failed: 2, skipped: 0 });
    const made = (await query("SELECT shortname FROM mdl_course WHERE id <> 1 ORDER BY id")).map((c) => c.shortname);
    assert.deepEqual(made, ['TESTCOURSE1', 'TESTCOURSE2', 'TESTCOURSE3', 'MASTER1', 'MASTER2', 'META10', 'META11', 'META20', 'META21']);
    assert.equal((await course('TESTCOURSE3')).fullname, 'Test course for creation 3', 'the template row does not touch the course of that name');
    const text = await storeText(sb, r.report);
    assert.match(text, /line 2: applied: course TESTCOURSE1 \(id \d+\) created in Miscellaneous\/Tests \(category id \d+\); categories created: Miscellaneous, Miscellaneous\/Tests\n/);
    assert.match(text, /line 5: failed: template: "TEMPLATE": course templates are not supported/);
    assert.match(text, /line 6: failed: template: "FAILED": course templates are not supported/);
    const sample = (await fsp.readFile(path.join(samplesDir(), 'course_create_sample.csv'), 'utf8')).split('\n');
    assert.equal(await storeText(sb, r.tryback), `${[sample[0], sample[4], sample[5]].join('\n')}\n`);
    assert.ok(r.archive, 'the input is archived (filearchive)');
  });

  it('every row written is what Moodle writes (moodle-writes.md), table by table', async () => {
    const { diff: d, t0, t1 } = step1;
    const start = tomorrowMidnight(t0);
    // course_categories: Miscellaneous (top) and Tests below it, as core_course_category::create makes them.
    const cats = d.get('course_categories')!;
    assert.equal(cats.inserted.length, 2);
    assert.deepEqual(cats.updated, [], 'Category 1 keeps its sortorder and count');
    const [misc, tests] = cats.inserted;
    for (const c of cats.inserted) inWindow(c.timemodified, step1, 'category timemodified');
    assert.deepEqual(misc, { id: misc.id, name: 'Miscellaneous', idnumber: null, description: '', descriptionformat: 0, parent: 0, sortorder: 20000, coursecount: 0,
      visible: 1, visibleold: 1, timemodified: misc.timemodified, depth: 1, path: `/${misc.id}`, theme: null });
    assert.deepEqual(tests, { id: tests.id, name: 'Tests', idnumber: null, description: '', descriptionformat: 0, parent: misc.id, sortorder: 30000, coursecount: 9,
      visible: 1, visibleold: 1, timemodified: tests.timemodified, depth: 2, path: `/${misc.id}/${tests.id}`, theme: null });

    // context: two category contexts (level 40), nine course contexts (level 50), no module context.
    const ctx = d.get('context')!;
    assert.deepEqual(ctx.updated, []);
    const catCtx = ctx.inserted.filter((x) => x.contextlevel === 40);
    assert.deepEqual(catCtx, [
      { id: catCtx[0].id, contextlevel: 40, instanceid: misc.id, path: `/1/${catCtx[0].id}`, depth: 2, locked: 0 },
      { id: catCtx[1].id, contextlevel: 40, instanceid: tests.id, path: `/1/${catCtx[0].id}/${catCtx[1].id}`, depth: 3, locked: 0 },
    ]);
    assert.equal(ctx.inserted.filter((x) => x.contextlevel === 70).length, 0, 'no module context at creation');

    // course: the site course gets sortorder 1; nine courses, newest first in the category.
    const courses = d.get('course')!;
    assert.deepEqual(courses.updated.map((u) => [u.after.id, u.before.sortorder, u.after.sortorder]), [[1, 0, 1]]);
    assert.equal(courses.inserted.length, 9);
    const fullnames: Record<string, string> = { TESTCOURSE1: 'Test course for creation 1', TESTCOURSE2: 'Test course for creation 2', TESTCOURSE3: 'Test course for creation 3',
      MASTER1: 'Test course for metacourse mastering 1', MASTER2: 'Test course for metacourse mastering 1', META10: 'Test metacourse 1-0', META11: 'Test metacourse 1-1',
      META20: 'Test metacourse 2-0', META21: 'Test metacourse 2-1' };
    for (const [i, c] of courses.inserted.entries()) {
      const weeks = c.shortname === 'TESTCOURSE2';
      inWindow(c.timecreated, step1, `${c.shortname} timecreated`);
      const T = Number(c.timecreated);
      assert.deepEqual(c, {
        id: c.id, category: tests.id, sortorder: 30000 + 9 - i, fullname: fullnames[String(c.shortname)], shortname: c.shortname, idnumber: '', summary: '', summaryformat: 1,
        format: weeks ? 'weeks' : 'topics', showgrades: 1, newsitems: 5, startdate: start, enddate: weeks ? start + 7200 + 4 * WEEK : start + YEAR, relativedatesmode: 0,
        marker: 0, maxbytes: 0, legacyfiles: 0, showreports: 0, visible: 1, visibleold: 1, downloadcontent: null, groupmode: 0, groupmodeforce: 0, defaultgroupingid: 0,
        lang: '', calendartype: '', theme: '', timecreated: T, timemodified: T, requested: 0, enablecompletion: 1, completionnotify: 0,
        // "timecreated + 6 with sections 0..4" (moodle-writes.md, create a course).
        cacherev: T + 6, originalcourseid: null, showactivitydates: 1, showcompletionconditions: 1, pdfexportfont: null, enableaitools: null,
      }, `course ${c.shortname}`);
      const cctx = ctx.inserted.find((x) => x.contextlevel === 50 && x.instanceid === c.id)!;
      assert.deepEqual(cctx, { id: cctx.id, contextlevel: 50, instanceid: c.id, path: `${catCtx[1].path}/${cctx.id}`, depth: 4, locked: 0 });

      // course_sections 0..4 (numsections 4), section 0 holding the news forum.
      const cm = d.get('course_modules')!.inserted.find((m) => m.course === c.id)!;
      const forum = d.get('forum')!.inserted.find((f) => f.course === c.id)!;
      const sections = d.get('course_sections')!.inserted.filter((s) => s.course === c.id);
      assert.deepEqual(sections.map(({ id, timemodified, ...s }) => s), [0, 1, 2, 3, 4].map((n) => ({
        course: c.id, section: n, name: null, summary: '', summaryformat: 1, sequence: n === 0 ? String(cm.id) : '', visible: 1, availability: null, component: null, itemid: null,
      })));
      for (const s of sections) inWindow(s.timemodified, step1, 'section timemodified');
      inWindow(forum.timemodified, step1, 'forum timemodified');
      assert.deepEqual(forum, {
        id: forum.id, course: c.id, type: 'news', name: 'Announcements', intro: 'General news and announcements', introformat: 1, duedate: 0, cutoffdate: 0,
        assessed: 0, assesstimestart: 0, assesstimefinish: 0, scale: 0, grade_forum: 0, grade_forum_notify: 0, maxbytes: 512000, maxattachments: 1, forcesubscribe: 1,
        trackingtype: 1, rsstype: 0, rssarticles: 0, timemodified: forum.timemodified, warnafter: 0, blockafter: 0, blockperiod: 0, completiondiscussions: 0,
        completionreplies: 0, completionposts: 0, displaywordcount: 0, lockdiscussionafter: 0,
      });
      inWindow(cm.added, step1, 'course module added');
      assert.deepEqual(cm, {
        id: cm.id, course: c.id, module: FORUM_MODULE, instance: forum.id, section: sections[0].id, idnumber: null, added: cm.added, score: 0, indent: 0, visible: 1,
        visibleoncoursepage: 1, visibleold: 1, groupmode: 0, groupingid: 0, completion: 0, completiongradeitemnumber: null, completionview: 0, completionexpected: 0,
        completionpassgrade: 0, showdescription: 0, availability: null, deletioninprogress: 0, downloadcontent: 1, lang: null, enableaitools: null, enabledaiactions: null,
      });

      // course_format_options: topics stores hiddensections and coursedisplay; weeks also automaticenddate.
      const options = d.get('course_format_options')!.inserted.filter((o) => o.courseid === c.id).map(({ id, ...o }) => o);
      assert.deepEqual(options, [['hiddensections', '1'], ['coursedisplay', '0'], ...(weeks ? [['automaticenddate', '1']] : [])]
        .map(([name, value]) => ({ courseid: c.id, format: weeks ? 'weeks' : 'topics', sectionid: 0, name, value })));

      // enrol: manual, guest, self in enrol_plugins_enabled order (cohort adds none).
      const enrols = d.get('enrol')!.inserted.filter((e) => e.courseid === c.id);
      for (const e of enrols) { inWindow(e.timecreated, step1, 'enrol timecreated'); assert.equal(e.timemodified, e.timecreated); }
      const blank = { name: null, enrolperiod: 0, enrolstartdate: 0, enrolenddate: 0, expirynotify: 0, expirythreshold: 0, notifyall: 0, password: null, cost: null, currency: null,
        roleid: 0, customint1: null, customint2: null, customint3: null, customint4: null, customint5: null, customint6: null, customint7: null, customint8: null,
        customchar1: null, customchar2: null, customchar3: null, customdec1: null, customdec2: null, customtext1: null, customtext2: null, customtext3: null, customtext4: null };
      assert.deepEqual(enrols.map(({ id, timecreated, timemodified, ...e }) => e), [
        { ...blank, enrol: 'manual', status: 0, courseid: c.id, sortorder: 0, roleid: 5, expirythreshold: 86400, customint1: 1 },
        { ...blank, enrol: 'guest', status: 1, courseid: c.id, sortorder: 1, password: '' },
        { ...blank, enrol: 'self', status: 1, courseid: c.id, sortorder: 2, roleid: 5, expirythreshold: 86400, customint1: 0, customint2: 0, customint3: 0, customint4: 1, customint5: 0, customint6: 1 },
      ]);
    }
    assert.equal(d.get('course_sections')!.inserted.length, 45);
    assert.equal(d.get('forum')!.inserted.length, 9);
    assert.equal(d.get('course_modules')!.inserted.length, 9);
    assert.equal(d.get('enrol')!.inserted.length, 27);
    // Nothing else: no role assignment, enrolment, cache flag, block, grade item, group or calendar event.
    for (const t of ['role_assignments', 'user_enrolments', 'cache_flags', 'block_instances', 'grade_items', 'grade_categories', 'groups', 'event']) {
      assert.deepEqual(d.get(t), { inserted: [], updated: [], deleted: [] }, t);
    }
    for (const t of TABLES) assert.deepEqual(d.get(t)!.deleted, [], `${t}: nothing deleted`);
    assert.ok(t1 >= t0);
  });

  it('the event log of step 1: course_category_created per new category with its first course, then per course course_created, course_section_created per section, enrol_instance_created per default instance', async () => {
    const expected = [];
    for (const name of ['Miscellaneous', 'Tests']) {
      const cat = await category(name);
      expected.push(logRow('course_category_created', categoryCtx(Number(cat.id), Number((await contextOf(40, cat.id)).id)), Number(cat.id), null, 'null'));
    }
    for (const shortname of ['TESTCOURSE1', 'TESTCOURSE2', 'TESTCOURSE3', 'MASTER1', 'MASTER2', 'META10', 'META11', 'META20', 'META21']) {
      const c = await course(shortname);
      const ctx = await ctxOfCourse(shortname);
      expected.push(logRow('course_created', ctx, Number(c.id), null, JSON.stringify({ shortname, fullname: c.fullname })));
      const sections = await query('SELECT id, section FROM mdl_course_sections WHERE course = ? ORDER BY section', [c.id]);
      assert.deepEqual(sections.map((x) => x.section), [0, 1, 2, 3, 4]);
      for (const x of sections) expected.push(logRow('course_section_created', ctx, Number(x.id), null, `{"sectionnum":${x.section}}`));
      const enrols = await query('SELECT id, enrol FROM mdl_enrol WHERE courseid = ? ORDER BY sortorder', [c.id]);
      assert.deepEqual(enrols.map((e) => e.enrol), ['manual', 'guest', 'self']);
      for (const e of enrols) expected.push(logRow('enrol_instance_created', ctx, Number(e.id), null, `{"enrol":"${e.enrol}"}`));
    }
    assert.deepEqual(step1.log, expected);
  });

  it('course_create_sample_newcats.csv: quoted values; new sibling categories numbered after the existing ones', async () => {
    const r = await runSample('course_create_sample_newcats.csv');
    assert.deepEqual(r.rows, { total: 2, applied: 2, failed: 0, skipped: 0 });
    const misc = await category('Miscellaneous');
    const ctxMisc = await contextOf(40, misc.id);
    for (const [shortname, catName, sortorder] of [['TESTCOURSE10', 'TestsNew', 40000], ['TESTCOURSE11', 'TestsNew1', 50000]] as const) {
      const c = await course(shortname);
      const cat = await category(catName);
      assert.equal(c.fullname, 'Test course for creation 1', 'quotes are CSV quoting, not part of the value');
      assert.deepEqual([cat.parent, cat.depth, cat.path, cat.sortorder, cat.coursecount], [misc.id, 2, `/${misc.id}/${cat.id}`, sortorder, 1]);
      assert.equal(c.category, cat.id);
      assert.equal(c.sortorder, sortorder + 1);
      const cctx = await contextOf(40, cat.id);
      assert.deepEqual([cctx.path, cctx.depth], [`${ctxMisc.path}/${cctx.id}`, 3]);
      const x = await contextOf(50, c.id);
      assert.deepEqual([x.path, x.depth], [`${cctx.path}/${x.id}`, 4]);
    }
    assert.equal((await category('Tests')).sortorder, 30000);
    assert.deepEqual((await query('SELECT sortorder FROM mdl_course WHERE category = ? ORDER BY sortorder', [(await category('Tests')).id])).map((c) => c.sortorder),
      [30001, 30002, 30003, 30004, 30005, 30006, 30007, 30008, 30009], 'the courses of earlier categories keep their numbers');
  });

  it('an existing course (the sample\'s second TESTCOURSE3 line, without its template) is skipped unless courses_forceupdate is on, then updated in the given columns only', async () => {
    const file = 'shortname;category;fullname;format;template\nTESTCOURSE3;Miscellaneous/Tests;Test course for creation 4;topics;\n';
    const before = await course('TESTCOURSE3');
    let r = await run('tc3-off.csv', file);
    assert.deepEqual(r.rows, { total: 1, applied: 0, failed: 0, skipped: 1 });
    assert.deepEqual(await course('TESTCOURSE3'), before);
    assert.match(await storeText(sb, r.report), /line 2: skipped: course TESTCOURSE3 \(id \d+\) exists; not updated \(courses_forceupdate is off\)/);
    assert.equal(r.tryback, null, 'a skipped row is not a failure: no tryback');

    await setting('courses_forceupdate', '1');
    const snap = await snapshot();
    await log.mark();
    r = await run('tc3-on.csv', file);
    assert.deepEqual(r.rows, { total: 1, applied: 1, failed: 0, skipped: 0 });
    // update_course's event: the fields given that differ (format topics is the course's already).
    assert.deepEqual(await log.since(r.t0), [logRow('course_updated', await ctxOfCourse('TESTCOURSE3'), Number(before.id), null,
      '{"shortname":"TESTCOURSE3","fullname":"Test course for creation 4","updatedfields":{"fullname":"Test course for creation 4"}}')]);
    const after = await course('TESTCOURSE3');
    inWindow(after.timemodified, r, 'timemodified');
    assert.ok(Number(after.cacherev) >= r.t0 && Number(after.cacherev) > Number(before.cacherev), 'cacherev bumped');
    assert.deepEqual(after, { ...before, fullname: 'Test course for creation 4', timemodified: after.timemodified, cacherev: after.cacherev });
    const d = diff(snap, await snapshot());
    for (const t of TABLES.filter((t) => t !== 'course')) assert.deepEqual(d.get(t), { inserted: [], updated: [], deleted: [] }, `${t} untouched`);
    assert.match(await storeText(sb, r.report), /line 2: applied: course TESTCOURSE3 \(id \d+\) updated \(fullname\)\n/);

    // A file that creates a course then updates it: the second row sees the first one's course.
    r = await run('twice.csv', 'shortname;fullname;newsitems;category\nTWICE1;First name;1;Miscellaneous/TestsNew\nTWICE1;Second name;;\n');
    assert.deepEqual(r.rows, { total: 2, applied: 2, failed: 0, skipped: 0 });
    const twice = await query("SELECT fullname, newsitems FROM mdl_course WHERE shortname = 'TWICE1'");
    assert.deepEqual(twice, [{ fullname: 'Second name', newsitems: 1 }]);
    assert.match(await storeText(sb, r.report), /line 2: applied: course TWICE1 \(id \d+\) created[^\n]*\nline 3: applied: course TWICE1 \(id \d+\) updated \(fullname\)\n/);
  });

  it('update: a move to a new category (contexts re-pathed, counts, sort orders), hide, summary, self enrolment, a section name; courses_protectcategory keeps the category', async () => {
    const tc3 = await course('TESTCOURSE3');
    const tests = await category('Tests');
    const x = await contextOf(50, tc3.id);
    // A module context below the course (any view of its news forum makes one): it moves with the course.
    const [cm] = await query('SELECT id FROM mdl_course_modules WHERE course = ?', [tc3.id]);
    await sb.db.query('INSERT INTO mdl_context (contextlevel, instanceid, path, depth, locked) VALUES (70, ?, NULL, 5, 0)', [cm.id]);
    await sb.db.query("UPDATE mdl_context SET path = CONCAT(?, '/', id) WHERE contextlevel = 70 AND instanceid = ?", [x.path, cm.id]);
    const [self] = await query("SELECT * FROM mdl_enrol WHERE courseid = ? AND enrol = 'self'", [tc3.id]);
    const [guest] = await query("SELECT * FROM mdl_enrol WHERE courseid = ? AND enrol = 'guest'", [tc3.id]);
    const before = await course('TESTCOURSE3');

    await log.mark();
    const r = await run('move.csv', 'shortname;fullname;category;visible;summary;self;topic1\nTESTCOURSE3;Test course for creation 4;Elsewhere;0;A new summary;1;Week one|Read the guide\n');
    assert.deepEqual(r.rows, { total: 1, applied: 1, failed: 0, skipped: 0 });
    const elsewhere = await category('Elsewhere');
    assert.deepEqual([elsewhere.parent, elsewhere.depth, elsewhere.path, elsewhere.sortorder, elsewhere.coursecount], [0, 1, `/${elsewhere.id}`, 60000, 1]);
    const after = await course('TESTCOURSE3');
    assert.deepEqual(after, {
      ...before, category: elsewhere.id, sortorder: 60001, visible: 0, visibleold: 0, summary: 'A new summary',
      timemodified: after.timemodified, cacherev: after.cacherev,
    }, 'absent columns keep their values');
    inWindow(after.timemodified, r, 'timemodified');
    assert.ok(Number(after.cacherev) > Number(before.cacherev));
    assert.equal((await category('Tests')).coursecount, Number(tests.coursecount) - 1);
    assert.deepEqual((await query('SELECT shortname, sortorder FROM mdl_course WHERE category = ? ORDER BY sortorder', [tests.id])).map((c) => [c.shortname, c.sortorder]), [
      ['META21', 30001], ['META20', 30002], ['META11', 30003], ['META10', 30004], ['MASTER2', 30005], ['MASTER1', 30006], ['TESTCOURSE2', 30007], ['TESTCOURSE1', 30008],
    ], 'the courses left are renumbered');
    const ectx = await contextOf(40, elsewhere.id);
    const moved = await contextOf(50, tc3.id);
    assert.deepEqual([moved.id, moved.path, moved.depth], [x.id, `${ectx.path}/${x.id}`, 3]);
    const mod = await contextOf(70, cm.id);
    assert.deepEqual([mod.path, mod.depth], [`${moved.path}/${mod.id}`, 4]);
    const flags = await query("SELECT name, value FROM mdl_cache_flags WHERE flagtype = 'accesslib/dirtycontexts'");
    assert.deepEqual(flags.map((f) => f.name), [moved.path], 'dirtycontexts with the new path');

    const [selfAfter] = await query('SELECT * FROM mdl_enrol WHERE id = ?', [self.id]);
    assert.deepEqual(selfAfter, { ...self, status: 0, timemodified: selfAfter.timemodified });
    inWindow(selfAfter.timemodified, r, 'self timemodified');
    assert.deepEqual((await query('SELECT * FROM mdl_enrol WHERE id = ?', [guest.id]))[0], guest, 'no guest column: guest untouched');
    const [s1] = await query('SELECT name, summary, summaryformat, timemodified FROM mdl_course_sections WHERE course = ? AND section = 1', [tc3.id]);
    assert.deepEqual([s1.name, s1.summary, s1.summaryformat], ['Week one', 'Read the guide', 1]);
    inWindow(s1.timemodified, r, 'section timemodified');
    assert.match(await storeText(sb, r.report),
      /line 2: applied: course TESTCOURSE3 \(id \d+\) updated \(summary, visible\); categories created: Elsewhere; moved to Elsewhere; 1 section named; self enrolment enabled\n/);
    // The category, update_course (updatedfields in the course record's column order, the category as the id passed), the section named, update_status.
    const [s1row] = await query('SELECT id FROM mdl_course_sections WHERE course = ? AND section = 1', [tc3.id]);
    const tc3ctx = await ctxOfCourse('TESTCOURSE3');
    assert.deepEqual(await log.since(r.t0), [
      logRow('course_category_created', categoryCtx(Number(elsewhere.id), Number(ectx.id)), Number(elsewhere.id), null, 'null'),
      logRow('course_updated', tc3ctx, Number(tc3.id), null,
        `{"shortname":"TESTCOURSE3","fullname":"Test course for creation 4","updatedfields":{"category":"${elsewhere.id}","summary":"A new summary","visible":0}}`),
      logRow('course_section_updated', tc3ctx, Number(s1row.id), null, '{"sectionnum":1}'),
      logRow('enrol_instance_updated', tc3ctx, Number(self.id), null, '{"enrol":"self"}'),
    ]);

    await setting('courses_protectcategory', '1');
    try {
      const r2 = await run('protect.csv', 'shortname;fullname;category\nTESTCOURSE3;Test course for creation 4;Miscellaneous/Tests\n');
      assert.equal(r2.rows.applied, 1);
      assert.deepEqual(await log.since(r2.t0), [], 'nothing changed: nothing logged');
      assert.equal((await course('TESTCOURSE3')).category, elsewhere.id);
      assert.match(await storeText(sb, r2.report), /course TESTCOURSE3 \(id \d+\) unchanged; category kept \(courses_protectcategory\)/);
    } finally {
      await setting('courses_protectcategory', '0');
    }
  });

  it('update: a format change brings the new format\'s options (values carried over), a weeks course ends with its last week; lookups ignore case as the database does', async () => {
    const before = await course('TESTCOURSE1');
    const r = await run('format.csv', 'shortname;fullname;format;startdate\ntestcourse1;Test course for creation 1;weeks;2026-09-07\n');
    assert.deepEqual(r.rows, { total: 1, applied: 1, failed: 0, skipped: 0 });
    assert.equal((await query("SELECT id FROM mdl_course WHERE shortname = 'TESTCOURSE1' COLLATE utf8mb4_bin")).length, 0, 'the row found TESTCOURSE1, and renamed it in its case');
    const after = await one('SELECT * FROM mdl_course WHERE id = ?', [before.id]);
    const start = parseMoodleTime('2026-09-07', 'Europe/London');
    assert.ok(start.ok);
    assert.deepEqual(after, { ...before, shortname: 'testcourse1', format: 'weeks', startdate: start.value, enddate: start.value + 7200 + 4 * WEEK,
      timemodified: after.timemodified, cacherev: after.cacherev });
    assert.deepEqual((await query('SELECT format, name, value FROM mdl_course_format_options WHERE courseid = ? ORDER BY id', [before.id])).map((o) => [o.format, o.name, o.value]), [
      ['topics', 'hiddensections', '1'], ['topics', 'coursedisplay', '0'], ['weeks', 'hiddensections', '1'], ['weeks', 'coursedisplay', '0'], ['weeks', 'automaticenddate', '1'],
    ]);
    assert.match(await storeText(sb, r.report), /line 2: applied: course testcourse1 \(id \d+\) updated \(shortname, format, startdate\)\n/);
  });

  it('a new course with explicit columns: dates, no news forum, named sections, teachers enrolled, self on, guest off', async () => {
    const users = await runToolFile(sb, 'users', 'teachers.csv', 'username;firstname;lastname\nteachera;Tea;Cher\n');
    assert.equal(users.rows.applied, 1);
    const [ta] = await query("SELECT id FROM mdl_user WHERE username = 'teachera'");
    await sb.db.query('DELETE FROM mdl_cache_flags');
    await log.mark();
    const header = 'shortname;fullname;idnumber;category;summary;format;newsitems;visible;startdate;enddate;groupmode;lang;coursedisplay;topic0;topic2;teacher1_account;teacher1_role;teacher2_account;self;guest';
    const r = await run('full.csv', `${header}\nFULL1;Full course;FULL-001;1;<p>About</p>;topics;0;0;2026-09-01;2027-06-30 18:00;1;en;1;General|Start here;Part two;teachera;teacher;2;1;0\n`);
    assert.deepEqual(r.rows, { total: 1, applied: 1, failed: 0, skipped: 0 });
    const c = await course('FULL1');
    const d = (v: string) => { const p = parseMoodleTime(v, 'Europe/London'); assert.ok(p.ok); return p.value; };
    assert.deepEqual(
      [c.category, c.sortorder, c.idnumber, c.summary, c.summaryformat, c.newsitems, c.visible, c.visibleold, c.startdate, c.enddate, c.groupmode, c.lang],
      [1, 10001, 'FULL-001', '<p>About</p>', 1, 0, 0, 0, d('2026-09-01'), d('2027-06-30 18:00'), 1, 'en']);
    assert.equal((await one('SELECT coursecount FROM mdl_course_categories WHERE id = 1')).coursecount, 1);
    assert.deepEqual(await query('SELECT * FROM mdl_forum WHERE course = ?', [c.id]), [], 'newsitems 0: no news forum');
    assert.deepEqual(await query('SELECT * FROM mdl_course_modules WHERE course = ?', [c.id]), []);
    assert.deepEqual((await query('SELECT section, name, summary, sequence FROM mdl_course_sections WHERE course = ? ORDER BY section', [c.id])).map((s) => [s.section, s.name, s.summary, s.sequence]),
      [[0, 'General', 'Start here', ''], [1, null, '', ''], [2, 'Part two', '', '']], 'sections 0..the highest topic column');
    assert.deepEqual((await query('SELECT name, value FROM mdl_course_format_options WHERE courseid = ? ORDER BY id', [c.id])).map((o) => [o.name, o.value]),
      [['hiddensections', '1'], ['coursedisplay', '1']]);
    const enrols = await query('SELECT id, enrol, status, sortorder FROM mdl_enrol WHERE courseid = ? ORDER BY sortorder', [c.id]);
    assert.deepEqual(enrols.map((e) => [e.enrol, e.status, e.sortorder]), [['manual', 0, 0], ['guest', 1, 1], ['self', 0, 2]]);
    const x = await contextOf(50, c.id);
    assert.deepEqual([x.path, x.depth], [`/1/3/${x.id}`, 3]);
    const ue = await query('SELECT userid, status, timestart, timeend, modifierid FROM mdl_user_enrolments WHERE enrolid = ? ORDER BY userid', [enrols[0].id]);
    assert.deepEqual(ue.map((u) => [u.userid, u.status, u.timestart, u.timeend, u.modifierid]), [[2, 0, 0, 0, 2], [ta.id, 0, 0, 0, 2]]);
    const ra = await query('SELECT userid, roleid, component, itemid FROM mdl_role_assignments WHERE contextid = ? ORDER BY userid', [x.id]);
    assert.deepEqual(ra.map((a) => [a.userid, a.roleid, a.component, a.itemid]), [[2, 3, '', 0], [ta.id, 4, '', 0]], 'teacher2 without a role column: editingteacher');
    const flags = await query('SELECT flagtype, name FROM mdl_cache_flags ORDER BY flagtype, name');
    assert.deepEqual(flags.map((f) => [f.flagtype, f.name]), [['accesslib/dirtycontexts', x.path], ['accesslib/dirtyusers', String(2)], ['accesslib/dirtyusers', String(ta.id)]].sort());
    assert.match(await storeText(sb, r.report), /created in Category 1 \(category id 1\); self enrolment enabled; teacher teachera enrolled as teacher; teacher admin enrolled as editingteacher/);
    // create_course's events, the named sections (course_update_section), self enabled (update_status; guest is off already), then each teacher's enrol_user.
    const cx = courseCtx({ id: Number(c.id), contextid: Number(x.id) });
    const sections = await query('SELECT id, section FROM mdl_course_sections WHERE course = ? ORDER BY section', [c.id]);
    const ueOf = async (userid: unknown) => Number((await one('SELECT id FROM mdl_user_enrolments WHERE enrolid = ? AND userid = ?', [enrols[0].id, userid])).id);
    const raOf = async (userid: unknown) => Number((await one('SELECT id FROM mdl_role_assignments WHERE contextid = ? AND userid = ?', [x.id, userid])).id);
    assert.deepEqual(await log.since(r.t0), [
      logRow('course_created', cx, Number(c.id), null, '{"shortname":"FULL1","fullname":"Full course"}'),
      ...sections.map((s) => logRow('course_section_created', cx, Number(s.id), null, `{"sectionnum":${s.section}}`)),
      ...enrols.map((e) => logRow('enrol_instance_created', cx, Number(e.id), null, `{"enrol":"${e.enrol}"}`)),
      logRow('course_section_updated', cx, Number(sections[0].id), null, '{"sectionnum":0}'),
      logRow('course_section_updated', cx, Number(sections[2].id), null, '{"sectionnum":2}'),
      logRow('enrol_instance_updated', cx, Number(enrols[2].id), null, '{"enrol":"self"}'),
      logRow('user_enrolment_created', cx, await ueOf(ta.id), Number(ta.id), '{"enrol":"manual"}'),
      logRow('role_assigned', cx, 4, Number(ta.id), `{"id":${await raOf(ta.id)},"component":"","itemid":0}`),
      logRow('user_enrolment_created', cx, await ueOf(2), 2, '{"enrol":"manual"}'),
      logRow('role_assigned', cx, 3, 2, `{"id":${await raOf(2)},"component":"","itemid":0}`),
    ]);
  });

  it('row errors name the column, the value and the rule; a failed row writes nothing, not even its category', async () => {
    const header = 'shortname;fullname;idnumber;category;newsitems;visible;startdate;enddate;format;teacher1_account';
    const lines = [
      'BAD1;Bad;;Ghost/Town;11;;;;;',
      'BAD2;Bad;;Ghost/Town;;2;;;;',
      'BAD3;Bad;;Ghost/Town;;;someday;;;',
      'BAD4;Bad;;Ghost/Town;;;;;social;',
      'BAD5;Bad;;999;;;;;;',
      'BAD6;Bad;;Ghost/Town;;;2026-09-01;2026-08-01;;',
      'BAD7;Bad;;Ghost/Town;;;;;;nobody',
      'BAD8;Bad;FULL-001;Ghost/Town;;;;;;',
      'BAD9;;;Ghost/Town;;;;;;',
      'GOOD1;Good;GOOD-1;Good/Place;2;;;;weeks;',
    ];
    const r = await run('errors.csv', `${header}\n${lines.join('\n')}\n`);
    assert.deepEqual(r.rows, { total: 10, applied: 1, failed: 9, skipped: 0 });
    const text = await storeText(sb, r.report);
    for (const re of [
      /line 2: failed: newsitems: "11" is not accepted \(a whole number from 0 to 10\)/,
      /line 3: failed: visible: "2" is not accepted \(0 or 1\)/,
      /line 4: failed: startdate: "someday" is not accepted \(a date: YYYY-MM-DD, YYYY-MM-DD hh:mm:ss, ISO 8601 or Unix seconds\)/,
      /line 5: failed: format: "social" is not accepted \(a course format moodle-sync writes: topics, weeks\)/,
      /line 6: failed: category: no category with id 999/,
      /line 7: failed: enddate: "2026-08-01" is before startdate "2026-09-01"/,
      /line 8: failed: teacher1_account: no user with username "nobody"/,
      /line 9: failed: idnumber "FULL-001" is already used by course FULL1 \(id \d+\)/,
      /line 10: failed: fullname: "" is not accepted \(must not be empty\)/,
      /line 11: applied: course GOOD1 \(id \d+\) created in Good\/Place/,
    ]) assert.match(text, re);
    assert.equal(await storeText(sb, r.tryback), `${[header, ...lines.slice(0, 9)].join('\n')}\n`);
    assert.deepEqual(await query("SELECT shortname FROM mdl_course WHERE shortname LIKE 'BAD%'"), []);
    assert.deepEqual(await query("SELECT name FROM mdl_course_categories WHERE name IN ('Ghost', 'Town')"), [], 'no category for a failed row');
    const good = await course('GOOD1');
    assert.equal(good.newsitems, 2);
    assert.equal((await query('SELECT * FROM mdl_course_sections WHERE course = ?', [good.id])).length, 5);
  });

  it('categories: hidden when courses_newcategoriesvisible is off; found by idnumber with courses_coursecategoryidentifier = idnumber', async () => {
    await setting('courses_newcategoriesvisible', '0');
    let r = await run('hidden.csv', 'shortname;fullname;category\nHID1;Hidden course;Hidden/Below\n');
    await setting('courses_newcategoriesvisible', '1');
    assert.equal(r.rows.applied, 1);
    for (const name of ['Hidden', 'Below']) {
      const c = await category(name);
      assert.deepEqual([c.visible, c.visibleold], [0, 0], name);
    }
    assert.equal((await course('HID1')).visible, 1, 'the course itself takes the site default (moodlecourse visible)');

    await sb.db.query("UPDATE mdl_course_categories SET idnumber = 'ELSE-1' WHERE name = 'Elsewhere'");
    await setting('courses_coursecategoryidentifier', 'idnumber');
    try {
      r = await run('bycatidnumber.csv', 'shortname;fullname;category\nIDN1;By idnumber;ELSE-1\nIDN2;Unknown;NOPE-1\n');
    } finally {
      await setting('courses_coursecategoryidentifier', 'idname');
    }
    assert.deepEqual(r.rows, { total: 2, applied: 1, failed: 1, skipped: 0 });
    assert.equal((await course('IDN1')).category, (await category('Elsewhere')).id);
    assert.match(await storeText(sb, r.report), /line 3: failed: category: no category with idnumber "NOPE-1" \(courses_coursecategoryidentifier is idnumber\)/);

    // A simulation creates nothing, categories included (the original made them for real).
    const sim = await runToolFile(sb, 'courses', 'sim.csv', 'shortname;fullname;category\nSIM1;Simulated;Simulated/Path\n', ['--simulate']);
    assert.equal(sim.rows.applied, 1);
    assert.match(await storeText(sb, sim.report), /line 2: applied: course SIM1 \(id \d+\) created in Simulated\/Path/);
    assert.equal(await course('SIM1'), undefined);
    assert.equal(await category('Simulated'), undefined);
  });

  it('a file without the identifier column is refused before any write', async () => {
    await setting('courses_fileuploadidentifier', 'idnumber');
    try {
      await fsp.writeFile(path.join(sb.storeRoot, 'noid.csv'), 'shortname;fullname\nNOID1;No id\n');
      const r = await sb.cli(['run', 'courses', '--file', 'noid.csv', '--wait', '--json']);
      assert.equal(r.code, 1, r.stdout + r.stderr);
      assert.match(r.json.refusal, /courses are identified by idnumber \(courses_fileuploadidentifier\): the file needs the "idnumber" column/);
      assert.equal(await course('NOID1'), undefined);

      // Identified by id: an existing course is updated (courses_forceupdate is on since the test above); an unknown id cannot make a course.
      await setting('courses_fileuploadidentifier', 'id');
      const full = await course('FULL1');
      const r2 = await run('byid.csv', `id;shortname;fullname\n${full.id};FULL1;Full course renamed\n99999;NEWID;New\n`);
      assert.deepEqual(r2.rows, { total: 2, applied: 1, failed: 1, skipped: 0 });
      assert.equal((await course('FULL1')).fullname, 'Full course renamed');
      assert.equal(await course('NEWID'), undefined);
      assert.match(await storeText(sb, r2.report), /line 3: failed: id: no course with id 99999; a new course cannot be given an id/);
    } finally {
      await setting('courses_fileuploadidentifier', 'shortname');
    }
  });
});
