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
    const running = await startWorker(ctx.env, 'WARN');
    const stop = () => running.shutdown();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    const started = { status: 'running', taskQueue: ctx.env.taskQueue, namespace: ctx.env.temporalNamespace, address: ctx.env.temporalAddress, pid: process.pid };
    // Announce readiness at once (tests and scripts wait for this line), then run until stopped.
    process.stdout.write(args.flags.json ? `${JSON.stringify(started)}\n` : `moodle-sync worker ready on task queue "${ctx.env.taskQueue}" (${ctx.env.temporalAddress}, pid ${process.pid})\n`);
    await running.done;
    return ok({ status: 'stopped' }, 'worker stopped');
  },
};
