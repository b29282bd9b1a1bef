import { NativeConnection, Worker, Runtime, DefaultLogger, type LogLevel } from '@temporalio/worker';
import { Client, Connection } from '@temporalio/client';
import type { SyncEnv } from '../activities/env';
import { createActivities } from '../activities';
import { openActivityDeps } from '../activities/deps';
import { ensureOwnTables } from '../activities/moodle/ownTables';
import { ensureWatchdogSchedule } from './schedules';
import { bundleWorkflowsInChild } from './bundle';

export interface RunningWorker {
  worker: Worker;
  /** Resolves when the worker has stopped and its resources are closed. */
  done: Promise<void>;
  shutdown(): void;
}

let runtimeInstalled = false;

/** Starts the one moodle-sync worker: workflows, activities, and the watchdog schedule. */
export async function startWorker(env: SyncEnv, logLevel: LogLevel = 'WARN'): Promise<RunningWorker> {
  if (!runtimeInstalled) {
    Runtime.install({ logger: new DefaultLogger(logLevel), shutdownSignals: [] });
    runtimeInstalled = true;
  }
  const deps = openActivityDeps(env);
  const connection = await NativeConnection.connect({ address: env.temporalAddress });
  const clientConnection = await Connection.connect({ address: env.temporalAddress });
  const client = new Client({ connection: clientConnection, namespace: env.temporalNamespace });
  try {
    await deps.store.ensureLayout();
    await ensureOwnTables(deps.db);
    const workflowsCode = await bundleWorkflowsInChild();
    const worker = await Worker.create({
      connection,
      namespace: env.temporalNamespace,
      taskQueue: env.taskQueue,
      workflowBundle: { codePath: workflowsCode },
      activities: createActivities({ ...deps, temporal: { client, taskQueue: env.taskQueue } }),
      // Heartbeats (and so cancellations) go through at least every second.
      maxHeartbeatThrottleInterval: '1 second',
    });
    await ensureWatchdogSchedule(client, env.taskQueue);
    const done = worker.run().finally(async () => {
      await clientConnection.close();
      await connection.close();
      await deps.close();
    });
    return { worker, done, shutdown: () => worker.shutdown() };
  } catch (e) {
    await clientConnection.close();
    await connection.close();
    await deps.close();
    throw e;
  }
}
