/**
 * The experiment trackers of a run (HF's report_to integrations and LLaMA-Factory's use_swanlab): each gets the
 * run's masked arguments at the start and every log entry (training loss, evaluation) at its global step.
 * Without an account, server or network they write offline run folders; which one went where is logged.
 */
import { isAbsolute, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TrainArgs } from '../../hparams/index.js';
import type { LogEntry } from '../trainer-state.js';
import { MlflowFileRun } from './mlflow.js';
import { MlflowRestRun } from './mlflow-rest.js';
import { OfflineRunFolder } from './offline-run.js';
import { flatConfig, groupedConfig, rewriteLogs } from './run-config.js';
import { defaultLogDirName, TensorBoardWriter } from './tensorboard.js';

interface Tracker {
  log(entry: LogEntry): void;
  finish(): void | Promise<void>;
}

export class Trackers {
  constructor(
    private readonly trackers: readonly Tracker[],
    /** Where each tracker writes, for the run's log and for tests. */
    readonly locations: Readonly<Record<string, string>>,
  ) {}

  log(entry: LogEntry): void {
    for (const t of this.trackers) t.log(entry);
  }

  /** Closes every tracker (a tracking server's queued requests are awaited). */
  async finish(): Promise<void> {
    for (const t of this.trackers) await t.finish();
  }
}

type Env = Readonly<Record<string, string | undefined>>;

/** Opens the trackers `args.training.report_to` names (already checked by the argument parser). */
export function openTrackers(
  args: TrainArgs,
  outputDir: string,
  log: (message: string) => void,
  env: Env = process.env,
): Trackers {
  const { training: ta, finetuning: ft } = args;
  const names = new Set(ta.report_to);
  if (ft.use_swanlab) names.add('swanlab');
  const trackers: Tracker[] = [];
  const locations: Record<string, string> = {};
  const runName = ta.run_name ?? outputDir;

  if (names.has('tensorboard')) {
    const writer = new TensorBoardWriter(ta.logging_dir ?? join(outputDir, defaultLogDirName()));
    writer.addText('args', JSON.stringify(flatConfig(args), null, 2), 0);
    locations.tensorboard = writer.path;
    trackers.push({ log: (e) => writer.addScalars(rewriteLogs(e), e.step), finish: () => {} });
  }
  if (names.has('wandb')) {
    if (env.WANDB_API_KEY && env.WANDB_MODE !== 'offline' && env.WANDB_MODE !== 'disabled') {
      log('note: uploading to Weights & Biases is not implemented; the run is written as an offline folder');
    }
    const run = new OfflineRunFolder('wandb', join(env.WANDB_DIR ?? outputDir, 'wandb'), {
      project: env.WANDB_PROJECT ?? 'huggingface',
      runName: ta.run_name,
      config: { ...flatConfig(args), ...groupedConfig(args) },
    });
    locations.wandb = run.dir;
    trackers.push({ log: (e) => run.log(rewriteLogs(e), e.step), finish: () => run.finish() });
  }
  if (names.has('swanlab')) {
    if (ft.swanlab_mode === 'cloud' && (ft.swanlab_api_key || env.SWANLAB_API_KEY)) {
      log('note: uploading to SwanLab is not implemented; the run is written as an offline folder');
    }
    const run = new OfflineRunFolder('swanlab', ft.swanlab_logdir ?? join(outputDir, 'swanlog'), {
      project: ft.swanlab_project,
      runName: ft.swanlab_run_name,
      config: { ...flatConfig(args), ...groupedConfig(args) },
    });
    locations.swanlab = run.dir;
    trackers.push({ log: (e) => run.log(rewriteLogs(e), e.step), finish: () => run.finish() });
  }
  const mlflowUri = env.MLFLOW_TRACKING_URI ?? '';
  if (names.has('mlflow') && /^https?:\/\//i.test(mlflowUri)) {
    const run = new MlflowRestRun(
      mlflowUri,
      env.MLFLOW_EXPERIMENT_NAME ?? 'Default',
      runName,
      flatConfig(args),
      env,
      log,
    );
    locations.mlflow = mlflowUri;
    trackers.push({ log: (e) => run.logMetrics(numbersOf(e), e.step), finish: () => run.finish() });
  } else if (names.has('mlflow')) {
    const run = new MlflowFileRun(
      mlflowStore(env.MLFLOW_TRACKING_URI, outputDir, log),
      env.MLFLOW_EXPERIMENT_NAME ?? 'Default',
      runName,
      flatConfig(args),
    );
    locations.mlflow = run.dir;
    trackers.push({
      log: (e) => run.logMetrics(numbersOf(e), e.step),
      finish: () => run.finish(),
    });
  }
  for (const [name, where] of Object.entries(locations)) log(`${name}: logging to ${where}`);
  return new Trackers(trackers, locations);
}

/** MLFLOW_TRACKING_URI as a local store folder: a path or file: URI; unset or another scheme -> output_dir/mlruns. */
function mlflowStore(uri: string | undefined, outputDir: string, log: (message: string) => void): string {
  if (uri === undefined || uri === '') return join(outputDir, 'mlruns');
  if (uri.startsWith('file:')) return fileURLToPath(uri);
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(uri)) {
    log(`note: MLflow tracking URI ${uri} is neither a folder nor http(s); the run is written to output_dir/mlruns`);
    return join(outputDir, 'mlruns');
  }
  return isAbsolute(uri) ? uri : join(process.cwd(), uri);
}

/** HF MLflowCallback logs a log entry's numbers under their own names; `step` is the x axis. */
function numbersOf(entry: LogEntry): Record<string, number> {
  return Object.fromEntries(
    Object.entries(entry).filter((kv): kv is [string, number] => kv[0] !== 'step' && typeof kv[1] === 'number'),
  );
}
