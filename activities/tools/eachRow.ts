import type { ChunkContext, DataRow, RowOutcome } from './types';
import { deferMark, rollbackDeferred, withDeferredWrites } from '../moodle/deferred';

/**
 * A chunk row by row, each under a savepoint: a row fault (an error of class `RowFault`) rolls the
 * row back, with the cache flags and events it queued, and fails the row; any other error fails
 * the chunk. The chunk's flags and events are written together at its end (multi-row INSERTs).
 */
export async function eachRow(ctx: ChunkContext, rows: DataRow[], savepoint: string, RowFault: new (...args: never[]) => Error,
  apply: (row: DataRow) => Promise<RowOutcome>): Promise<RowOutcome[]> {
  return withDeferredWrites(ctx.conn, ctx.db, async () => {
    const out: RowOutcome[] = [];
    for (const row of rows) {
      await ctx.conn.query(`SAVEPOINT ${savepoint}`);
      const mark = deferMark(ctx.conn);
      try {
        out.push(await apply(row));
      } catch (e) {
        if (!(e instanceof RowFault)) throw e;
        await ctx.conn.query(`ROLLBACK TO SAVEPOINT ${savepoint}`);
        rollbackDeferred(ctx.conn, mark);
        out.push({ status: 'failed', message: e.message });
      }
    }
    return out;
  });
}
