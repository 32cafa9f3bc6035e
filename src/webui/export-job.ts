/**
 * The Export tab's job: `lmforge export` (LoRA merged into the base, a Hugging Face checkpoint, or GGUF) as a child
 * process, like a training run: arguments written to export_dir/export_args.yaml, output kept for the log tail.
 * One export at a time per board.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../io/atomic.js';
import { argsYaml } from './runs.js';
import type { WorkDirs } from './work-dirs.js';

export const EXPORT_ARGS_NAME = 'export_args.yaml';

export interface ExportState {
  status: 'idle' | 'running' | 'finished' | 'failed';
  exportDir: string | null;
  exitCode: number | null;
  logTail: string;
}

export class ExportJob {
  private child: ChildProcess | null = null;
  private state: ExportState = { status: 'idle', exportDir: null, exitCode: null, logTail: '' };
  private output = '';

  constructor(
    private readonly workDirs: WorkDirs,
    private readonly lmforgeBin: string,
  ) {}

  snapshot(): ExportState {
    return { ...this.state, logTail: this.output.split('\n').slice(-40).join('\n').trimEnd() };
  }

  /** Starts `lmforge export` with the given arguments, every path confined to the work dirs. */
  start(args: Record<string, unknown>): ExportState {
    if (this.state.status === 'running') {
      throw Object.assign(new Error('an export is already running; wait for it to end'), { userFacing: true });
    }
    if (typeof args.export_dir !== 'string' || args.export_dir === '') {
      throw Object.assign(new Error('export_dir is required: the folder the exported model is written to'), {
        userFacing: true,
      });
    }
    const confined: Record<string, unknown> = { ...args };
    for (const key of ['model_name_or_path', 'adapter_name_or_path', 'export_dir']) {
      const v = confined[key];
      if (typeof v === 'string' && v !== '') {
        confined[key] = v
          .split(',')
          .map((p) => this.workDirs.resolve(p.trim()))
          .join(',');
      }
    }
    const exportDir = confined.export_dir as string;
    mkdirSync(exportDir, { recursive: true });
    const yamlPath = join(exportDir, EXPORT_ARGS_NAME);
    writeFileAtomic(yamlPath, argsYaml(confined));
    this.output = '';
    const child = spawn(process.execPath, [this.lmforgeBin, 'export', yamlPath], {
      cwd: this.workDirs.home,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, FORCE_COLOR: '0' },
    });
    const append = (chunk: Buffer) => {
      this.output = (this.output + chunk.toString('utf8')).slice(-64 * 1024);
    };
    child.stdout?.on('data', append);
    child.stderr?.on('data', append);
    this.child = child;
    this.state = { status: 'running', exportDir: this.workDirs.display(exportDir), exitCode: null, logTail: '' };
    child.on('exit', (code) => {
      this.state = { ...this.state, status: code === 0 ? 'finished' : 'failed', exitCode: code };
      this.child = null;
    });
    child.on('error', (e) => {
      append(Buffer.from(`\n${e.message}\n`));
      this.state = { ...this.state, status: 'failed' };
      this.child = null;
    });
    return this.snapshot();
  }

  /** Resolves when the running export (if any) has exited. */
  async wait(): Promise<ExportState> {
    const child = this.child;
    if (child && child.exitCode === null) await new Promise((resolve) => child.once('exit', resolve));
    await new Promise((resolve) => setImmediate(resolve));
    return this.snapshot();
  }

  async close(): Promise<void> {
    const child = this.child;
    if (!child) return;
    child.kill('SIGTERM');
    await new Promise((resolve) => child.once('exit', resolve));
  }
}
