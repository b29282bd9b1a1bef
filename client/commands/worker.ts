import { parseArgs, expectPositionals } from '../args';
import { ok } from '../output';
import type { Command } from '../context';

const usage = 'moodle-sync worker';

export const workerCommand: Command = {
  name: 'worker',
  summary: 'Run the worker (workflows and activities; keeps the stale-lock watchdog schedule) until stopped.',
  usage,
  async run(argv, ctx) {
    const args = parseArgs(argv);
    expectPositionals(args, 0, 0, usage);
    // Loaded here: the worker SDK is heavy, and other commands never need it.
    const { startWorker } = require('../../worker/worker') as typeof import('../../worker/worker');
    const profile = process.env.MOODLE_SYNC_CPU_PROFILE ? await startCpuProfile(process.env.MOODLE_SYNC_CPU_PROFILE) : undefined;
    const running = await startWorker(ctx.env, 'WARN');
    const stop = () => running.shutdown();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    const started = { status: 'running', taskQueue: ctx.env.taskQueue, namespace: ctx.env.temporalNamespace, address: ctx.env.temporalAddress, pid: process.pid };
    // Announce readiness at once (tests and scripts wait for this line), then run until stopped.
    process.stdout.write(args.flags.json ? `${JSON.stringify(started)}\n` : `moodle-sync worker ready on task queue "${ctx.env.taskQueue}" (${ctx.env.temporalAddress}, pid ${process.pid})\n`);
    await running.done;
    await profile?.();
    return ok({ status: 'stopped' }, 'worker stopped');
  },
};

/**
 * MOODLE_SYNC_CPU_PROFILE=<file>: a V8 CPU profile of the worker, written when it stops (open it in
 * Chrome's DevTools). For `npm run bench -- --profile`; Node refuses --cpu-prof in NODE_OPTIONS.
 */
async function startCpuProfile(file: string): Promise<() => Promise<void>> {
  const { Session } = require('node:inspector') as typeof import('node:inspector');
  const session = new Session();
  session.connect();
  const post = (method: string, params?: object) => new Promise<any>((resolve, reject) => session.post(method, params ?? {}, (e, r) => (e ? reject(e) : resolve(r))));
  await post('Profiler.enable');
  await post('Profiler.start');
  return async () => {
    const { profile } = await post('Profiler.stop');
    require('node:fs').writeFileSync(file, JSON.stringify(profile));
    session.disconnect();
  };
}
