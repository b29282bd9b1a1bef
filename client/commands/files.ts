import * as path from 'node:path';
import * as fsp from 'node:fs/promises';
import { SyncError } from '../../activities/errors';
import { FileStore } from '../../activities/store';
import { parseArgs, expectPositionals } from '../args';
import { ok, table, formatBytes, isoTime, type CommandResult } from '../output';
import type { Command, CommandContext } from '../context';
import { pruneStore } from '../../activities/storeCleanup';

const usage = `moodle-sync files ls [<store path>] [--recursive]
       moodle-sync files put <local file> [<store path>] [--force]
       moodle-sync files get <store path> [<local file>] [--force]
       moodle-sync files cat <store path>
       moodle-sync files rm <store path>
       moodle-sync files mv <store path> <store path> [--force]
       moodle-sync files prune [--older-than <days>] [--dry-run]
  prune removes reports, archives and trybacks older than fileareacleanupdelay days (or --older-than);
  inputs are never touched.`;

type Sub = (args: string[], flags: Record<string, string | true>, ctx: CommandContext) => Promise<CommandResult>;

const subcommands: Record<string, Sub> = {
  async ls(args, flags, ctx) {
    const store = await ctx.store();
    const entries = await store.list(args[0] ?? '', flags.recursive === true);
    const text = entries.length
      ? table(['path', 'size', 'modified'], entries.map((e) => [e.type === 'folder' ? `${e.path}/` : e.path, e.type === 'folder' ? '-' : formatBytes(e.size), isoTime(e.mtimeMs)]))
      : `(${args[0] || 'the store'} is empty)`;
    return ok({ root: store.root, entries }, text);
  },
  async put(args, flags, ctx) {
    const store = await ctx.store();
    const local = path.resolve(args[0]);
    const target = args[1] ?? path.basename(local);
    const st = await fsp.stat(local).catch(() => undefined);
    if (!st?.isFile()) throw new SyncError('store.not-found', `No such local file: "${args[0]}".`);
    // Into a folder: keep the file's name ("/" or "." is the root, whose normal form is "").
    const dest = (await store.stat(target))?.type === 'folder' ? [FileStore.normalise(target), path.basename(local)].filter(Boolean).join('/') : target;
    await store.importFile(dest, local, flags.force === true);
    return ok({ put: dest, size: st.size }, `${args[0]} -> store:${dest} (${formatBytes(st.size)})`);
  },
  async get(args, flags, ctx) {
    const store = await ctx.store();
    const local = path.resolve(args[1] ?? path.basename(args[0]));
    if (flags.force !== true && (await fsp.lstat(local).catch(() => undefined))) {
      throw new SyncError('store.exists', `Local file "${local}" exists (use --force to replace it).`);
    }
    await store.exportFile(args[0], local);
    return ok({ get: args[0], to: local }, `store:${args[0]} -> ${local}`);
  },
  async cat(args, _flags, ctx) {
    const store = await ctx.store();
    const abs = await store.requireFile(args[0]);
    const content = await fsp.readFile(abs);
    return ok({ path: args[0], content: content.toString('utf8') }, content.toString('utf8').replace(/\n$/, ''));
  },
  async rm(args, _flags, ctx) {
    await (await ctx.store()).remove(args[0]);
    return ok({ removed: args[0] }, `removed store:${args[0]}`);
  },
  async prune(_args, flags, ctx) {
    let olderThanDays: number | undefined;
    if (typeof flags['older-than'] === 'string') {
      olderThanDays = Number(flags['older-than']);
      if (!/^\d+$/.test(flags['older-than']) || olderThanDays > 36500) throw new SyncError('usage', `--older-than "${flags['older-than']}" must be a whole number of days (0 to 36500).`);
    }
    const result = await pruneStore({ db: ctx.db(), store: await ctx.store() }, { olderThanDays, dryRun: flags['dry-run'] === true });
    const listed = result.removed.map((r) => `  ${r.path} (${r.kind}, ${r.ageDays} day(s) old)`);
    const more = result.removedCount > result.removed.length ? [`  ... and ${result.removedCount - result.removed.length} more`] : [];
    return ok(result, [result.summary + (result.removedBytes ? `, ${formatBytes(result.removedBytes)}` : ''), ...listed, ...more].join('\n'));
  },
  async mv(args, flags, ctx) {
    await (await ctx.store()).move(args[0], args[1], flags.force === true);
    return ok({ moved: args[0], to: args[1] }, `store:${args[0]} -> store:${args[1]}`);
  },
};

const arity: Record<string, [number, number]> = { ls: [0, 1], put: [1, 2], get: [1, 2], cat: [1, 1], rm: [1, 1], mv: [2, 2], prune: [0, 0] };
/** Flags that only some subcommands take. */
const onlyFor: Record<string, string[]> = { recursive: ['ls'], force: ['put', 'get', 'mv'], 'older-than': ['prune'], 'dry-run': ['prune'] };

export const filesCommand: Command = {
  name: 'files',
  summary: 'Manage the file store (ls, put, get, cat, rm, mv, prune): paths never leave it.',
  usage,
  async run(argv, ctx) {
    const args = parseArgs(argv, { switches: ['recursive', 'force', 'dry-run'], valued: ['older-than'] });
    const [sub, ...rest] = args.positional;
    if (!sub || !subcommands[sub]) throw new SyncError('usage', `files needs one of: ${Object.keys(subcommands).join(', ')}.\nUsage: ${usage}`);
    for (const flag of Object.keys(args.flags)) {
      if (onlyFor[flag] && !onlyFor[flag].includes(sub)) throw new SyncError('usage', `--${flag} goes with files ${onlyFor[flag].join(' or ')}, not files ${sub}.`);
    }
    expectPositionals({ ...args, positional: rest }, arity[sub][0], arity[sub][1], usage);
    return subcommands[sub](rest, args.flags, ctx);
  },
};
