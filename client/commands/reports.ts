import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { SyncError } from '../../activities/errors';
import { REPORTS_DIR, type StoreEntry } from '../../activities/store';
import { findTool } from '../../activities/tools';
import { loadSettingsMap } from '../../activities/settings/store';
import { operationLocation } from '../../activities/pipeline/inputs';
import { parseArgs, expectPositionals } from '../args';
import { ok, table, formatBytes, isoTime } from '../output';
import type { Command, CommandContext } from '../context';

const usage = `moodle-sync reports list
       moodle-sync reports show <store path or report name>
       moodle-sync reports tail [<tool>]`;

/** Every report, newest first. */
async function listReports(ctx: CommandContext): Promise<StoreEntry[]> {
  const store = await ctx.store();
  const entries = await store.list(REPORTS_DIR, true).catch(() => [] as StoreEntry[]);
  return entries.filter((e) => e.type === 'file').sort((a, b) => b.mtimeMs - a.mtimeMs || b.path.localeCompare(a.path));
}

async function showReport(ctx: CommandContext, entry: StoreEntry) {
  const abs = await (await ctx.store()).requireFile(entry.path);
  const content = await fsp.readFile(abs, 'utf8');
  return ok({ path: entry.path, size: entry.size, modified: isoTime(entry.mtimeMs), content }, `== store:${entry.path} (${isoTime(entry.mtimeMs)})\n${content.replace(/\n$/, '')}`);
}

/** Report names are <stamp>_report_<input name>: does the input part match one of the tool's configured files? */
async function toolMatcher(ctx: CommandContext, toolName: string): Promise<(reportPath: string) => boolean> {
  const tool = findTool(toolName);
  const settings = await loadSettingsMap(ctx.db());
  const patterns = tool.operations.flatMap((o) => operationLocation(o, settings).split(','))
    .map((p) => path.posix.basename(p.trim()))
    .filter(Boolean)
    .map((p) => new RegExp(`^${p.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*')}$`));
  return (reportPath) => {
    const input = path.posix.basename(reportPath).replace(/^.*?_report_/, '');
    return patterns.some((re) => re.test(input));
  };
}

export const reportsCommand: Command = {
  name: 'reports',
  summary: 'Read the run reports in the store: list (newest first), show one, tail (the newest, optionally a tool\'s).',
  usage,
  async run(argv, ctx) {
    const args = parseArgs(argv);
    const [sub, ...rest] = args.positional;
    const positional = { ...args, positional: rest };
    switch (sub) {
      case 'list': {
        expectPositionals(positional, 0, 0, usage);
        const reports = await listReports(ctx);
        const text = reports.length
          ? table(['report', 'size', 'modified'], reports.map((r) => [r.path, formatBytes(r.size), isoTime(r.mtimeMs)]))
          : '(no reports: set storereport to 1 to keep one per run)';
        return ok(reports, text);
      }
      case 'show': {
        expectPositionals(positional, 1, 1, usage);
        const store = await ctx.store();
        const direct = await store.stat(rest[0]).catch(() => undefined);
        if (direct?.type === 'file') return showReport(ctx, direct);
        const byName = (await listReports(ctx)).find((r) => path.posix.basename(r.path) === rest[0] || r.path === `${REPORTS_DIR}/${rest[0]}`);
        if (!byName) throw new SyncError('report.not-found', `No report "${rest[0]}" (moodle-sync reports list shows them).`);
        return showReport(ctx, byName);
      }
      case 'tail': {
        expectPositionals(positional, 0, 1, usage);
        const match = rest[0] ? await toolMatcher(ctx, rest[0]) : () => true;
        const newest = (await listReports(ctx)).find((r) => match(r.path));
        if (!newest) throw new SyncError('report.not-found', `No report${rest[0] ? ` for ${rest[0]}` : ''} yet (set storereport to 1 to keep one per run).`);
        return showReport(ctx, newest);
      }
      default:
        throw new SyncError('usage', `reports needs one of: list, show, tail.\nUsage: ${usage}`);
    }
  },
};
