/**
 * The workflow bundle is built in a short-lived child process: webpack's memory then goes with
 * that process instead of staying in the worker's heap for its whole life.
 *   node -r tsx/cjs worker/bundle.ts <out.js>
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { createHash } from 'node:crypto';

/**
 * What the bundle is made of: the workflow sources (they import nothing outside their folder but
 * types) and the workflow SDK's version. Same key, same bundle.
 */
function bundleKey(): string {
  const dir = path.dirname(require.resolve('../workflows'));
  const hash = createHash('sha256').update(String(require('@temporalio/workflow/package.json').version));
  for (const name of fs.readdirSync(dir).sort()) {
    if (/\.(ts|js)$/.test(name)) hash.update(name).update(fs.readFileSync(path.join(dir, name)));
  }
  return hash.digest('hex').slice(0, 24);
}

/**
 * The workflow bundle, built once per content and kept in a folder only this user can write (a
 * bundle is code the worker runs); later workers start without webpack.
 */
export async function bundleWorkflowsInChild(): Promise<string> {
  const cacheDir = path.join(os.tmpdir(), `moodle-sync-bundles-${process.getuid?.() ?? 'user'}`);
  fs.mkdirSync(cacheDir, { recursive: true, mode: 0o700 });
  const st = fs.lstatSync(cacheDir);
  if (!st.isDirectory() || (process.getuid && st.uid !== process.getuid()) || (st.mode & 0o022)) {
    throw new Error(`${cacheDir} is not a private folder of this user: remove it`);
  }
  const codePath = path.join(cacheDir, `workflows-${bundleKey()}.js`);
  if (!fs.existsSync(codePath)) {
    const tmp = `${codePath}.${process.pid}.tmp`;
    await promisify(execFile)(process.execPath, ['-r', require.resolve('tsx/cjs'), __filename, tmp], { maxBuffer: 16 * 1024 * 1024 });
    fs.renameSync(tmp, codePath);
  }
  return codePath;
}

async function main(out: string): Promise<void> {
  const { bundleWorkflowCode } = await import('@temporalio/worker');
  const { code } = await bundleWorkflowCode({ workflowsPath: require.resolve('../workflows'), logger: { trace() {}, debug() {}, info() {}, warn: console.warn, error: console.error, log() {} } as never });
  fs.writeFileSync(out, code);
}

if (require.main === module) {
  main(process.argv[2]).catch((e) => { console.error(e); process.exit(1); });
}
