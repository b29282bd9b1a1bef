import { fileResultLine } from '../workflows/format';
import { formatCount as num } from './output';
import type { FileRunSummary, ToolRunSummary } from '../workflows/shared';
import type { RunningView } from './overviewData';

/** One file run for people: its figures, then where its report and tryback are. */
export const fileBlock = (f: FileRunSummary): string => [fileResultLine(f), `  report: ${f.report ?? '-'}`, `  tryback: ${f.tryback ?? '-'}`].join('\n');

export const toolRunHead = (s: ToolRunSummary): string => `${s.tool} ${s.op}: ${s.status}${s.message ? ` (${s.message})` : ''}`;

export const toolRunText = (s: ToolRunSummary): string => [toolRunHead(s), ...s.files.map(fileBlock)].join('\n');

/** What a running tool run does now, on one line: "big.csv (1/2) applying 45% (4,500/10,000 rows, 0 failed)". */
export function runningText(r: RunningView): string {
  if (r.stage === 'waiting') return `waiting for ${r.waitingFor ?? 'another run'}`;
  if (r.stage !== 'processing' || !r.file) return r.stage;
  const which = r.fileCount > 1 ? ` (${(r.fileIndex ?? 0) + 1}/${r.fileCount})` : '';
  const p = r.progress;
  if (!p || p.stage !== 'applying') return `${r.file}${which} ${p?.stage ?? 'starting'}`;
  const pct = p.rowsTotal ? Math.floor((p.rowsDone * 100) / p.rowsTotal) : 0;
  return `${r.file}${which} applying ${pct}% (${num(p.rowsDone)}/${num(p.rowsTotal)} rows, ${num(p.failed)} failed)`;
}
