import type { MoodleDb } from './moodle/db';
import type { FileStore } from './store';
import type { Mailer } from './mail';
import { createReintegrationActivities } from './reintegration';
import { createWatchdogActivities } from './watchdog';
import { createPipelineActivities } from './pipeline';
import { createStoreCleanupActivities } from './storeCleanup';
import { createToolLeaseActivities } from './toolLease';
import { ApplicationFailure } from '@temporalio/common';
import { isSyncError } from './errors';
import type { Client } from '@temporalio/client';

export interface ActivityDeps {
  db: MoodleDb;
  store: FileStore;
  mailer: Mailer;
  /** <moodledata>/sync, where remote systems drop files. */
  dropFolder: string;
  /** Moodle's data directory (filedir/ for user pictures). */
  moodledata: string;
  temporal?: { client: Client; taskQueue: string };
}

/** Every activity, closed over its dependencies (the worker builds them once). */
export const createActivities = (deps: ActivityDeps) => asFailures({
  ...createReintegrationActivities(deps),
  ...createWatchdogActivities(deps),
  ...createPipelineActivities(deps),
  ...createStoreCleanupActivities(deps),
  ...createToolLeaseActivities(deps),
});

/**
 * A SyncError is a fact about the input or the configuration, not a passing fault: it fails the
 * activity at once (non-retryable) with its code as the failure type and its message intact.
 */
function asFailures<T extends Record<string, (...args: never[]) => Promise<unknown>>>(activities: T): T {
  const wrapped: Record<string, unknown> = {};
  for (const [name, fn] of Object.entries(activities)) {
    wrapped[name] = async (...args: never[]) => {
      try {
        return await fn(...args);
      } catch (e) {
        if (isSyncError(e)) throw ApplicationFailure.create({ type: e.code, message: e.message, nonRetryable: true });
        throw e;
      }
    };
  }
  return wrapped as T;
}

export type SyncActivities = ReturnType<typeof createActivities>;
