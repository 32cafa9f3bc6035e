/**
 * Training runs as child processes, as LlamaBoard runs them: Start writes `training_args.yaml` into output_dir and
 * runs `lmforge train` on it with stdout and stderr going to `running_log.txt`; progress is read back from the
 * `trainer_log.jsonl` the trainer writes; Abort sends SIGINT (the child saves a checkpoint and exits 130). A child
 * that crashes only ends its run; the board stays up and shows the log's tail. Every browser watching an output dir
 * shares one poller, so several boards see the same run.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml, stringify } from 'yaml';
import { writeFileAtomic } from '../io/atomic.js';
import { TRAINER_LOG_NAME, type TrainerLogLine } from '../train/trainer-log.js';
import type { WorkDirs } from './work-dirs.js';

export const RUNNING_LOG_NAME = 'running_log.txt';
export const TRAINING_ARGS_NAME = 'training_args.yaml';

/** The arguments that name files or folders: each is confined to the work dirs before a run starts. */
export const PATH_ARGS = ['model_name_or_path', 'adapter_name_or_path', 'dataset_dir', 'output_dir'] as const;

export type RunStatus = 'idle' | 'running' | 'finished' | 'aborted' | 'failed';

export interface RunSnapshot {
  /** output_dir as the board shows it (relative to the first work dir). */
  outputDir: string;
  status: RunStatus;
  exitCode: number | null;
  /** The last trainer_log.jsonl line: steps, percentage, "H:MM:SS" elapsed and remaining. */
  progress: Pick<
    TrainerLogLine,
    'current_steps' | 'total_steps' | 'percentage' | 'elapsed_time' | 'remaining_time'
  > | null;
  /** [step, loss] of every logged training step, for the chart. */
  losses: Array<[number, number]>;
  /** The last lines of running_log.txt (the error, when the child crashed). */
  logTail: string;
  /** checkpoint-* folders the run has saved. */
  checkpoints: string[];
}

export interface RunManagerOptions {
  /** `bin/lmforge.js` of this package. */
  lmforgeBin: string;
  /** How often a watched output dir is re-read (ms). */
  pollMs?: number;
  /** Lines of running_log.txt a snapshot carries. */
  tailLines?: number;
}

interface LiveRun {
  child: ChildProcess;
  status: RunStatus;
  exitCode: number | null;
  aborting: boolean;
}

type Listener = (snapshot: RunSnapshot) => void;

interface Watch {
  listeners: Set<Listener>;
  timer: NodeJS.Timeout;
  last: string;
}

export class RunManager {
  private readonly runs = new Map<string, LiveRun>();
  private readonly watches = new Map<string, Watch>();
  private readonly pollMs: number;
  private readonly tailLines: number;

  constructor(
    private readonly workDirs: WorkDirs,
    private readonly options: RunManagerOptions,
  ) {
    this.pollMs = options.pollMs ?? 500;
    this.tailLines = options.tailLines ?? 40;
  }

  /**
   * Confines the path arguments, writes output_dir/training_args.yaml and starts `lmforge train` on it. Returns the
   * real output dir. Refuses a second run in an output dir whose run is still going.
   */
  start(args: Record<string, unknown>): string {
    const confined = this.confine(args);
    const outputDir = confined.output_dir as string;
    if (this.runs.get(outputDir)?.status === 'running') {
      throw userError(
        `a run is already going in ${this.workDirs.display(outputDir)}; abort it or pick another output_dir`,
      );
    }
    mkdirSync(outputDir, { recursive: true });
    const yamlPath = join(outputDir, TRAINING_ARGS_NAME);
    writeFileAtomic(yamlPath, argsYaml(confined));
    const log = openSync(join(outputDir, RUNNING_LOG_NAME), 'w');
    let child: ChildProcess;
    try {
      child = spawn(process.execPath, [this.options.lmforgeBin, 'train', yamlPath], {
        cwd: this.workDirs.home,
        stdio: ['ignore', log, log],
        env: { ...process.env, FORCE_COLOR: '0' },
      });
    } finally {
      closeSync(log); // the child holds its own copy of the descriptor
    }
    const run: LiveRun = { child, status: 'running', exitCode: null, aborting: false };
    this.runs.set(outputDir, run);
    child.on('exit', (code, signal) => {
      run.exitCode = code ?? (signal ? 128 + (signal === 'SIGINT' ? 2 : 9) : null);
      run.status = run.exitCode === 0 ? 'finished' : run.aborting && run.exitCode === 130 ? 'aborted' : 'failed';
      this.push(outputDir);
    });
    child.on('error', () => {
      run.status = 'failed';
      this.push(outputDir);
    });
    this.push(outputDir);
    return outputDir;
  }

  /** SIGINT to the run in `outputDir`: it finishes its step, saves a checkpoint and exits 130. */
  abort(outputDirArg: string): boolean {
    const outputDir = this.workDirs.resolve(outputDirArg);
    const run = this.runs.get(outputDir);
    if (run?.status !== 'running') return false;
    run.aborting = true;
    run.child.kill('SIGINT');
    return true;
  }

  /** Resolves when the run in `outputDir` has exited (tests and shutdown). */
  async waitFor(outputDirArg: string): Promise<RunSnapshot> {
    const outputDir = this.workDirs.resolve(outputDirArg);
    const run = this.runs.get(outputDir);
    if (run && run.status === 'running') await new Promise((resolve) => run.child.once('exit', resolve));
    return this.snapshot(outputDir);
  }

  /** What the board shows for an output dir: a live run's state, or what a finished one left on disk. */
  snapshot(outputDirArg: string): RunSnapshot {
    const outputDir = this.workDirs.resolve(outputDirArg);
    const run = this.runs.get(outputDir);
    const lines = readTrainerLog(join(outputDir, TRAINER_LOG_NAME));
    const last = lines.at(-1) ?? null;
    const losses: Array<[number, number]> = [];
    for (const l of lines) if (typeof l.loss === 'number') losses.push([l.current_steps, l.loss]);
    let status: RunStatus = run?.status ?? 'idle';
    if (!run && last && existsSync(join(outputDir, 'train_results.json'))) status = 'finished';
    return {
      outputDir: this.workDirs.display(outputDir),
      status,
      exitCode: run?.exitCode ?? null,
      progress: last
        ? {
            current_steps: last.current_steps,
            total_steps: last.total_steps,
            percentage: last.percentage,
            elapsed_time: last.elapsed_time,
            remaining_time: last.remaining_time,
          }
        : null,
      losses,
      logTail: tail(join(outputDir, RUNNING_LOG_NAME), this.tailLines),
      checkpoints: checkpointsIn(outputDir),
    };
  }

  /** The arguments a previous run in `outputDir` was started with (its training_args.yaml), paths as the board shows them. */
  savedArgs(outputDirArg: string): Record<string, unknown> | null {
    const path = join(this.workDirs.resolve(outputDirArg), TRAINING_ARGS_NAME);
    if (!existsSync(path)) return null;
    const doc = parseYaml(readFileSync(path, 'utf8')) as unknown;
    if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) {
      throw userError(`${path} does not hold a mapping of argument names to values; fix or delete it`);
    }
    const args = { ...(doc as Record<string, unknown>) };
    for (const key of PATH_ARGS) {
      const v = args[key];
      if (typeof v === 'string' && v !== '')
        args[key] = v
          .split(',')
          .map((p) => this.displayIfInside(p))
          .join(',');
    }
    return args;
  }

  /** Calls `listener` now and whenever the output dir's state changes; returns the unsubscribe function. */
  watch(outputDirArg: string, listener: Listener): () => void {
    const outputDir = this.workDirs.resolve(outputDirArg);
    let watch = this.watches.get(outputDir);
    if (!watch) {
      const created: Watch = {
        listeners: new Set(),
        timer: setInterval(() => this.push(outputDir), this.pollMs),
        last: '',
      };
      created.timer.unref();
      this.watches.set(outputDir, created);
      watch = created;
    }
    watch.listeners.add(listener);
    listener(this.snapshot(outputDir));
    return () => {
      const w = this.watches.get(outputDir);
      if (!w) return;
      w.listeners.delete(listener);
      if (w.listeners.size === 0) {
        clearInterval(w.timer);
        this.watches.delete(outputDir);
      }
    };
  }

  /** Aborts every live run and waits for them (the board is shutting down). */
  async close(): Promise<void> {
    for (const w of this.watches.values()) clearInterval(w.timer);
    this.watches.clear();
    const live = [...this.runs.values()].filter((r) => r.status === 'running');
    for (const r of live) {
      r.aborting = true;
      r.child.kill('SIGINT');
    }
    await Promise.all(live.map((r) => new Promise((resolve) => r.child.once('exit', resolve))));
  }

  /** The training arguments with every path argument resolved inside the work dirs (throws if one is outside). */
  confine(args: Record<string, unknown>): Record<string, unknown> {
    if (typeof args.output_dir !== 'string' || args.output_dir === '') {
      throw userError('output_dir is required: the folder the run writes its adapter, logs and checkpoints to');
    }
    const out = { ...args };
    for (const key of PATH_ARGS) {
      const v = out[key];
      if (v === undefined || v === null || v === '') continue;
      if (typeof v !== 'string') throw userError(`${key} must be a path (a string), got ${JSON.stringify(v)}`);
      out[key] = v
        .split(',')
        .map((p) => this.workDirs.resolve(p.trim()))
        .join(',');
    }
    return out;
  }

  private displayIfInside(path: string): string {
    try {
      return this.workDirs.display(this.workDirs.resolve(path));
    } catch {
      return path;
    }
  }

  private push(outputDir: string): void {
    const watch = this.watches.get(outputDir);
    if (!watch) return;
    const snapshot = this.snapshot(outputDir);
    const text = JSON.stringify(snapshot);
    if (text === watch.last) return;
    watch.last = text;
    for (const l of watch.listeners) l(snapshot);
  }
}

function userError(message: string): Error {
  return Object.assign(new Error(message), { userFacing: true });
}

/** training_args.yaml as `lmforge train` writes it: keys sorted, lists as comma strings. */
export function argsYaml(args: Record<string, unknown>): string {
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(args).sort()) {
    const v = args[key];
    if (v === undefined) continue;
    out[key] = Array.isArray(v) ? v.join(',') : v;
  }
  return stringify(out, { lineWidth: 0 });
}

/** Every complete line of trainer_log.jsonl (the last may be half-written while the trainer appends). */
function readTrainerLog(path: string): TrainerLogLine[] {
  if (!existsSync(path)) return [];
  const out: TrainerLogLine[] = [];
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    if (line.trim() === '') continue;
    try {
      out.push(JSON.parse(line) as TrainerLogLine);
    } catch {
      // a line still being written
    }
  }
  return out;
}

function tail(path: string, lines: number): string {
  if (!existsSync(path)) return '';
  const size = statSync(path).size;
  const text = readFileSync(path, 'utf8').slice(Math.max(0, size - 64 * 1024));
  // \r-redrawn progress bars: keep what each line shows last
  return text
    .split('\n')
    .map((l) => l.split('\r').at(-1) ?? '')
    .slice(-lines - 1)
    .join('\n')
    .trimEnd();
}

function checkpointsIn(outputDir: string): string[] {
  if (!existsSync(outputDir)) return [];
  return readdirSync(outputDir)
    .filter((n) => /^checkpoint-\d+$/.test(n))
    .sort((a, b) => Number(a.slice(11)) - Number(b.slice(11)));
}
