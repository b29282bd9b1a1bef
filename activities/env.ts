import * as fs from 'node:fs';
import * as path from 'node:path';
import { SyncError } from './errors';

/** Connection settings, read from the environment only (tool settings live in Moodle's config_plugins). */
export interface SyncEnv {
  dbUrl: string;
  dbPrefix: string;
  /** Prefix of moodle-sync's own tables in the Moodle database (never Moodle's own prefix). */
  ownPrefix: string;
  moodledata: string;
  store: string;
  temporalAddress: string;
  temporalNamespace: string;
  taskQueue: string;
  smtpUrl: string;
}

/**
 * Project root (the folder of package.json), whether this runs from the TypeScript sources or from
 * the compiled `dist/`: the embedded default keeps its data under `<root>/data` (git-ignored).
 */
export const projectRoot = ((): string => {
  for (let dir = path.resolve(__dirname, '..'); ; dir = path.dirname(dir)) {
    if (fs.existsSync(path.join(dir, 'package.json'))) return dir;
    if (path.dirname(dir) === dir) return path.resolve(__dirname, '..');
  }
})();

export const DEFAULT_DB_URL = 'mysql://root@127.0.0.1:3306/moodle_sync_demo';

export function loadEnv(environ: NodeJS.ProcessEnv = process.env): SyncEnv {
  const moodledata = path.resolve(environ.MOODLEDATA || path.join(projectRoot, 'data', 'moodledata'));
  const dbPrefix = environ.MOODLE_DB_PREFIX ?? 'mdl_';
  const ownPrefix = environ.SYNC_DB_PREFIX ?? 'msync_';
  for (const [name, value] of [['MOODLE_DB_PREFIX', dbPrefix], ['SYNC_DB_PREFIX', ownPrefix]] as const) {
    if (!/^[a-z][a-z0-9_]{0,14}$/i.test(value)) {
      throw new SyncError('config.env', `${name}="${value}" is not a table prefix: use letters, digits and _ (for example "mdl_").`);
    }
  }
  if (ownPrefix === dbPrefix) {
    throw new SyncError('config.env', `SYNC_DB_PREFIX must differ from MOODLE_DB_PREFIX ("${dbPrefix}"): moodle-sync keeps its own tables apart from Moodle's.`);
  }
  return {
    dbUrl: environ.MOODLE_DB_URL || DEFAULT_DB_URL,
    dbPrefix,
    ownPrefix,
    moodledata,
    store: path.resolve(environ.SYNC_STORE || path.join(moodledata, 'tool_sync')),
    temporalAddress: environ.TEMPORAL_ADDRESS || '127.0.0.1:7233',
    temporalNamespace: environ.TEMPORAL_NAMESPACE || 'default',
    taskQueue: environ.TEMPORAL_TASK_QUEUE || 'moodle-sync',
    smtpUrl: environ.SMTP_URL || 'smtp://127.0.0.1:25',
  };
}

/** The drop folder remote systems write into. */
export const syncDropFolder = (env: Pick<SyncEnv, 'moodledata'>): string => path.join(env.moodledata, 'sync');

/** A URL with its password masked, for logs and `--json` output. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(unparsable URL)';
  }
}

/**
 * Node flags for a worker process (NODE_OPTIONS): the live heap stays under ~70 MB, and without a
 * cap V8 lets it grow to several hundred MB before collecting. Demo, tests and bench use these.
 */
export const WORKER_NODE_OPTIONS = '--max-old-space-size=256 --max-semi-space-size=8';
