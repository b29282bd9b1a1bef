import type { Client } from '@temporalio/client';
import { formatCount as num } from './output';
import { formatAge } from '../workflows/format';
import { progressQuery, runStatusQuery, type FileProgress, type FileRunSummary, type RunStatus } from '../workflows/shared';

/** What one poll of a tool run saw: its status query and, while a file runs, that file's progress query. */
export interface RunSnapshot { at: number; status?: RunStatus; progress?: FileProgress }

export type ProgressMode = 'bar' | 'lines' | 'off';

/** A query that gets no answer in this time is skipped (no worker yet, worker busy). */
const QUERY_DEADLINE_MS = 3000;

/** One poll: the run's status, then the progress of the file it runs now. Unanswered queries are left out. */
export async function pollRun(client: Client, workflowId: string): Promise<RunSnapshot> {
  const ask = <T>(fn: () => Promise<T>) => client.withDeadline(Date.now() + QUERY_DEADLINE_MS, fn).catch(() => undefined);
  const status = await ask(() => client.workflow.getHandle(workflowId).query(runStatusQuery));
  const progress = status?.current ? await ask(() => client.workflow.getHandle(status.current!.workflowId).query(progressQuery)) : undefined;
  return { at: Date.now(), status, progress };
}

/**
 * Polls a tool run until `done` settles, handing every snapshot to `display`. Each poll costs the
 * worker two workflow queries, so nothing polls when nothing is shown (--json without a terminal).
 */
export async function followRun(client: Client, workflowId: string, done: Promise<unknown>, display: ProgressDisplay, everyMs = 250): Promise<void> {
  if (display.mode === 'off') { await done.catch(() => undefined); return; }
  let finished = false;
  const settled = done.then(() => undefined, () => undefined).finally(() => { finished = true; });
  while (!finished) {
    const snap = await pollRun(client, workflowId);
    if (!finished) display.update(snap);
    await Promise.race([settled, new Promise((r) => setTimeout(r, everyMs))]);
  }
}

const RATE_WINDOW_MS = 5000;

interface Sample { at: number; rows: number }

/**
 * Shows a tool run's progress on a stream: a progress bar redrawn in place on a terminal
 * (rows/s and ETA measured over the last seconds), or plain time-stamped lines elsewhere (on
 * every change of stage, and every `linesEveryMs` while rows are applied).
 */
export class ProgressDisplay {
  private samples: Sample[] = [];
  private sampledFile?: string;
  private reported = 0;
  private fileSeenAt = new Map<string, number>();
  private lastKey = '';
  private lastLineAt = 0;
  private drawn = false;
  private noAnswerSince?: number;

  /** `label` names the run ("users add") until its status answers. */
  constructor(
    private readonly stream: NodeJS.WritableStream & { columns?: number },
    readonly mode: ProgressMode,
    private readonly label: string,
    private readonly linesEveryMs = 5000,
  ) {}

  update(snap: RunSnapshot): void {
    if (this.mode === 'off') return;
    if (!snap.status) {
      this.noAnswerSince ??= snap.at;
      // Said once a few seconds of silence have passed: the run waits for a worker.
      if (snap.at - this.noAnswerSince > 3000) this.show('no-worker', `${this.label}: waiting for a worker to pick the run up (is \`moodle-sync worker\` running?)`, snap.at);
      return;
    }
    this.noAnswerSince = undefined;
    const { status, progress } = snap;
    while (this.reported < status.done.length) this.fileDone(status.done[this.reported++], snap.at);
    const head = this.label;
    switch (status.stage) {
      case 'starting':
        return this.show('starting', `${head}: starting`, snap.at);
      case 'waiting':
        return this.show('waiting', `${head}: waiting for ${status.waitingFor ?? 'another run'} to finish (one ${status.tool} run at a time)`, snap.at);
      case 'reintegrating':
        return this.show('reintegrating', `${head}: taking the files dropped in <moodledata>/sync into the store`, snap.at);
      case 'resolving':
        return this.show('resolving', `${head}: looking for input files`, snap.at);
      case 'done':
        return;
    }
    const cur = status.current;
    if (!cur) return;
    if (!this.fileSeenAt.has(cur.file)) this.fileSeenAt.set(cur.file, snap.at);
    const which = status.files.length > 1 ? ` (${cur.index + 1}/${status.files.length})` : '';
    if (!progress || progress.stage === 'preparing') return this.show(`prep:${cur.file}`, `${head}: ${cur.file}${which}: checking the whole file`, snap.at);
    if (progress.stage === 'finalizing' || progress.stage === 'done') return this.show(`fin:${cur.file}`, `${head}: ${cur.file}${which}: writing report, tryback and archive`, snap.at);
    this.applying(head, cur.file, which, progress, snap.at);
  }

  /** Reports the files the last poll did not see finish, and clears the bar; the caller prints the summary next. */
  finish(summary?: { files: FileRunSummary[] }): void {
    if (this.mode !== 'off') {
      while (summary && this.reported < summary.files.length) this.fileDone(summary.files[this.reported++], Date.now());
    }
    this.clear();
  }

  private clear(): void {
    if (this.mode === 'bar' && this.drawn) this.stream.write('\r\x1b[2K');
    this.drawn = false;
  }

  private applying(head: string, file: string, which: string, p: FileProgress, at: number): void {
    if (this.sampledFile !== file) { this.samples = []; this.sampledFile = file; }
    this.samples.push({ at, rows: p.rowsDone });
    while (this.samples.length > 2 && at - this.samples[1].at >= RATE_WINDOW_MS) this.samples.shift();
    const first = this.samples[0];
    // Measured once rows have moved within the window: "…" until then (and while a chunk stalls).
    const rate = at - first.at >= 500 && p.rowsDone > first.rows ? ((p.rowsDone - first.rows) * 1000) / (at - first.at) : undefined;
    const left = p.rowsTotal - p.rowsDone;
    const eta = rate ? formatAge(Math.ceil(left / rate)) : '…';
    const pct = p.rowsTotal ? Math.floor((p.rowsDone * 100) / p.rowsTotal) : 0;
    const figures = `${num(p.rowsDone)}/${num(p.rowsTotal)} rows, ${rate === undefined ? '…' : num(Math.round(rate))} rows/s, ETA ${eta}, ${num(p.failed)} failed`;
    if (this.mode === 'bar') {
      const fixed = `${head}: ${file}${which} [] ${String(pct).padStart(3)}% ${figures}`;
      const width = Math.max(10, Math.min(30, (this.stream.columns ?? 100) - fixed.length - 1));
      const full = Math.round((pct / 100) * width);
      return this.draw(`${head}: ${file}${which} [${'█'.repeat(full)}${'░'.repeat(width - full)}] ${String(pct).padStart(3)}% ${figures}`);
    }
    const key = `apply:${file}`;
    if (key !== this.lastKey || at - this.lastLineAt >= this.linesEveryMs) {
      this.lastKey = key;
      this.line(`${head}: ${file}${which}: applying ${pct}%, ${figures}`, at);
    }
  }

  private fileDone(f: FileRunSummary, at: number): void {
    const seen = this.fileSeenAt.get(f.file);
    const took = seen !== undefined ? ` in ${formatAge(Math.max(0, Math.round((at - seen) / 1000)))}` : '';
    const rate = seen !== undefined && at - seen >= 1000 && f.status !== 'failed' ? `, ${num(Math.round((f.rows.total * 1000) / (at - seen)))} rows/s` : '';
    const text = f.status === 'failed'
      ? `${f.file}: REFUSED: ${f.refusal}`
      : `${f.file}: done${took}${rate}: ${num(f.rows.applied)} applied, ${num(f.rows.failed)} failed, ${num(f.rows.skipped)} skipped`;
    if (this.mode === 'bar') {
      this.clear();
      this.stream.write(`${text}\n`);
    } else {
      this.lastKey = `done:${f.file}`;
      this.line(text, at);
    }
  }

  private show(key: string, text: string, at: number): void {
    if (this.mode === 'bar') return this.draw(text);
    if (key === this.lastKey) return;
    this.lastKey = key;
    this.line(text, at);
  }

  private draw(text: string): void {
    const cols = this.stream.columns ?? 0;
    const shown = cols > 1 && text.length >= cols ? `${text.slice(0, cols - 2)}…` : text;
    this.stream.write(`\r\x1b[2K${shown}`);
    this.drawn = true;
  }

  private line(text: string, at: number): void {
    this.lastLineAt = at;
    this.stream.write(`${new Date(at).toISOString().replace(/\.\d+Z$/, 'Z')} ${text}\n`);
  }
}
