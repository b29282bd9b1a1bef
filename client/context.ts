import type { Client } from '@temporalio/client';
import type { SyncEnv } from '../activities/env';
import { openMoodleDb, type MoodleDb } from '../activities/moodle/db';
import { FileStore } from '../activities/store';

/** What commands share: the environment, and connections opened only when a command needs them. */
export class CommandContext {
  private dbHandle?: MoodleDb;
  private temporalHandle?: Promise<{ client: Client; close(): Promise<void> }>;
  private storeHandle?: FileStore;

  /** `io.err` carries what is not the result (progress): stdout stays the result alone. */
  constructor(readonly env: SyncEnv, readonly io: { out: NodeJS.WritableStream; err: NodeJS.WritableStream & { isTTY?: boolean; columns?: number } } = { out: process.stdout, err: process.stderr }) {}

  async store(): Promise<FileStore> {
    if (!this.storeHandle) {
      this.storeHandle = new FileStore(this.env.store);
      await this.storeHandle.ensureLayout();
    }
    return this.storeHandle;
  }

  db(): MoodleDb {
    return (this.dbHandle ??= openMoodleDb(this.env.dbUrl, this.env.dbPrefix, this.env.ownPrefix));
  }

  async temporal(): Promise<Client> {
    // Loaded only when a command needs Temporal.
    this.temporalHandle ??= (require('./temporal') as typeof import('./temporal')).connectTemporal(this.env);
    return (await this.temporalHandle).client;
  }

  async close(): Promise<void> {
    await this.dbHandle?.close();
    if (this.temporalHandle) await (await this.temporalHandle.catch(() => undefined))?.close();
  }
}

export interface Command {
  name: string;
  summary: string;
  usage: string;
  run(argv: string[], ctx: CommandContext): Promise<import('./output').CommandResult>;
}
