import { ScheduleAlreadyRunning, ScheduleNotFoundError, ScheduleOverlapPolicy, type Client, type ScheduleOptions } from '@temporalio/client';
import type { RowDataPacket } from 'mysql2';
import { SyncError } from '../activities/errors';
import type { MoodleDb } from '../activities/moodle/db';
import { siteTimeZone } from '../activities/moodle/time';
import { findOperation, tools } from '../activities/tools';
import { CRON_COMMENT } from './schedules';
import { STORE_CLEANUP_SCHEDULE_ID, searchAttributes } from '../workflows/shared';
import type { runTool, storeCleanup, syncAll } from '../workflows';

/** Id of the schedule that runs "sync all". */
export const SYNC_ALL_SCHEDULE_ID = 'sync-all';
export { STORE_CLEANUP_SCHEDULE_ID };
/** How late a missed run may still start (after a server outage): set explicitly (temporal-notes 3.3). */
export const CATCHUP_WINDOW = '10 minutes';

export type ScheduleTarget =
  | { kind: 'tool'; id: string; tool: string; op: string }
  | { kind: 'sync-all'; id: string }
  | { kind: 'store-cleanup'; id: string };

export const toolScheduleId = (tool: string, op: string): string => `tool-${tool}-${op}`;

/** How a target is written on the command line and in the schedule's memo. */
export const targetName = (t: ScheduleTarget): string => (t.kind === 'tool' ? `${t.tool}:${t.op}` : t.id);

/** `users`, `users:suspend`, `sync-all` or `store-cleanup`, checked against the tools registry (SyncError 'usage' otherwise). */
export function parseTarget(spec: string): ScheduleTarget {
  if (spec === SYNC_ALL_SCHEDULE_ID) return { kind: 'sync-all', id: SYNC_ALL_SCHEDULE_ID };
  if (spec === STORE_CLEANUP_SCHEDULE_ID) return { kind: 'store-cleanup', id: STORE_CLEANUP_SCHEDULE_ID };
  const [tool, op, extra] = spec.split(':');
  if (extra !== undefined || !tool) throw new SyncError('usage', `"${spec}" is not <tool>[:<op>], sync-all or store-cleanup. Tools: ${toolList()}.`);
  const operation = findOperation(tool, op || undefined);
  return { kind: 'tool', id: toolScheduleId(tool, operation.op), tool, op: operation.op };
}

/** A schedule id (`tool-users-add`, `sync-all`, `stale-lock-watchdog`) or a <tool>[:<op>]. */
export function resolveScheduleId(arg: string): string {
  if (arg.startsWith('tool-') || !/^[a-z]+(:[a-z-]+)?$/.test(arg) || !tools.some((t) => t.name === arg.split(':')[0])) return arg;
  return parseTarget(arg).id;
}

export const toolList = (): string => tools.map((t) => `${t.name} (${t.operations.map((o) => o.op).join(', ')})`).join('; ');

const CRON_FIELD = /^(\*|\?|[0-9A-Za-z]+(-[0-9A-Za-z]+)?)(\/\d+)?(,(\*|[0-9A-Za-z]+(-[0-9A-Za-z]+)?)(\/\d+)?)*$/;
const MONTHS = ['JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN', 'JUL', 'AUG', 'SEP', 'OCT', 'NOV', 'DEC'];
const DAYS = ['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT'];
const CRON_NAMES = ['minute', 'hour', 'day of month', 'month', 'day of week'];

/** A 5-field cron expression (minute hour day-of-month month day-of-week); SyncError 'usage' otherwise. */
export function validateCron(expr: string): string {
  const fields = expr.trim().split(/\s+/);
  if (fields.length !== 5) {
    throw new SyncError('usage', `--cron "${expr}" has ${fields.length} field(s); it needs 5: minute hour day-of-month month day-of-week (e.g. "0 */6 * * *").`);
  }
  fields.forEach((f, i) => {
    const names = (f.match(/[A-Za-z]+/g) ?? []).map((n) => n.toUpperCase());
    const allowed = i === 3 ? MONTHS : i === 4 ? DAYS : [];
    if (!CRON_FIELD.test(f) || names.some((n) => !allowed.includes(n))) {
      throw new SyncError('usage', `--cron "${expr}": the ${CRON_NAMES[i]} field "${f}" is not valid (numbers, *, ranges a-b, lists a,b and steps /n${allowed.length ? `, or names ${allowed[0]}..${allowed.at(-1)}` : ''}).`);
    }
    const limits: [number, number][] = [[0, 59], [0, 23], [1, 31], [1, 12], [0, 7]];
    for (const n of f.match(/\d+/g) ?? []) {
      if (f.includes(`/${n}`) && Number(n) > 0) continue;
      const [lo, hi] = limits[i];
      if (Number(n) < lo || Number(n) > hi) throw new SyncError('usage', `--cron "${expr}": ${n} is out of range for the ${CRON_NAMES[i]} field (${lo}-${hi}).`);
    }
  });
  return fields.join(' ');
}

/**
 * The cron expression as the server keeps it: the server turns it into a calendar, and the text
 * after "#" is kept as that calendar's comment, which `schedule list` shows. Unlike the memo, the
 * comment changes with the spec when a schedule is set again.
 */
const cronSpec = (cron: string, timeZone: string): ScheduleOptions['spec'] => ({ cronExpressions: [`${cron} #${CRON_COMMENT}${cron}`], timezone: timeZone });

/** Schedules run in the Moodle site's time zone (config forcetimezone, else timezone), as Moodle's own tasks do. */
export async function scheduleTimeZone(db: MoodleDb): Promise<string> {
  const [rows] = await db.pool.query<RowDataPacket[]>(`SELECT name, value FROM ${db.t('config')} WHERE name IN ('timezone', 'forcetimezone')`);
  return siteTimeZone(Object.fromEntries(rows.map((r) => [r.name, String(r.value)])));
}

function scheduleAction(target: ScheduleTarget, taskQueue: string): ScheduleOptions['action'] {
  switch (target.kind) {
    case 'tool':
      return {
        type: 'startWorkflow',
        workflowType: 'runTool' satisfies typeof runTool['name'],
        // Temporal adds the start time to the id of each scheduled run.
        workflowId: `run-${target.tool}-${target.op}`,
        args: [{ tool: target.tool, op: target.op }],
        taskQueue,
        staticSummary: `scheduled ${target.tool} ${target.op}`,
        typedSearchAttributes: [
          { key: searchAttributes.tool, value: target.tool },
          { key: searchAttributes.operation, value: target.op },
        ],
      };
    case 'sync-all':
      return {
        type: 'startWorkflow',
        workflowType: 'syncAll' satisfies typeof syncAll['name'],
        workflowId: SYNC_ALL_SCHEDULE_ID,
        args: [{}],
        taskQueue,
        staticSummary: 'scheduled sync-all',
        typedSearchAttributes: [{ key: searchAttributes.operation, value: 'sync-all' }],
      };
    case 'store-cleanup':
      return {
        type: 'startWorkflow',
        workflowType: 'storeCleanup' satisfies typeof storeCleanup['name'],
        workflowId: STORE_CLEANUP_SCHEDULE_ID,
        args: [{}],
        taskQueue,
        staticSummary: 'scheduled store cleanup (fileareacleanupdelay)',
        workflowExecutionTimeout: '1 hour',
        typedSearchAttributes: [{ key: searchAttributes.operation, value: STORE_CLEANUP_SCHEDULE_ID }],
      };
  }
}

export function scheduleOptions(target: ScheduleTarget, cron: string, taskQueue: string, timeZone: string, paused = false): ScheduleOptions {
  return {
    scheduleId: target.id,
    spec: cronSpec(cron, timeZone),
    action: scheduleAction(target, taskQueue),
    // SKIP: a run still going when the next is due is never doubled; across schedules and
    // manual runs, runTool's tool lease keeps one run per tool at a time.
    policies: { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: CATCHUP_WINDOW, pauseOnFailure: false },
    state: paused ? { paused: true, note: 'created paused by moodle-sync schedule defaults' } : undefined,
    memo: { target: targetName(target) },
  };
}

/** Creates the schedule, or (update) brings its spec, action and policies up to date; its paused state is kept. */
export async function upsertSchedule(client: Client, options: ScheduleOptions, update = true): Promise<'created' | 'updated' | 'exists'> {
  try {
    await client.schedule.create(options);
    return 'created';
  } catch (e) {
    if (!(e instanceof ScheduleAlreadyRunning)) throw e;
    if (!update) return 'exists';
    await client.schedule.getHandle(options.scheduleId).update((prev) => ({
      ...prev,
      spec: options.spec,
      action: options.action,
      policies: { ...prev.policies, ...options.policies },
    }));
    return 'updated';
  }
}

/** Runs fn on an existing schedule's handle; a missing schedule is a failure (exit 1) naming the command that lists them. */
export async function withSchedule<T>(client: Client, id: string, fn: (h: ReturnType<Client['schedule']['getHandle']>) => Promise<T>): Promise<T> {
  try {
    return await fn(client.schedule.getHandle(id));
  } catch (e) {
    if (e instanceof ScheduleNotFoundError) throw new SyncError('schedule.not-found', `No schedule "${id}" (moodle-sync schedule list shows them).`);
    throw e;
  }
}

/**
 * The original's scheduled tasks (reference 7.1), for the tools this build has. A tool with
 * several operations gets one schedule per operation, a minute apart in the order "sync all"
 * runs them: the first takes the tool's lease, the next waits for it, so the order holds.
 */
export function defaultSchedules(): { target: ScheduleTarget; cron: string }[] {
  const wanted: { names: string[]; minute: number; hours: string; ops?: string[] }[] = [
    { names: ['users'], minute: 0, hours: '*/6', ops: ['add'] },
    { names: ['enrols', 'enrolments'], minute: 30, hours: '*/6' },
    { names: ['courses'], minute: 0, hours: '*/12' },
    { names: ['userpictures', 'pictures'], minute: 0, hours: '*/12' },
    { names: ['cohorts'], minute: 15, hours: '*/12' },
  ];
  const out: { target: ScheduleTarget; cron: string }[] = [];
  for (const w of wanted) {
    const tool = tools.find((t) => w.names.includes(t.name));
    if (!tool) continue;
    const ops = w.ops ?? (tool.syncAll.length ? tool.syncAll : [tool.defaultOp]);
    ops.forEach((op, i) => out.push({ target: { kind: 'tool', id: toolScheduleId(tool.name, op), tool: tool.name, op }, cron: `${w.minute + i} ${w.hours} * * *` }));
  }
  out.push({ target: { kind: 'store-cleanup', id: STORE_CLEANUP_SCHEDULE_ID }, cron: '0 1 * * *' });
  return out;
}
