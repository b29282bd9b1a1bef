/**
 * Errors are values: a stable code a script can test, and a message a person can act on.
 * `usage` errors map to exit code 2 in the CLI, everything else to 1.
 */
export type SyncErrorCode =
  | 'usage'
  | 'config.unknown-key'
  | 'config.bad-value'
  | 'config.env'
  | 'store.outside'
  | 'store.not-found'
  | 'store.exists'
  | 'store.not-a-file'
  | 'db.unavailable'
  | 'temporal.unavailable'
  | 'mail.failed'
  | 'run.failed'
  | 'run.not-found'
  | 'schedule.not-found'
  | 'report.not-found';

export class SyncError extends Error {
  constructor(
    readonly code: SyncErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'SyncError';
  }

  toJSON(): { code: SyncErrorCode; message: string } {
    return { code: this.code, message: this.message };
  }
}

export const isSyncError = (e: unknown): e is SyncError => e instanceof SyncError;
