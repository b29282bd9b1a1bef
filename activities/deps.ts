import type { SyncEnv } from './env';
import { syncDropFolder } from './env';
import { openMoodleDb } from './moodle/db';
import { FileStore } from './store';
import { createMailer } from './mail';
import type { ActivityDeps } from '.';

/** Builds the activities' dependencies from the environment; `close` releases them. */
export function openActivityDeps(env: SyncEnv): ActivityDeps & { close(): Promise<void> } {
  const db = openMoodleDb(env.dbUrl, env.dbPrefix, env.ownPrefix);
  const mailer = createMailer(env.smtpUrl);
  return {
    db,
    store: new FileStore(env.store),
    mailer,
    dropFolder: syncDropFolder(env),
    moodledata: env.moodledata,
    async close() {
      mailer.close();
      await db.close();
    },
  };
}
