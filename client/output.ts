/** What a command hands back: an exit code, data for --json, and text for people. */
export interface CommandResult {
  code: 0 | 1 | 2;
  data: unknown;
  text: string;
}

export const ok = (data: unknown, text: string): CommandResult => ({ code: 0, data, text });

/** Fixed-width columns for terminal tables. */
export function table(headers: string[], rows: (string | number)[][]): string {
  const cells = [headers, ...rows.map((r) => r.map(String))];
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  return cells.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]))).join('  ').trimEnd()).join('\n');
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KB`;
  return `${(n / 1024 / 1024).toFixed(1)} MB`;
}

export const isoTime = (ms: number | undefined): string => (ms ? new Date(ms).toISOString().replace(/\.\d+Z$/, 'Z') : '-');

/** 12,345: counts as people read them. */
export const formatCount = (n: number): string => n.toLocaleString('en-US');
