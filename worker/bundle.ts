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

export async function bundleWorkflowsInChild(): Promise<{ codePath: string; remove(): void }> {
  const codePath = path.join(os.tmpdir(), `moodle-sync-workflows-${process.pid}-${Date.now()}.js`);
  await promisify(execFile)(process.execPath, ['-r', require.resolve('tsx/cjs'), __filename, codePath], { maxBuffer: 16 * 1024 * 1024 });
  return { codePath, remove: () => fs.rmSync(codePath, { force: true }) };
}

async function main(out: string): Promise<void> {
  const { bundleWorkflowCode } = await import('@temporalio/worker');
  const { code } = await bundleWorkflowCode({ workflowsPath: require.resolve('../workflows'), logger: { trace() {}, debug() {}, info() {}, warn: console.warn, error: console.error, log() {} } as never });
  fs.writeFileSync(out, code);
}

if (require.main === module) {
  main(process.argv[2]).catch((e) => { console.error(e); process.exit(1); });
}
