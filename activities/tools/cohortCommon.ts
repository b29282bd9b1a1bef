import type { ChunkContext, DataRow, RowOutcome } from './types';
import { findCohorts, type Cohort, type CohortField, type CohortInstance } from '../moodle/cohorts';
import type { SyncCounts } from '../moodle/cohortSync';
import { eachRow as eachRowUnderSavepoint } from './eachRow';

/** What both cohort files share: how cohorts are named, row errors, and how enrolment effects read in the report. */

import { RowError } from './rowError';
export { RowError };

/** cohorts_cohortidentifier (empty: idnumber, as the original falls back). */
export function cohortField(settings: Record<string, string>): CohortField {
  const v = settings.cohorts_cohortidentifier;
  return v === 'id' || v === 'name' ? v : 'idnumber';
}

/** The one cohort whose identifier is `value`; undefined when none; a row error when the value is malformed or several match. */
export async function lookupCohort(ctx: ChunkContext, column: string, value: string): Promise<Cohort | undefined> {
  const field = cohortField(ctx.settings);
  if (field === 'id' && !/^\d+$/.test(value)) throw new RowError(`${column}: "${value}" is not a cohort id (cohorts_cohortidentifier is id)`);
  const found = await findCohorts(ctx.conn, ctx.db, field, value);
  if (found.length > 1) throw new RowError(`${column}: more than one cohort has ${field} "${value}"`);
  return found[0];
}

export const cohortLabel = (c: Pick<Cohort, 'name' | 'idnumber'>): string => `"${c.name}"${c.idnumber ? ` (${c.idnumber})` : ''}`;

/** "TESTCOURSE1 (student)": where a cohort enrolment enrols, and as what. */
export const instanceLabel = (inst: CohortInstance, roles: Map<number, string>): string => `${inst.course.shortname} (${roles.get(inst.roleid) ?? `role ${inst.roleid}`})`;

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

/** "enrolled in TESTCOURSE1 (student); unenrolled from ..." for a member change; nothing when nothing happened. */
export function describeMemberEffects(instances: CohortInstance[], counts: Map<number, SyncCounts>, roleNames: Map<number, string>): string[] {
  const out: string[] = [];
  for (const inst of instances) {
    const n = counts.get(inst.id);
    if (!n) continue;
    const where = instanceLabel(inst, roleNames);
    if (n.enrolled) out.push(`enrolled in ${where}`);
    if (n.reactivated) out.push(`enrolment reactivated in ${where}`);
    if (n.unenrolled) out.push(`unenrolled from ${where}`);
    if (n.suspended) out.push(`enrolment suspended in ${where}`);
    if (n.rolesRemoved && !n.unenrolled) out.push(`role removed in ${where}`);
  }
  return out;
}

/** "8 enrolled, 8 roles assigned, 8 added to group" for a whole instance; "in step" when nothing changed. */
export function describeInstanceSync(n: SyncCounts | undefined): string {
  if (!n) return 'in step';
  const parts = [
    n.enrolled && `${n.enrolled} enrolled`, n.reactivated && `${n.reactivated} reactivated`, n.redated && `${plural(n.redated, 'enrolment')} re-dated`,
    n.unenrolled && `${n.unenrolled} unenrolled`, n.suspended && `${n.suspended} suspended`,
    n.rolesAssigned && `${plural(n.rolesAssigned, 'role')} assigned`, n.rolesRemoved && `${plural(n.rolesRemoved, 'role')} removed`,
    n.groupAdded && `${n.groupAdded} added to the group`, n.groupRemoved && `${n.groupRemoved} removed from other groups`,
  ].filter(Boolean);
  return parts.length ? parts.join(', ') : 'members in step';
}

/** Runs each row under a savepoint; a RowError fails only its row (see ./eachRow). */
export const eachRow = (ctx: ChunkContext, rows: DataRow[], savepoint: string, apply: (row: DataRow) => Promise<RowOutcome>): Promise<RowOutcome[]> =>
  eachRowUnderSavepoint(ctx, rows, savepoint, RowError, apply);
