/**
 * Progress of a long command (`opentrail validate-logs`, `migrate`, `import`, `query`) on stderr:
 *
 * - on a terminal, a bar (cli-progress) redrawn in place: done of total, what the command adds
 *   (digests, bytes, rate), ETA; erased when the command ends, so what the command prints stays
 *   exactly what it prints without it; lines the command prints meanwhile go above the bar;
 * - elsewhere (a pipe, a file), plain lines: none while the run is younger than `quietMs` (a short
 *   run prints exactly what it would without progress), then one every `everyMs` or each tenth of
 *   the work, whichever comes first, and a last one when the work is done.
 *
 * `mode` `always` prints plain lines from the start; `never` prints nothing.
 */
import { createRequire } from 'node:module';
import type cliProgress from 'cli-progress';

// cli-progress is required when a bar is drawn (a terminal), not imported: loading it is ~20-30 ms
// of CPU at the start of every command that takes a Progress (docs/performance.md, "validate-logs,
// third round", "Start-up").
const require = createRequire(import.meta.url);

/** Where progress goes: process.stderr, or a stand-in with the same members (tests). */
export interface ProgressStream {
  write(s: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

export type ProgressMode = 'auto' | 'always' | 'never';

export interface ProgressOptions {
  /** The command's name, the start of each line. */
  label: string;
  /** What is counted (`files`, `events`). */
  unit: string;
  stream: ProgressStream;
  mode?: ProgressMode;
  /** The terminal type (TERM): `dumb` gets plain lines. */
  term?: string;
  /** Plain lines: none before the run is this old (default 10 s). */
  quietMs?: number;
  /** Plain lines: at least this far apart unless a tenth of the work was done (default 10 s). */
  everyMs?: number;
  /** Bar redraws per second (default 5). */
  fps?: number;
  nowMs?: () => number;
}

export interface ProgressState {
  done: number;
  total: number;
  /** Shown after the count: `3/24 digests, 95.1 MB read, 31.2 MB/s`. */
  detail?: string;
  /**
   * A stage with nothing to count yet (a query the server still runs): the line is `label: phase
   * for 4s` instead of the count, and a plain line is due every `everyMs` although `done` stays.
   */
  phase?: string;
}

/** `1m 05s`, `42s`, `2h 03m`. */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '?';
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

/** Decimal megabytes with one decimal: `95.1 MB`. */
export function formatMB(bytes: number): string {
  return `${(bytes / 1e6).toFixed(1)} MB`;
}

const ERASE_LINE = '\r\x1b[2K';
/** DEC save cursor: cli-progress returns the cursor to the position saved at start when it stops. */
const SAVE_CURSOR = '\x1b7';

export class Progress {
  private readonly o: ProgressOptions;
  private readonly now: () => number;
  private readonly startedMs: number;
  private readonly bar: cliProgress.SingleBar | undefined;
  private state: ProgressState = { done: 0, total: 0 };
  private lastLineMs: number | undefined;
  private lastLineDone = 0;
  private linesPrinted = 0;
  private stopped = false;

  constructor(opts: ProgressOptions) {
    this.o = opts;
    this.now = opts.nowMs ?? (() => Date.now());
    this.startedMs = this.now();
    const mode = opts.mode ?? 'auto';
    if (mode !== 'never' && opts.stream.isTTY === true && opts.term !== 'dumb') {
      const { SingleBar } = require('cli-progress') as typeof cliProgress;
      this.bar = new SingleBar({
        stream: opts.stream as NodeJS.WritableStream,
        format: (_options, _params, payload: { line?: string }) => this.fit(payload.line ?? ''),
        fps: opts.fps ?? 5,
        clearOnComplete: true,
        // Keep the terminal's settings (the line is cut to the width here): a Ctrl-C must not leave
        // the cursor hidden or wrapping off, and the command's own signal handling stays as it is.
        hideCursor: false,
        linewrap: true,
        gracefulExit: false,
        forceRedraw: true,
      });
      this.bar.start(1, 0, { line: this.line() });
    }
  }

  /** The bar's own line, cut to the terminal's width. */
  private fit(line: string): string {
    const width = Math.max(20, (this.o.stream.columns || 80) - 1);
    return line.length > width ? line.slice(0, width) : line;
  }

  private elapsedSeconds(): number {
    return (this.now() - this.startedMs) / 1000;
  }

  /**
   * `label: 140/312 files (45%), ETA 3s, detail` (on a terminal with a bar before the count; the
   * line is cut at the terminal's width, so what matters most comes first).
   */
  private line(final = false): string {
    const { done, total, detail, phase } = this.state;
    const elapsedText = formatDuration(this.elapsedSeconds());
    if (phase !== undefined) return `${this.o.label}: ${phase} ${final ? 'ended after' : 'for'} ${elapsedText}${detail ? `, ${detail}` : ''}`;
    const pct = total > 0 ? Math.min(100, Math.floor((100 * done) / total)) : 0;
    const elapsed = this.elapsedSeconds();
    const eta = done > 0 && total >= done ? formatDuration(((total - done) * elapsed) / done) : '?';
    const bar = this.bar ? `${this.drawBar(total > 0 ? done / total : 0)} ` : '';
    const when = final ? `done in ${formatDuration(elapsed)}` : `ETA ${eta}`;
    const n = (x: number) => x.toLocaleString('en-US');
    return `${this.o.label}: ${bar}${n(done)}/${n(total)} ${this.o.unit} (${pct}%), ${when}${detail ? `, ${detail}` : ''}`;
  }

  private drawBar(fraction: number): string {
    const size = 20;
    const full = Math.max(0, Math.min(size, Math.round(fraction * size)));
    return `[${'#'.repeat(full)}${'-'.repeat(size - full)}]`;
  }

  update(state: ProgressState): void {
    if (this.stopped) return;
    this.state = { ...state, total: Math.max(state.total, state.done) };
    if (this.bar) {
      this.bar.update(this.state.done, { line: this.line() });
      return;
    }
    this.maybePlainLine();
  }

  private maybePlainLine(): void {
    const mode = this.o.mode ?? 'auto';
    if (mode === 'never') return;
    const now = this.now();
    if (mode === 'auto' && now - this.startedMs < (this.o.quietMs ?? 10_000)) return;
    const { done, total } = this.state;
    const tenth = total > 0 && done - this.lastLineDone >= total / 10;
    const due = this.lastLineMs === undefined || now - this.lastLineMs >= (this.o.everyMs ?? 10_000);
    if (!tenth && !due) return;
    if (done === this.lastLineDone && this.lastLineMs !== undefined && (this.state.phase === undefined || !due)) return;
    this.lastLineMs = now;
    this.lastLineDone = done;
    this.linesPrinted++;
    this.o.stream.write(`${this.line()}\n`);
  }

  /**
   * Writes a line of the command's own output (to stdout or stderr) without tearing the bar: the
   * bar's line is erased first and redrawn below the text at its next frame.
   */
  print(write: (s: string) => void, text: string): void {
    if (!this.bar || this.stopped) {
      write(text);
      return;
    }
    this.o.stream.write(ERASE_LINE);
    write(text);
    this.o.stream.write(SAVE_CURSOR);
  }

  /** Ends the progress: the bar is erased; plain output ends with a last line if it printed any. */
  stop(): void {
    if (this.stopped) return;
    if (this.bar) {
      this.bar.stop();
    } else if (this.linesPrinted > 0) {
      this.o.stream.write(`${this.line(true)}\n`);
    }
    this.stopped = true;
  }
}
