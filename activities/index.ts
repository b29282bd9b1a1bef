import type { MoodleDb } from './moodle/db';
import type { FileStore } from './store';
import type { Mailer } from './mail';
import { createReintegrationActivities } from './reintegration';
import { createWatchdogActivities } from './watchdog';

export interface ActivityDeps {
  db: MoodleDb;
  store: FileStore;
  mailer: Mailer;
  /** <moodledata>/sync, where remote systems drop files. */
  dropFolder: string;
}

/** Every activity, closed over its dependencies (the worker builds them once). */
export const createActivities = (deps: ActivityDeps) => ({
  ...createReintegrationActivities(deps),
  ...createWatchdogActivities(deps),
});

export type SyncActivities = ReturnType<typeof createActivities>;
