import { WorkflowNotFoundError } from '@temporalio/common';
import type { Client } from '@temporalio/client';
import type { RowDataPacket } from 'mysql2';
import type { MoodleDb } from './moodle/db';
import { ensureOwnTables } from './moodle/ownTables';
import type { ToolLeaseAttempt } from '../workflows/shared';

/**
 * One run per tool at a time, whatever started it (a schedule, the CLI, sync-all): a run holds its
 * tool's lease row in moodle-sync's own table from its start to its end. A lease whose holder
 * no longer runs (terminated, timed out) is taken over.
 */
export const toolLeaseTables = (db: MoodleDb): string[] => [
  `CREATE TABLE IF NOT EXISTS ${db.own('tool_leases')} (
     tool VARCHAR(32) NOT NULL PRIMARY KEY,
     holder VARCHAR(255) NULL,
     runid VARCHAR(64) NULL,
     since BIGINT NOT NULL DEFAULT 0
   ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`,
];

export interface LeaseHolder { workflowId: string; runId: string }

export interface ToolLeaseDeps {
  db: MoodleDb;
  temporal?: { client: Client };
}

/** Whether the holder's run still goes on; in doubt (no client, server error) it does. */
async function stillRunning(deps: ToolLeaseDeps, holder: LeaseHolder): Promise<boolean> {
  if (!deps.temporal) return true;
  try {
    const d = await deps.temporal.client.workflow.getHandle(holder.workflowId, holder.runId).describe();
    return d.status.name === 'RUNNING';
  } catch (e) {
    return !(e instanceof WorkflowNotFoundError);
  }
}

export async function acquireToolLease(deps: ToolLeaseDeps, tool: string, me: LeaseHolder): Promise<ToolLeaseAttempt> {
  const { db } = deps;
  await ensureOwnTables(db);
  await db.pool.query(`INSERT IGNORE INTO ${db.own('tool_leases')} (tool, holder, runid, since) VALUES (?, NULL, NULL, 0)`, [tool]);
  const conn = await db.pool.getConnection();
  try {
    await conn.beginTransaction();
    const [rows] = await conn.query<RowDataPacket[]>(`SELECT holder, runid, since FROM ${db.own('tool_leases')} WHERE tool = ? FOR UPDATE`, [tool]);
    const row = rows[0] as { holder: string | null; runid: string | null; since: number };
    const mine = row.holder === me.workflowId && row.runid === me.runId;
    let tookOverFrom: string | undefined;
    if (row.holder && !mine) {
      if (await stillRunning(deps, { workflowId: row.holder, runId: row.runid ?? '' })) {
        await conn.commit();
        return { acquired: false, holder: row.holder, sinceMs: Number(row.since) };
      }
      tookOverFrom = row.holder;
    }
    if (!mine) {
      await conn.query(`UPDATE ${db.own('tool_leases')} SET holder = ?, runid = ?, since = ? WHERE tool = ?`, [me.workflowId, me.runId, Date.now(), tool]);
    }
    await conn.commit();
    return tookOverFrom ? { acquired: true, tookOverFrom } : { acquired: true };
  } catch (e) {
    await conn.rollback().catch(() => undefined);
    throw e;
  } finally {
    conn.release();
  }
}

/** Gives the lease back; a no-op when another run holds it (ours was taken over). */
export async function releaseToolLease(deps: ToolLeaseDeps, tool: string, me: LeaseHolder): Promise<void> {
  await ensureOwnTables(deps.db);
  await deps.db.pool.query(
    `UPDATE ${deps.db.own('tool_leases')} SET holder = NULL, runid = NULL, since = 0 WHERE tool = ? AND holder = ? AND runid = ?`,
    [tool, me.workflowId, me.runId]);
}

export function createToolLeaseActivities(deps: ToolLeaseDeps) {
  return {
    acquireToolLease: (tool: string, me: LeaseHolder) => acquireToolLease(deps, tool, me),
    releaseToolLease: (tool: string, me: LeaseHolder) => releaseToolLease(deps, tool, me),
  };
}
