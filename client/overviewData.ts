import type { Client } from '@temporalio/client';
import type { RowDataPacket } from 'mysql2';
import { sha256File } from '../activities/reintegration';
import { tools } from '../activities/tools';
import { loadSettingsMap } from '../activities/settings/store';
import { operationLocation, resolveInputs } from '../activities/pipeline/inputs';
import { inspectLocks, type LockState } from '../activities/locks';
import { syncDropFolder } from '../activities/env';
import type { CommandContext } from './context';
import { listSchedules, type ScheduleView } from './schedules';
import { toolScheduleId } from './toolSchedules';
import { pollRun, type RunSnapshot } from './progress';
import { searchAttributes, type FileProgress, type FileRunSummary, type ToolRunSummary } from '../workflows/shared';

export interface WaitingFile {
  path: string;
  size: number;
  mtimeMs: number;
  ageSec: number;
  /** This exact content has run already (filecleanup off leaves it): it runs again on the next run. */
  alreadyRan: boolean;
}

export interface LastRunView {
  workflowId: string;
  /** Temporal's status: COMPLETED, FAILED, TERMINATED, CANCELED, TIMED_OUT. */
  status: string;
  startTime: string | null;
  closeTime: string | null;
  /** completed / failed (a file refused) for a completed run, else the Temporal status in lower case. */
  outcome: string;
  simulate: boolean;
  message: string | null;
  rows: { total: number; applied: number; failed: number; skipped: number };
  files: Pick<FileRunSummary, 'file' | 'outcome' | 'rows' | 'report' | 'tryback' | 'archive' | 'refusal'>[];
}

export interface RunningView {
  workflowId: string;
  stage: string;
  waitingFor: string | null;
  file: string | null;
  fileIndex: number | null;
  fileCount: number;
  progress: FileProgress | null;
}

export interface OperationView {
  tool: string;
  op: string;
  summary: string;
  /** The operation's location setting (a file, a comma list or a pattern). */
  location: string;
  locationSetting: string;
  waiting: WaitingFile[];
  schedule: Pick<ScheduleView, 'id' | 'spec' | 'cron' | 'timeZone' | 'paused' | 'nextRuns'> | null;
  lastRun: LastRunView | null;
  running: RunningView | null;
}

export interface OverviewData {
  store: string;
  dropFolder: string;
  locks: LockState[];
  operations: OperationView[];
  /** Schedules that are not one tool operation's: the watchdog, sync-all, store-cleanup. */
  otherSchedules: ScheduleView[];
  /** Why the schedule and run columns are empty, when Temporal could not be asked. */
  temporalError: string | null;
}

const quote = (v: string) => `'${v.replace(/'/g, "''")}'`;
const sumRows = (files: { rows: LastRunView['rows'] }[]) => files.reduce((t, f) => ({
  total: t.total + f.rows.total, applied: t.applied + f.rows.applied, failed: t.failed + f.rows.failed, skipped: t.skipped + f.rows.skipped,
}), { total: 0, applied: 0, failed: 0, skipped: 0 });

/** The newest finished run of a tool operation, from visibility, with its result when it completed. */
async function lastRun(client: Client, tool: string, op: string): Promise<LastRunView | null> {
  const query = `WorkflowType = 'runTool' AND Tool = ${quote(tool)} AND Operation = ${quote(op)} AND ExecutionStatus != 'Running'`;
  let newest: { workflowId: string; runId: string; status: string; start?: Date; close?: Date } | undefined;
  let seen = 0;
  for await (const w of client.workflow.list({ query, pageSize: 20 })) {
    if (!newest || (w.closeTime?.getTime() ?? 0) > (newest.close?.getTime() ?? 0)) {
      newest = { workflowId: w.workflowId, runId: w.runId, status: w.status.name, start: w.startTime, close: w.closeTime };
    }
    if (++seen >= 20) break; // visibility lists the newest first; a page is plenty
  }
  if (!newest) return null;
  const base = { workflowId: newest.workflowId, status: newest.status, startTime: newest.start?.toISOString() ?? null, closeTime: newest.close?.toISOString() ?? null };
  if (newest.status !== 'COMPLETED') {
    return { ...base, outcome: newest.status.toLowerCase(), simulate: false, message: null, rows: sumRows([]), files: [] };
  }
  const summary = await client.workflow.getHandle<() => Promise<ToolRunSummary>>(newest.workflowId, newest.runId).result();
  const files = summary.files.map(({ file, outcome, rows, report, tryback, archive, refusal }) => ({ file, outcome, rows, report, tryback, archive, refusal }));
  const withFailures = files.some((f) => f.outcome === 'completed-with-failures');
  return {
    ...base,
    outcome: summary.status === 'failed' ? 'refused' : !files.length ? 'no input' : withFailures ? 'completed-with-failures' : 'completed',
    simulate: summary.simulate,
    message: summary.message ?? null,
    rows: sumRows(files),
    files,
  };
}

/** What a running tool run does now, from one poll of its queries. */
export function runningView(workflowId: string, snap: RunSnapshot): RunningView {
  return {
    workflowId,
    stage: snap.status?.stage ?? 'starting',
    waitingFor: snap.status?.waitingFor ?? null,
    file: snap.status?.current?.file ?? null,
    fileIndex: snap.status?.current?.index ?? null,
    fileCount: snap.status?.files.length ?? 0,
    progress: snap.progress ?? null,
  };
}

/** Every running tool run, by "tool:op", with what it does now (status and progress queries). */
async function runningNow(client: Client): Promise<Map<string, RunningView>> {
  const out = new Map<string, RunningView>();
  for await (const w of client.workflow.list({ query: "WorkflowType = 'runTool' AND ExecutionStatus = 'Running'" })) {
    const tool = w.typedSearchAttributes.get(searchAttributes.tool);
    const op = w.typedSearchAttributes.get(searchAttributes.operation);
    if (!tool || !op) continue;
    out.set(`${tool}:${op}`, runningView(w.workflowId, await pollRun(client, w.workflowId)));
  }
  return out;
}

/** Whether the store file's current content is one that has run (the pipeline's processed_inputs). */
async function alreadyRan(ctx: CommandContext, storePath: string): Promise<boolean> {
  const db = ctx.db();
  let hashes: RowDataPacket[];
  try {
    [hashes] = await db.pool.query<RowDataPacket[]>(`SELECT sha256 FROM ${db.own('processed_inputs')} WHERE name = ?`, [storePath]);
  } catch (e) {
    if ((e as { code?: string }).code === 'ER_NO_SUCH_TABLE') return false; // nothing has run on this site yet
    throw e;
  }
  if (!hashes.length) return false;
  const current = await sha256File(await (await ctx.store()).requireFile(storePath));
  return hashes.some((h) => h.sha256 === current);
}

/** What the overview shows, gathered from the settings, the store, the drop folder and Temporal. */
export async function gatherOverview(ctx: CommandContext): Promise<OverviewData> {
  const store = await ctx.store();
  const settings = await loadSettingsMap(ctx.db());
  const dropFolder = syncDropFolder(ctx.env);
  const now = Date.now();
  const operations: OperationView[] = [];
  for (const tool of tools) {
    for (const o of tool.operations) {
      const { files } = await resolveInputs(store, settings, tool.name, o.op).catch(() => ({ files: [] as string[] }));
      const waiting: WaitingFile[] = [];
      for (const f of files) {
        const st = await store.stat(f);
        if (st) waiting.push({ path: st.path, size: st.size, mtimeMs: st.mtimeMs, ageSec: Math.max(0, Math.floor((now - st.mtimeMs) / 1000)), alreadyRan: await alreadyRan(ctx, st.path) });
      }
      operations.push({ tool: tool.name, op: o.op, summary: o.summary, location: operationLocation(o, settings), locationSetting: o.locationSetting, waiting, schedule: null, lastRun: null, running: null });
    }
  }
  const data: OverviewData = { store: store.root, dropFolder, locks: await inspectLocks(dropFolder), operations, otherSchedules: [], temporalError: null };
  let client: Client;
  try {
    client = await ctx.temporal();
  } catch (e) {
    data.temporalError = (e as Error).message;
    return data;
  }
  const [schedules, running, lastRuns] = await Promise.all([
    listSchedules(client),
    runningNow(client),
    Promise.all(operations.map((o) => lastRun(client, o.tool, o.op))),
  ]);
  const byId = new Map(schedules.map((s) => [s.id, s]));
  operations.forEach((o, i) => {
    const s = byId.get(toolScheduleId(o.tool, o.op));
    if (s) {
      o.schedule = { id: s.id, spec: s.spec, cron: s.cron, timeZone: s.timeZone, paused: s.paused, nextRuns: s.nextRuns };
      byId.delete(s.id);
    }
    o.lastRun = lastRuns[i];
    o.running = running.get(`${o.tool}:${o.op}`) ?? null;
  });
  data.otherSchedules = [...byId.values()];
  return data;
}
