import * as path from 'node:path';

/** Names of a run's outputs (reports/, archives/, tryback beside the input), per the spec. */

/** YYYYMMDD-HHMM in the worker's local time, as the original's date('Ymd-Hi'). */
export function minuteStamp(ms: number): string {
  const d = new Date(ms);
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}${p(d.getMonth() + 1)}${p(d.getDate())}-${p(d.getHours())}${p(d.getMinutes())}`;
}

export interface OutputNames { report: string; tryback: string; archive: string }

/** The n-th candidate names (n = 1 has no suffix; later ones separate same-minute runs). */
export function outputNames(file: string, ms: number, n: number): OutputNames {
  const stamp = minuteStamp(ms) + (n > 1 ? `-${n}` : '');
  const base = path.posix.basename(file);
  const dir = path.posix.dirname(file);
  const ext = path.posix.extname(base);
  const stem = ext ? base.slice(0, -ext.length) : base;
  return {
    report: `reports/${stamp}_report_${base}`,
    archive: `archives/${stamp}_${base}`,
    tryback: `${dir === '.' ? '' : `${dir}/`}${stem}_tryback_${stamp}${ext}`,
  };
}

/** Trybacks, reports and archives are outputs: a name pattern never picks them up as input. */
export const isOutputName = (name: string): boolean => /_tryback_\d{8}-\d{4}/.test(name) || /^(reports|archives)\//.test(name) || name.startsWith('.');
