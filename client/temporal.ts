import { Client, Connection } from '@temporalio/client';
import type { SyncEnv } from '../activities/env';
import { SyncError } from '../activities/errors';

/** Connects to Temporal, or explains which address failed and how to start the dev server. */
export async function connectTemporal(env: SyncEnv): Promise<{ client: Client; close(): Promise<void> }> {
  let connection: Connection;
  try {
    connection = await Connection.connect({ address: env.temporalAddress, connectTimeout: '5s' });
  } catch (e) {
    throw new SyncError('temporal.unavailable', `Cannot reach Temporal at ${env.temporalAddress} (${(e as Error).message}). Start it (npm run demo starts the dev server) or set TEMPORAL_ADDRESS.`);
  }
  return { client: new Client({ connection, namespace: env.temporalNamespace }), close: () => connection.close() };
}
