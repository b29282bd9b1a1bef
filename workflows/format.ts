/** "3 h 12 min", "45 s": ages as an administrator reads them (pure, workflow-safe). */
export function formatAge(sec: number): string {
  if (sec < 60) return `${sec} s`;
  const min = Math.floor(sec / 60);
  if (min < 60) return `${min} min`;
  const h = Math.floor(min / 60);
  if (h < 48) return `${h} h ${min % 60} min`;
  return `${Math.floor(h / 24)} d ${h % 24} h`;
}

/** "users.csv: 120 row(s), 118 applied, 2 failed, 0 skipped": one file run, for people (CLI and Web UI memo). */
export function fileResultLine(f: import('./shared').FileRunSummary): string {
  const figures = f.status === 'failed' ? `REFUSED: ${f.refusal}` : `${f.rows.total} row(s), ${f.rows.applied} applied, ${f.rows.failed} failed, ${f.rows.skipped} skipped`;
  return `${f.file}: ${figures}${f.simulate ? ' (simulation, nothing written)' : ''}`;
}
