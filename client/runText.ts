import { fileResultLine } from '../workflows/format';
import type { FileRunSummary, ToolRunSummary } from '../workflows/shared';

/** One file run for people: its figures, then where its report and tryback are. */
export const fileBlock = (f: FileRunSummary): string => [fileResultLine(f), `  report: ${f.report ?? '-'}`, `  tryback: ${f.tryback ?? '-'}`].join('\n');

export const toolRunHead = (s: ToolRunSummary): string => `${s.tool} ${s.op}: ${s.status}${s.message ? ` (${s.message})` : ''}`;

export const toolRunText = (s: ToolRunSummary): string => [toolRunHead(s), ...s.files.map(fileBlock)].join('\n');
