import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { WorkflowFailedError } from '@temporalio/client';
import { SyncError } from '../../activities/errors';
import { findOperation } from '../../activities/tools';
import type { ToolOperation } from '../../activities/tools/types';
import { loadSettingsMap } from '../../activities/settings/store';
import { sha256File } from '../../activities/reintegration';
import { operationLocation } from '../../activities/pipeline/inputs';
import { parseArgs, expectPositionals } from '../args';
import { formatBytes } from '../output';
import type { Command, CommandContext } from '../context';
import { fileBlock, toolRunHead } from '../runText';
import { followRun, ProgressDisplay, type ProgressMode } from '../progress';
import { searchAttributes, type ToolRunSummary } from '../../workflows/shared';
import type { runTool } from '../../workflows';

const usage = `moodle-sync run <tool> [--op <op>] [--file <store path>] [--simulate] [--wait] [--json]
       moodle-sync run <tool> [--op <op>] --upload <local file> [--file <store path>] [--force] [--simulate] [--wait]
  --upload puts a local file in the store (under the operation's configured file name, or --file,
  or its own name when the setting is a list or a pattern) and runs that file.
  --wait follows the run: a progress bar on a terminal, plain lines otherwise (on stderr).`;

/** The JSON a script reads: the first file's figures at the top, every file under `files`. */
function resultJson(s: ToolRunSummary, workflowId: string, uploaded: string | null) {
  const first = s.files[0];
  return {
    status: s.status,
    tool: s.tool,
    op: s.op,
    file: first?.file ?? null,
    simulate: s.simulate,
    rows: first?.rows ?? { total: 0, applied: 0, failed: 0, skipped: 0 },
    report: first?.report ?? null,
    tryback: first?.tryback ?? null,
    archive: first?.archive ?? null,
    refusal: first?.refusal ?? null,
    message: s.message ?? null,
    reintegration: s.reintegration,
    workflowId,
    uploaded,
    files: s.files,
  };
}

/** Where an uploaded file goes: --file, else the operation's configured name, else its own name. */
async function uploadDestination(ctx: CommandContext, operation: ToolOperation, local: string, fileFlag: string | undefined): Promise<string> {
  if (fileFlag !== undefined) return fileFlag;
  const location = operationLocation(operation, await loadSettingsMap(ctx.db()));
  const parts = location.split(',').map((p) => p.trim()).filter(Boolean);
  return parts.length === 1 && !parts[0].includes('*') ? parts[0] : path.basename(local);
}

/** The original's "last minute" file: copied into the store, never over a different file unless --force. */
async function upload(ctx: CommandContext, operation: ToolOperation, localArg: string, fileFlag: string | undefined, force: boolean): Promise<{ dest: string; size: number }> {
  const local = path.resolve(localArg);
  const st = await fsp.stat(local).catch(() => undefined);
  if (!st?.isFile()) throw new SyncError('usage', `--upload: no such local file "${localArg}".`);
  const dest = await uploadDestination(ctx, operation, local, fileFlag);
  const store = await ctx.store();
  const existing = await store.stat(dest);
  if (existing?.type === 'folder') throw new SyncError('usage', `--upload: "${dest}" is a folder in the store; name a file with --file.`);
  if (existing && !force && (await sha256File(await store.requireFile(dest))) !== (await sha256File(local))) {
    throw new SyncError('store.exists', `--upload: store:${dest} exists with other content (it may be waiting to run). Use --force to replace it, or --file <store path> for another name.`);
  }
  await store.importFile(dest, local, true);
  return { dest, size: st.size };
}

function progressMode(ctx: CommandContext, json: boolean): ProgressMode {
  if (ctx.io.err.isTTY) return 'bar';
  return json ? 'off' : 'lines';
}

export const runCommand: Command = {
  name: 'run',
  summary: 'Run a tool operation (reintegration first) on its configured file, --file, or an --upload; --wait shows its progress.',
  usage,
  async run(argv, ctx) {
    const args = parseArgs(argv, { switches: ['simulate', 'wait', 'force'], valued: ['op', 'file', 'upload'] });
    expectPositionals(args, 1, 1, usage);
    const tool = args.positional[0];
    const operation = findOperation(tool, typeof args.flags.op === 'string' ? args.flags.op : undefined);
    let file = typeof args.flags.file === 'string' ? args.flags.file : undefined;
    let uploaded: { dest: string; size: number } | undefined;
    if (typeof args.flags.upload === 'string') {
      uploaded = await upload(ctx, operation, args.flags.upload, file, args.flags.force === true);
      file = uploaded.dest;
    } else if (args.flags.force) {
      throw new SyncError('usage', `--force goes with --upload.\nUsage: ${usage}`);
    } else if (file !== undefined) {
      const st = await (await ctx.store()).stat(file);
      if (!st || st.type !== 'file') throw new SyncError('usage', `No such file in the store: "${file}" (moodle-sync files ls lists them).`);
    }
    const simulate = args.flags.simulate === true;
    const client = await ctx.temporal();
    const workflowId = `run-${tool}-${operation.op}-${new Date().toISOString().replace(/[:.]/g, '')}`;
    const handle = await client.workflow.start<typeof runTool>('runTool', {
      workflowId,
      taskQueue: ctx.env.taskQueue,
      args: [{ tool, op: operation.op, file, simulate }],
      staticSummary: `${tool} ${operation.op}${file ? `: ${file}` : ''}${simulate ? ' (simulation)' : ''}`,
      typedSearchAttributes: [
        { key: searchAttributes.tool, value: tool },
        { key: searchAttributes.operation, value: operation.op },
        ...(file ? [{ key: searchAttributes.inputFile, value: file }] : []),
      ],
    });
    const uploadLine = uploaded ? [`uploaded ${args.flags.upload} -> store:${uploaded.dest} (${formatBytes(uploaded.size)})`] : [];
    if (!args.flags.wait) {
      return {
        code: 0,
        data: { status: 'started', workflowId, tool, op: operation.op, uploaded: uploaded?.dest ?? null },
        text: [...uploadLine, `started ${workflowId} (moodle-sync run ... --wait waits for the result)`].join('\n'),
      };
    }
    const display = new ProgressDisplay(ctx.io.err, progressMode(ctx, args.flags.json === true), `${tool} ${operation.op}`);
    const result = handle.result();
    await followRun(client, workflowId, result, display);
    let summary: ToolRunSummary;
    try {
      summary = await result;
    } catch (e) {
      display.finish();
      const cause = e instanceof WorkflowFailedError && e.cause ? e.cause.message : (e as Error).message;
      throw new SyncError('run.failed', `Run ${workflowId} failed: ${cause}`);
    }
    display.finish(summary);
    const text = [...uploadLine, toolRunHead(summary), `reintegration: ${summary.reintegration}`, ...summary.files.map(fileBlock)].join('\n');
    return { code: summary.status === 'failed' ? 1 : 0, data: resultJson(summary, workflowId, uploaded?.dest ?? null), text };
  },
};
