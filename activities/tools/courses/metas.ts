import type { ChunkContext, DataRow, RowOutcome, ToolOperation } from '../types';
import {
  createMetaInstance, describeSync, enableEnrolPlugin, findMetaInstances, readMetaSite, setMetaStatus, syncMetaInstance, type MetaSite,
} from '../../moodle/meta';
import { courseIdentifier, lookupCourse, named, type CourseRow } from './lookup';
import { deferMark, rollbackDeferred, withDeferredWrites } from '../../moodle/deferred';
import { RowError } from '../rowError';

/**
 * The meta course bindings file (reference 5.1.5 under spec decision 14): `master;meta[;cmd]`,
 * courses found by courses_filemetabindingidentifier. `add` (the default, also for an empty cmd)
 * creates the enrol_meta instance in the meta course as Moodle's meta plugin does, or re-enables a
 * disabled one, and syncs the master's enrolments into it as enrol_meta_sync does; `del` disables
 * the link (its synced roles go, the enrolments stay, as Moodle's update_status does).
 *
 * The meta plugin: while enrol_meta is disabled Moodle ignores meta links and its sync strips
 * their roles, so a link added then would do nothing. The original ran its metas file whatever the
 * plugin's state (its scheduled task never checked); an administrator feeding a meta bindings file
 * wants the links to work, so the first `add` enables the plugin exactly as the "Manage enrol
 * plugins" page does and says so in its report line. `del` never enables it.
 */


async function plan(ctx: ChunkContext, row: DataRow): Promise<{ cmd: 'add' | 'del'; master: CourseRow; meta: CourseRow }> {
  const raw = (row.values.cmd ?? '').trim();
  const cmd = raw === '' ? 'add' : raw.toLowerCase();
  if (cmd !== 'add' && cmd !== 'del') throw new RowError(`cmd: "${raw}" is not a command; use add or del`);
  const field = courseIdentifier(ctx.settings.courses_filemetabindingidentifier);
  const master = await lookupCourse(ctx.conn, ctx.db, field, row.values.master, 'master');
  const meta = await lookupCourse(ctx.conn, ctx.db, field, row.values.meta, 'meta');
  if ('error' in master || 'error' in meta) throw new RowError([master, meta].flatMap((l) => ('error' in l ? [l.error] : [])).join('; '));
  if (master.course.id === meta.course.id) throw new RowError(`meta: ${named(meta.course)} cannot be its own master`);
  return { cmd, master: master.course, meta: meta.course };
}

async function applyRow(ctx: ChunkContext, site: MetaSite, row: DataRow): Promise<RowOutcome> {
  const { cmd, master, meta } = await plan(ctx, row);
  const link = `meta link ${named(master)} -> ${named(meta)}`;
  const child = { id: meta.id, contextid: meta.contextid, shortname: meta.shortname, path: meta.path };
  const [existing] = await findMetaInstances(ctx.conn, ctx.db, meta.id, master.id);
  if (cmd === 'del') {
    if (!existing) return { status: 'skipped', message: `${link}: no such link, nothing to disable` };
    if (existing.status !== 0) return { status: 'skipped', message: `${link}: already disabled` };
    await setMetaStatus(ctx.conn, ctx.db, existing, 1, site, ctx.now);
    const counts = await syncMetaInstance(ctx.conn, ctx.db, existing, site, ctx.now);
    return { status: 'applied', message: `${link} disabled (instance ${existing.id}): ${describeSync(counts)}` };
  }
  const notes: string[] = [];
  if (await enableEnrolPlugin(ctx.conn, ctx.db, site, 'meta', ctx.now)) notes.push('enabled the meta link enrolment plugin (enrol_plugins_enabled)');
  let inst = existing;
  let what: string;
  let linkChanged = true;
  if (!inst) {
    inst = await createMetaInstance(ctx.conn, ctx.db, child, master.id, ctx.now);
    what = `created (instance ${inst.id})`;
  } else if (inst.status !== 0) {
    await setMetaStatus(ctx.conn, ctx.db, inst, 0, site, ctx.now);
    what = `revived (instance ${inst.id} enabled)`;
  } else {
    what = `already active (instance ${inst.id})`;
    linkChanged = false;
  }
  const counts = await syncMetaInstance(ctx.conn, ctx.db, inst, site, ctx.now);
  const changed = linkChanged || notes.length > 0 || Object.values(counts).some((n) => n > 0);
  return { status: changed ? 'applied' : 'skipped', message: [`${link} ${what}: ${describeSync(counts)}`, ...notes].join('; ') };
}

export const courseMetas: ToolOperation = {
  tool: 'courses',
  op: 'metas',
  summary: 'create, revive or disable meta course links (enrol_meta)',
  locationSetting: 'courses_filemetabindinglocation',
  header: { required: ['master', 'meta'], optional: ['cmd'] },
  chunkSize: 50,
  // Cache flags and event log rows of the chunk are written together at its end (a failed row's dropped with it).
  apply: (ctx, rows) => withDeferredWrites(ctx.conn, ctx.db, async () => {
    let site = await readMetaSite(ctx.conn, ctx.db);
    const out: RowOutcome[] = [];
    for (const row of rows) {
      await ctx.conn.query('SAVEPOINT msync_metas_row');
      const mark = deferMark(ctx.conn);
      try {
        out.push(await applyRow(ctx, site, row));
      } catch (e) {
        if (!(e instanceof RowError)) throw e;
        await ctx.conn.query('ROLLBACK TO SAVEPOINT msync_metas_row');
        rollbackDeferred(ctx.conn, mark);
        site = await readMetaSite(ctx.conn, ctx.db); // a plugin enabled by the row is rolled back with it
        out.push({ status: 'failed', message: e.message });
      }
    }
    return out;
  }),
};
