import { WorkflowFailedError } from '@temporalio/client';
import { SyncError } from '../../activities/errors';
import { findOperation } from '../../activities/tools';
import { parseArgs, expectPositionals } from '../args';
import type { Command } from '../context';
import { searchAttributes, type FileRunSummary, type ToolRunSummary } from '../../workflows/shared';
import type { runTool } from '../../workflows';

const usage = 'moodle-sync run <tool> [--op <op>] [--file <store path>] [--simulate] [--wait] [--json]';

function fileLine(f: FileRunSummary): string {
  const head = `${f.file}: ${f.status === 'failed' ? `REFUSED: ${f.refusal}` : `${f.rows.total} row(s), ${f.rows.applied} applied, ${f.rows.failed} failed, ${f.rows.skipped} skipped`}${f.simulate ? ' (simulation, nothing written)' : ''}`;
  return [head, `  report: ${f.report ?? '-'}`, `  tryback: ${f.tryback ?? '-'}`].join('\n');
}

/** The JSON a script reads: the first file's figures at the top, every file under `files`. */
function resultJson(s: ToolRunSummary, workflowId: string) {
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
    files: s.files,
  };
}

export const runCommand: Command = {
  name: 'run',
  summary: 'Run a tool operation (reintegration first) on its configured file or --file.',
  usage,
  async run(argv, ctx) {
    const args = parseArgs(argv, { switches: ['simulate', 'wait'], valued: ['op', 'file'] });
    expectPositionals(args, 1, 1, usage);
    const tool = args.positional[0];
    const operation = findOperation(tool, typeof args.flags.op === 'string' ? args.flags.op : undefined);
    const file = typeof args.flags.file === 'string' ? args.flags.file : undefined;
    if (file !== undefined) {
      const store = await ctx.store();
      const st = await store.stat(file);
      if (!st || st.type !== 'file') throw new SyncError('usage', `No such file in the store: "${file}" (moodle-sync files ls lists them).`);
    }
    const client = await ctx.temporal();
    const workflowId = `run-${tool}-${operation.op}-${new Date().toISOString().replace(/[:.]/g, '')}`;
    const handle = await client.workflow.start<typeof runTool>('runTool', {
      workflowId,
      taskQueue: ctx.env.taskQueue,
      args: [{ tool, op: operation.op, file, simulate: args.flags.simulate === true }],
      typedSearchAttributes: [
        { key: searchAttributes.tool, value: tool },
        { key: searchAttributes.operation, value: operation.op },
        ...(file ? [{ key: searchAttributes.inputFile, value: file }] : []),
      ],
    });
    if (!args.flags.wait) {
      return { code: 0, data: { status: 'started', workflowId, tool, op: operation.op }, text: `started ${workflowId} (moodle-sync run ... --wait waits for the result)` };
    }
    let summary: ToolRunSummary;
    try {
      summary = await handle.result();
    } catch (e) {
      const cause = e instanceof WorkflowFailedError && e.cause ? e.cause.message : (e as Error).message;
      throw new SyncError('run.failed', `Run ${workflowId} failed: ${cause}`);
    }
    const text = [
      `${tool} ${operation.op}: ${summary.status}${summary.message ? ` (${summary.message})` : ''}`,
      `reintegration: ${summary.reintegration}`,
      ...summary.files.map(fileLine),
    ].join('\n');
    return { code: summary.status === 'failed' ? 1 : 0, data: resultJson(summary, workflowId), text };
  },
};
