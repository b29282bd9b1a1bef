import { ScheduleAlreadyRunning, ScheduleNotFoundError, ScheduleOverlapPolicy, type Client, type ScheduleOptions } from '@temporalio/client';
import { SyncError } from '../activities/errors';
import { findOperation, tools } from '../activities/tools';
import { searchAttributes } from '../workflows/shared';
import type { runTool, syncAll } from '../workflows';

/** Id of the schedule that runs "sync all". */
export const SYNC_ALL_SCHEDULE_ID = 'sync-all';
/** How late a missed run may still start (after a server outage): set explicitly (temporal-notes 3.3). */
export const CATCHUP_WINDOW = '10 minutes';

export interface ScheduleTarget { id: string; tool?: string; op?: string }

export const toolScheduleId = (tool: string, op: string): string => `tool-${tool}-${op}`;

/** `users`, `users:suspend` or `sync-all`, checked against the tools registry (SyncError 'usage' otherwise). */
export function parseTarget(spec: string): ScheduleTarget {
  if (spec === SYNC_ALL_SCHEDULE_ID) return { id: SYNC_ALL_SCHEDULE_ID };
  const [tool, op, extra] = spec.split(':');
  if (extra !== undefined || !tool) throw new SyncError('usage', `"${spec}" is not <tool>[:<op>] or sync-all. Tools: ${toolList()}.`);
  const operation = findOperation(tool, op || undefined);
  return { id: toolScheduleId(tool, operation.op), tool, op: operation.op };
}

/** A schedule id (`tool-users-add`, `sync-all`, `stale-lock-watchdog`) or a <tool>[:<op>]. */
export function resolveScheduleId(arg: string): string {
  if (arg.startsWith('tool-') || arg === SYNC_ALL_SCHEDULE_ID || !/^[a-z]+(:[a-z-]+)?$/.test(arg) || !tools.some((t) => t.name === arg.split(':')[0])) {
    return arg;
  }
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

export function scheduleOptions(target: ScheduleTarget, cron: string, taskQueue: string, paused = false): ScheduleOptions {
  const action: ScheduleOptions['action'] = target.tool
    ? {
        type: 'startWorkflow',
        workflowType: 'runTool' satisfies typeof runTool['name'],
        workflowId: `run-${target.tool}-${target.op}`,
        args: [{ tool: target.tool, op: target.op }],
        taskQueue,
        typedSearchAttributes: [
          { key: searchAttributes.tool, value: target.tool },
          { key: searchAttributes.operation, value: target.op! },
        ],
      }
    : {
        type: 'startWorkflow',
        workflowType: 'syncAll' satisfies typeof syncAll['name'],
        workflowId: SYNC_ALL_SCHEDULE_ID,
        args: [{}],
        taskQueue,
        typedSearchAttributes: [{ key: searchAttributes.operation, value: 'sync-all' }],
      };
  return {
    scheduleId: target.id,
    spec: { cronExpressions: [cron] },
    action,
    // SKIP: a run still going when the next is due is never doubled.
    policies: { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: CATCHUP_WINDOW, pauseOnFailure: false },
    state: paused ? { paused: true, note: 'created paused by moodle-sync schedule defaults' } : undefined,
    memo: { cron, target: target.tool ? `${target.tool}:${target.op}` : SYNC_ALL_SCHEDULE_ID },
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

/** The original's scheduled tasks (reference 7.1), for the tools this build has. */
export function defaultSchedules(): { target: ScheduleTarget; cron: string }[] {
  const wanted: { names: string[]; cron: string; ops?: (defaultOp: string, all: string[]) => string[] }[] = [
    { names: ['users'], cron: '0 */6 * * *', ops: () => ['add'] },
    { names: ['enrols', 'enrolments'], cron: '30 */6 * * *' },
    { names: ['courses'], cron: '0 */12 * * *' },
    { names: ['pictures', 'userpictures'], cron: '0 */12 * * *' },
    { names: ['cohorts'], cron: '15 */12 * * *' },
  ];
  const out: { target: ScheduleTarget; cron: string }[] = [];
  for (const w of wanted) {
    const tool = tools.find((t) => w.names.includes(t.name));
    if (!tool) continue;
    const ops = w.ops ? w.ops(tool.defaultOp, tool.syncAll) : (tool.syncAll.length ? tool.syncAll : [tool.defaultOp]);
    for (const op of ops) out.push({ target: { id: toolScheduleId(tool.name, op), tool: tool.name, op }, cron: w.cron });
  }
  return out;
}
