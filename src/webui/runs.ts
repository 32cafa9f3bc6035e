/**
 * Training runs as child processes, as LlamaBoard runs them: Start writes `training_args.yaml` into output_dir and
 * runs `lmforge train` on it with stdout and stderr going to `running_log.txt`; progress is read back from the
 * `trainer_log.jsonl` the trainer writes (a do_predict-only run and `lmforge eval` from their plain progress lines in
 * the log); Abort sends SIGINT (the child saves a checkpoint and exits 130). A child that crashes only ends its run;
 * the board stays up and shows the log's tail. Every browser watching an output dir shares one poller, and
 * board_run.json (pid, status, exit code) lets a second board process on the same work dir see and abort the run.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml, stringify } from 'yaml';
import { writeFileAtomic } from '../io/atomic.js';
import { TRAINER_LOG_NAME, type TrainerLogLine } from '../train/trainer-log.js';
import { type BoardRunFile, processAlive, type RunKind, readBoardRun, writeBoardRun } from './board-run-file.js';
import type { WorkDirs } from './work-dirs.js';

export const RUNNING_LOG_NAME = 'running_log.txt';
export const TRAINING_ARGS_NAME = 'training_args.yaml';
export const EVAL_ARGS_NAME = 'eval_args.yaml';
/** An eval run's save_dir inside its folder (lmforge eval wants a save_dir that does not exist yet). */
export const EVAL_RESULTS_DIR = 'results';

/** The arguments that name files or folders: each is confined to the work dirs before a run starts. */
export const PATH_ARGS = [
  'model_name_or_path',
  'adapter_name_or_path',
  'dataset_dir',
  'output_dir',
  'custom_metric',
  'task_dir',
] as const;

export type RunStatus = 'idle' | 'running' | 'finished' | 'aborted' | 'failed';

export interface RunSnapshot {
  /** output_dir as the board shows it (relative to the first work dir). */
  outputDir: string;
  kind: RunKind;
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
  kind: RunKind;
  child: ChildProcess;
  status: RunStatus;
  exitCode: number | null;
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
   * Confines the path arguments, writes output_dir/training_args.yaml and starts `lmforge train` on it (kind `eval`:
   * eval_args.yaml with save_dir output_dir/results, and `lmforge eval`). Returns the real output dir. Refuses a
   * second run in an output dir whose run is still going, in this board or another.
   */
  start(args: Record<string, unknown>, kind: RunKind = 'train'): string {
    const confined = this.confine(args);
    const outputDir = confined.output_dir as string;
    if (this.snapshot(outputDir).status === 'running') {
      throw userError(
        `a run is already going in ${this.workDirs.display(outputDir)}; abort it or pick another output_dir`,
      );
    }
    let argsName = TRAINING_ARGS_NAME;
    if (kind === 'eval') {
      argsName = EVAL_ARGS_NAME;
      delete confined.output_dir; // not an eval argument: the run's folder, holding its save_dir
      confined.save_dir = join(outputDir, EVAL_RESULTS_DIR);
      if (existsSync(confined.save_dir as string)) {
        throw userError(
          `${this.workDirs.display(outputDir)} already holds evaluation results (results are never overwritten): pick another output dir`,
        );
      }
    }
    mkdirSync(outputDir, { recursive: true });
    const yamlPath = join(outputDir, argsName);
    writeFileAtomic(yamlPath, argsYaml(confined));
    const log = openSync(join(outputDir, RUNNING_LOG_NAME), 'w');
    let child: ChildProcess;
    try {
      child = spawn(process.execPath, [this.options.lmforgeBin, kind, yamlPath], {
        cwd: this.workDirs.home,
        stdio: ['ignore', log, log],
        env: { ...process.env, FORCE_COLOR: '0' },
      });
    } finally {
      closeSync(log); // the child holds its own copy of the descriptor
    }
    const run: LiveRun = { kind, child, status: 'running', exitCode: null };
    this.runs.set(outputDir, run);
    const record: BoardRunFile = {
      kind,
      pid: child.pid ?? -1,
      started_at: new Date().toISOString(),
      status: 'running',
      exit_code: null,
    };
    if (child.pid !== undefined) writeBoardRun(outputDir, record);
    const ended = (status: BoardRunFile['status']) => {
      run.status = status;
      if (child.pid !== undefined) writeBoardRun(outputDir, { ...record, status: run.status, exit_code: run.exitCode });
      this.push(outputDir);
    };
    child.on('exit', (code, signal) => {
      run.exitCode = code ?? (signal ? 128 + (signal === 'SIGINT' ? 2 : 9) : null);
      // 130 is lmforge's exit after a SIGINT: this board's Abort, another board's, or a Ctrl-C
      ended(run.exitCode === 0 ? 'finished' : run.exitCode === 130 ? 'aborted' : 'failed');
    });
    child.on('error', () => ended('failed'));
    this.push(outputDir);
    return outputDir;
  }

  /**
   * SIGINT to the run in `outputDir`: it finishes its step, saves a checkpoint and exits 130. A run another board
   * started is signalled through the pid in its board_run.json.
   */
  abort(outputDirArg: string): boolean {
    const outputDir = this.workDirs.resolve(outputDirArg);
    const run = this.runs.get(outputDir);
    if (run?.status === 'running') {
      run.child.kill('SIGINT');
      return true;
    }
    const record = readBoardRun(outputDir);
    if (run || record?.status !== 'running' || !processAlive(record.pid)) return false;
    process.kill(record.pid, 'SIGINT');
    return true;
  }

  /** Resolves when the run in `outputDir` has exited (tests and shutdown); another board's run is polled. */
  async waitFor(outputDirArg: string): Promise<RunSnapshot> {
    const outputDir = this.workDirs.resolve(outputDirArg);
    const run = this.runs.get(outputDir);
    if (run && run.status === 'running') await new Promise((resolve) => run.child.once('exit', resolve));
    while (!run && this.snapshot(outputDir).status === 'running')
      await new Promise((resolve) => setTimeout(resolve, this.pollMs));
    return this.snapshot(outputDir);
  }

  /** What the board shows for an output dir: a live run's state, or what a finished one left on disk. */
  snapshot(outputDirArg: string): RunSnapshot {
    const outputDir = this.workDirs.resolve(outputDirArg);
    const run = this.runs.get(outputDir);
    const record = run ? null : readBoardRun(outputDir);
    const lines = readTrainerLog(join(outputDir, TRAINER_LOG_NAME));
    const last = lines.at(-1) ?? null;
    const losses: Array<[number, number]> = [];
    for (const l of lines) if (typeof l.loss === 'number') losses.push([l.current_steps, l.loss]);
    const logTail = tail(join(outputDir, RUNNING_LOG_NAME), this.tailLines);
    let status: RunStatus = run?.status ?? 'idle';
    let exitCode = run?.exitCode ?? null;
    if (record) {
      status = record.status;
      exitCode = record.exit_code;
      // its board went away without writing the exit: the pid tells whether the child still runs
      if (status === 'running' && !processAlive(record.pid)) status = finishedOnDisk(outputDir) ? 'finished' : 'failed';
    } else if (!run && last && finishedOnDisk(outputDir)) status = 'finished';
    return {
      outputDir: this.workDirs.display(outputDir),
      status,
      exitCode,
      progress: last
        ? {
            current_steps: last.current_steps,
            total_steps: last.total_steps,
            percentage: last.percentage,
            elapsed_time: last.elapsed_time,
            remaining_time: last.remaining_time,
          }
        : progressFromLog(logTail),
      losses,
      logTail,
      checkpoints: checkpointsIn(outputDir),
      kind: run?.kind ?? record?.kind ?? (existsSync(join(outputDir, EVAL_ARGS_NAME)) ? 'eval' : 'train'),
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
    for (const r of live) r.child.kill('SIGINT');
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

/** What a run leaves when it ends well: train_results.json, predict_results.json, or an eval's results.log. */
function finishedOnDisk(outputDir: string): boolean {
  return ['train_results.json', 'predict_results.json', join(EVAL_RESULTS_DIR, 'results.log')].some((f) =>
    existsSync(join(outputDir, f)),
  );
}

/**
 * Progress of a run with no trainer_log.jsonl, from the last plain progress line in its log:
 * `[predict] step 3/5 (60.00%) | ... | elapsed 0:00:03 | remaining 0:00:02` (do_predict alone) or
 * `[lmforge] 2/57 astronomy` (lmforge eval, one line per subject).
 */
export function progressFromLog(logTail: string): RunSnapshot['progress'] {
  const lines = logTail.split('\n');
  for (let i = lines.length - 1; i >= 0; i--) {
    const line = lines[i]!;
    const bar = /^\[(?:predict|train)\] step (\d+)\/(\d+) \(([\d.]+)%\).*elapsed ([\d:]+) \| remaining ([\d:?]+)/.exec(
      line,
    );
    if (bar)
      return {
        current_steps: Number(bar[1]),
        total_steps: Number(bar[2]),
        percentage: Number(bar[3]),
        elapsed_time: bar[4]!,
        remaining_time: bar[5]!,
      };
    const subject = /^\[lmforge\] (\d+)\/(\d+) \S/.exec(line);
    if (subject) {
      const [done, total] = [Number(subject[1]), Number(subject[2])];
      return {
        current_steps: done,
        total_steps: total,
        percentage: Math.round((10000 * done) / total) / 100,
        elapsed_time: '',
        remaining_time: '',
      };
    }
  }
  return null;
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
