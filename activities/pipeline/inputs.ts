import * as path from 'node:path';
import { SyncError } from '../errors';
import { FileStore } from '../store';
import { findOperation } from '../tools';
import { isOutputName } from './outputs';
import type { ToolOperation } from '../tools/types';

/** An operation's configured location: its setting's value, or what the operation derives from its settings. */
export const operationLocation = (operation: ToolOperation, settings: Record<string, string>): string =>
  operation.location?.(settings) ?? settings[operation.locationSetting] ?? '';

/**
 * The files an operation runs on: `--file`, or its location setting, which may be a comma list
 * or a name pattern with `*`; every match runs, in name order (spec decision 16). Outputs
 * (reports, archives, trybacks) never match.
 */
export async function resolveInputs(store: FileStore, settings: Record<string, string>, tool: string, op: string | undefined, file?: string): Promise<{ op: string; files: string[]; location: string }> {
  const operation = findOperation(tool, op);
  if (file !== undefined) {
    const st = await store.stat(file);
    if (!st || st.type !== 'file') throw new SyncError('store.not-found', `No such file in the store: "${file}".`);
    return { op: operation.op, files: [FileStore.normalise(file)], location: file };
  }
  const location = operationLocation(operation, settings);
  const files: string[] = [];
  for (const part of location.split(',').map((p) => p.trim()).filter(Boolean)) {
    if (!part.includes('*')) {
      if ((await store.stat(part))?.type === 'file') files.push(FileStore.normalise(part));
      continue;
    }
    const dir = path.posix.dirname(part) === '.' ? '' : path.posix.dirname(part);
    const pattern = new RegExp(`^${path.posix.basename(part).split('*').map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`);
    const entries = await store.list(dir).catch(() => []);
    for (const e of entries) {
      if (e.type === 'file' && pattern.test(path.posix.basename(e.path)) && !isOutputName(e.path)) files.push(e.path);
    }
  }
  return { op: operation.op, files: [...new Set(files)].sort(), location };
}

