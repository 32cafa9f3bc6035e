/**
 * Training progress for people: on a terminal, one bar redrawn in place (tqdm's layout: percentage, bar,
 * step/total, elapsed<remaining, rate, loss, lr), throttled; elsewhere (CI, files) plain lines with the same facts.
 */
import { formatTimedelta } from './py-format.js';

export interface ProgressStream {
  write(chunk: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

export interface ProgressInfo {
  step: number;
  total: number;
  loss?: number;
  /** PPO's mean reward of the step (the number a PPO run is watched for). */
  reward?: number;
  lr?: number;
  epoch?: number;
}

export interface ProgressOptions {
  stream?: ProgressStream;
  /** Defaults to the stream's isTTY. */
  tty?: boolean;
  /** Seconds; tests pass a fake clock. */
  clock?: () => number;
  /** Least seconds between two terminal redraws. */
  redrawInterval?: number;
  /** Least seconds between two plain lines (the first, the last and forced ones always print). */
  lineInterval?: number;
  label?: string;
}

/** tqdm's clock format: M:SS under an hour, H:MM:SS beyond. */
export function formatClock(seconds: number): string {
  if (!Number.isFinite(seconds)) return '?';
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const mm = String(Math.floor((s % 3600) / 60)).padStart(2, '0');
  const ss = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${mm}:${ss}` : `${mm}:${ss}`;
}

/** it/s when at least one step a second, else s/it, as tqdm shows slow loops. */
export function formatRate(stepsPerSecond: number): string {
  if (!(stepsPerSecond > 0) || !Number.isFinite(stepsPerSecond)) return '?it/s';
  return stepsPerSecond >= 1 ? `${stepsPerSecond.toFixed(2)}it/s` : `${(1 / stepsPerSecond).toFixed(2)}s/it`;
}

function formatLr(lr: number): string {
  return lr.toExponential(2).replace(/e([+-])(\d)$/, 'e$10$2');
}

function metricsText(info: ProgressInfo, sep: string, eq: string): string[] {
  const parts: string[] = [];
  if (info.loss !== undefined) parts.push(`loss${eq}${info.loss.toFixed(4)}`);
  if (info.reward !== undefined) parts.push(`reward${eq}${info.reward.toFixed(4)}`);
  if (info.lr !== undefined) parts.push(`lr${eq}${formatLr(info.lr)}`);
  if (info.epoch !== undefined) parts.push(`epoch${eq}${info.epoch.toFixed(2)}`);
  return parts.length ? [parts.join(sep)] : [];
}

export interface Timing {
  elapsed: number;
  /** Steps per second over the steps done in this run (a resumed run starts counting at its first step). */
  rate: number;
  remaining: number;
}

/** The terminal line: ` 45%|█████▍      | 90/200 [01:23<01:41, 1.08it/s, loss=1.2345, lr=4.50e-05]`. */
export function formatBar(info: ProgressInfo, t: Timing, columns = 100): string {
  const frac = info.total > 0 ? Math.min(1, info.step / info.total) : 1;
  const pct = `${String(Math.floor(frac * 100)).padStart(3)}%`;
  const tail = ` ${info.step}/${info.total} [${formatClock(t.elapsed)}<${formatClock(t.remaining)}, ${[formatRate(t.rate), ...metricsText(info, ', ', '=')].join(', ')}]`;
  const barWidth = Math.max(10, Math.min(40, columns - pct.length - tail.length - 3));
  // Eighth blocks give the bar sub-character resolution, as tqdm's unicode bar does.
  const eighths = Math.round(frac * barWidth * 8);
  const full = Math.floor(eighths / 8);
  const partial = eighths % 8;
  const bar =
    '█'.repeat(full) +
    (partial ? (' ▏▎▍▌▋▊▉'[partial] as string) : '') +
    ' '.repeat(barWidth - full - (partial ? 1 : 0));
  return `${pct}|${bar}|${tail}`;
}

/** The plain line: `[train] step 90/200 (45.00%) | 1.08it/s | elapsed 0:01:23 | remaining 0:01:41 | loss 1.2345`. */
export function formatLogLine(info: ProgressInfo, t: Timing, label = 'train'): string {
  const pct = info.total > 0 ? ((info.step / info.total) * 100).toFixed(2) : '100.00';
  return [
    `[${label}] step ${info.step}/${info.total} (${pct}%)`,
    formatRate(t.rate),
    `elapsed ${formatTimedelta(t.elapsed)}`,
    `remaining ${Number.isFinite(t.remaining) ? formatTimedelta(t.remaining) : '?'}`,
    ...metricsText(info, ' | ', ' '),
  ].join(' | ');
}

export class Progress {
  private readonly stream: ProgressStream;
  private readonly tty: boolean;
  private readonly clock: () => number;
  private readonly redrawInterval: number;
  private readonly lineInterval: number;
  private readonly label: string;
  private startTime: number | null = null;
  private startStep = 0;
  private lastDraw = Number.NEGATIVE_INFINITY;
  private drawn = false;
  private last: ProgressInfo | null = null;

  constructor(o: ProgressOptions = {}) {
    this.stream = o.stream ?? process.stderr;
    this.tty = o.tty ?? Boolean(this.stream.isTTY);
    this.clock = o.clock ?? (() => performance.now() / 1000);
    this.redrawInterval = o.redrawInterval ?? 0.1;
    this.lineInterval = o.lineInterval ?? 10;
    this.label = o.label ?? 'train';
  }

  /** Starts the clock at `step` (non-zero when resuming), so the rate counts only this run's steps. */
  start(step = 0, total?: number): void {
    this.startTime = this.clock();
    this.startStep = step;
    if (total !== undefined) this.last = { step, total };
  }

  timing(step: number, total: number): Timing {
    if (this.startTime === null) this.start(step);
    const elapsed = this.clock() - (this.startTime as number);
    const done = step - this.startStep;
    const rate = elapsed > 0 ? done / elapsed : 0;
    return { elapsed, rate, remaining: rate > 0 ? (total - step) / rate : Number.POSITIVE_INFINITY };
  }

  /** Call after each optimizer step; draws when the throttle allows, and always at the last step. */
  update(info: ProgressInfo, { force = false }: { force?: boolean } = {}): void {
    if (this.startTime === null) this.start(Math.max(0, info.step - 1));
    this.last = info;
    const now = this.clock();
    const final = info.step >= info.total;
    const interval = this.tty ? this.redrawInterval : this.lineInterval;
    if (!force && !final && this.drawn && now - this.lastDraw < interval) return;
    this.lastDraw = now;
    this.drawn = true;
    const t = this.timing(info.step, info.total);
    if (this.tty) this.stream.write(`\r${formatBar(info, t, this.stream.columns ?? 100)}\x1b[K`);
    else this.stream.write(`${formatLogLine(info, t, this.label)}\n`);
  }

  /** Prints a message without breaking the bar (the bar is redrawn below it). */
  log(message: string): void {
    if (this.tty && this.drawn) this.stream.write('\r\x1b[K');
    this.stream.write(`${message}\n`);
    if (this.tty && this.last) this.update(this.last, { force: true });
  }

  /** Ends the bar's line on a terminal. */
  done(): void {
    if (this.tty && this.drawn) this.stream.write('\n');
    this.drawn = false;
  }
}
