import { WorkflowNotFoundError } from '@temporalio/client';
import { SyncError } from '../../activities/errors';
import { findTool } from '../../activities/tools';
import { parseArgs, expectPositionals } from '../args';
import { ok, table, isoTime } from '../output';
import type { Command } from '../context';
import { searchAttributes, type FileRunSummary, type PruneResult, type ToolRunSummary } from '../../workflows/shared';
import { fileBlock, runningText, toolRunText } from '../runText';
import { runningView } from '../overviewData';
import { pollRun } from '../progress';
import type { SyncAllSummary } from '../../workflows/syncAll';

const usage = `moodle-sync runs [--tool <tool>] [--limit <n>]
       moodle-sync runs show <workflow id>`;

const RUN_TYPES = ['runTool', 'processFile', 'syncAll', 'storeCleanup'];

export interface RunView {
  workflowId: string;
  runId: string;
  type: string;
  status: string;
  tool: string | null;
  op: string | null;
  file: string | null;
  outcome: string | null;
  startTime: string | null;
  closeTime: string | null;
}

function summaryText(type: string, result: unknown): string {
  if (!result || typeof result !== 'object') return String(result);
  if (type === 'runTool') return toolRunText(result as ToolRunSummary);
  if (type === 'processFile') return fileBlock(result as FileRunSummary);
  if (type === 'syncAll') return [`sync all: ${(result as SyncAllSummary).status}`, ...(result as SyncAllSummary).runs.map(toolRunText)].join('\n');
  if (type === 'storeCleanup') return (result as PruneResult).summary;
  return JSON.stringify(result, null, 2);
}

export const runsCommand: Command = {
  name: 'runs',
  summary: 'Recent runs (runTool, processFile, syncAll, storeCleanup) from Temporal visibility; runs show <id> prints one\'s summary.',
  usage,
  async run(argv, ctx) {
    const args = parseArgs(argv, { valued: ['tool', 'limit'] });
    const [sub, ...rest] = args.positional;
    const client = await ctx.temporal();
    if (sub === 'show') {
      expectPositionals({ ...args, positional: rest }, 1, 1, usage);
      const handle = client.workflow.getHandle(rest[0]);
      let desc;
      try {
        desc = await handle.describe();
      } catch (e) {
        if (e instanceof WorkflowNotFoundError) throw new SyncError('run.not-found', `No run "${rest[0]}" (moodle-sync runs lists them).`);
        throw e;
      }
      const status = desc.status.name;
      const base = {
        workflowId: desc.workflowId, runId: desc.runId, type: desc.type, status,
        startTime: desc.startTime.toISOString(), closeTime: desc.closeTime?.toISOString() ?? null,
        tool: desc.typedSearchAttributes.get(searchAttributes.tool) ?? null,
        op: desc.typedSearchAttributes.get(searchAttributes.operation) ?? null,
        outcome: desc.typedSearchAttributes.get(searchAttributes.outcome) ?? null,
      };
      const head = `${desc.workflowId} (${desc.type}): ${status}, started ${isoTime(desc.startTime.getTime())}${desc.closeTime ? `, closed ${isoTime(desc.closeTime.getTime())}` : ''}`;
      if (status === 'RUNNING' && desc.type === 'runTool') {
        const now = runningView(desc.workflowId, await pollRun(client, desc.workflowId));
        return ok({ ...base, result: null, now }, `${head}\nnow: ${runningText(now)}`);
      }
      if (status !== 'COMPLETED') return ok({ ...base, result: null }, head);
      const result = await handle.result();
      return ok({ ...base, result }, `${head}\n${summaryText(desc.type, result)}`);
    }
    if (sub !== undefined) throw new SyncError('usage', `runs takes no argument but "show <id>".\nUsage: ${usage}`);
    const limitArg = args.flags.limit ?? '20';
    const limit = Number(limitArg);
    if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw new SyncError('usage', `--limit "${limitArg}" must be a whole number from 1 to 1000.`);
    const tool = typeof args.flags.tool === 'string' ? findTool(args.flags.tool).name : undefined;
    const query = [`(${RUN_TYPES.map((t) => `WorkflowType = '${t}'`).join(' OR ')})`, ...(tool ? [`Tool = '${tool}'`] : [])].join(' AND ');
    const runs: RunView[] = [];
    for await (const w of client.workflow.list({ query, pageSize: Math.min(limit, 100) })) {
      runs.push({
        workflowId: w.workflowId, runId: w.runId, type: w.type, status: w.status.name,
        tool: w.typedSearchAttributes.get(searchAttributes.tool) ?? null,
        op: w.typedSearchAttributes.get(searchAttributes.operation) ?? null,
        file: w.typedSearchAttributes.get(searchAttributes.inputFile) ?? null,
        outcome: w.typedSearchAttributes.get(searchAttributes.outcome) ?? null,
        startTime: w.startTime?.toISOString() ?? null,
        closeTime: w.closeTime?.toISOString() ?? null,
      });
      if (runs.length >= limit) break;
    }
    runs.sort((a, b) => (b.startTime ?? '').localeCompare(a.startTime ?? ''));
    const t = (s: string | null) => (s ? s.replace(/\.\d+Z$/, 'Z') : '-');
    const text = runs.length
      ? table(['workflow id', 'type', 'status', 'started', 'closed', 'outcome', 'file'], runs.map((r) => [r.workflowId, r.type, r.status.toLowerCase(), t(r.startTime), t(r.closeTime), r.outcome ?? '-', r.file ?? '-']))
      : `(no runs${tool ? ` of ${tool}` : ''} yet)`;
    return ok(runs, text);
  },
};
