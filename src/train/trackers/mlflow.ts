/**
 * `report_to: mlflow` without a tracking server: the run in MLflow's local file store, the layout `mlflow ui
 * --backend-store-uri <dir>` reads: <root>/<experiment_id>/meta.yaml, and per run <root>/<experiment_id>/<run_id>/
 * {meta.yaml, params/<name>, metrics/<name> ("<ms timestamp> <value> <step>" lines), tags/mlflow.runName}.
 * Params and metrics as HF's MLflowCallback logs them: every argument (values over 250 characters left out) and each
 * log entry's numbers under their own names at the global step.
 */
import { randomBytes } from 'node:crypto';
import { appendFileSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { stringify } from 'yaml';
import { writeFileAtomic } from '../../io/atomic.js';
import { type ArgsDict, pyStr } from './run-config.js';

/** HF MLflowCallback's MAX_PARAM_VAL_LENGTH. */
const MAX_PARAM_LENGTH = 250;
/** mlflow.entities.RunStatus. */
const RUNNING = 1;
const FINISHED = 3;

export class MlflowFileRun {
  readonly dir: string;
  private readonly meta: Record<string, unknown>;

  constructor(root: string, experimentName: string, runName: string, params: ArgsDict, now: number = Date.now()) {
    const store = resolve(root);
    const experimentId = ensureExperiment(store, experimentName, now);
    const runId = randomBytes(16).toString('hex');
    this.dir = join(store, experimentId, runId);
    this.meta = {
      artifact_uri: pathToFileURL(join(this.dir, 'artifacts')).href,
      end_time: null,
      entry_point_name: '',
      experiment_id: experimentId,
      lifecycle_stage: 'active',
      run_id: runId,
      run_name: runName,
      run_uuid: runId,
      source_name: '',
      source_type: 4,
      source_version: '',
      start_time: now,
      status: RUNNING,
      tags: [],
      user_id: process.env.USER ?? 'unknown',
    };
    for (const sub of ['params', 'metrics', 'tags', 'artifacts']) mkdirSync(join(this.dir, sub), { recursive: true });
    writeFileAtomic(join(this.dir, 'meta.yaml'), stringify(this.meta));
    writeFileSync(join(this.dir, 'tags', 'mlflow.runName'), runName);
    for (const [k, v] of Object.entries(params)) {
      const value = pyStr(v);
      if (value.length <= MAX_PARAM_LENGTH) writeFileSync(join(this.dir, 'params', safeKey(k)), value);
    }
  }

  logMetrics(metrics: Readonly<Record<string, number>>, step: number, now: number = Date.now()): void {
    for (const [k, v] of Object.entries(metrics)) {
      appendFileSync(join(this.dir, 'metrics', safeKey(k)), `${now} ${v} ${step}\n`);
    }
  }

  finish(now: number = Date.now()): void {
    writeFileAtomic(join(this.dir, 'meta.yaml'), stringify({ ...this.meta, end_time: now, status: FINISHED }));
  }
}

/** The experiment's id by name (MLflow's store keeps "Default" as 0); a missing one is created. */
function ensureExperiment(store: string, name: string, now: number): string {
  mkdirSync(store, { recursive: true });
  const ids = existsSync(store) ? readdirNumeric(store) : [];
  for (const id of ids) {
    const meta = join(store, id, 'meta.yaml');
    if (existsSync(meta) && /^name: (.*)$/m.exec(readFileSync(meta, 'utf8'))?.[1]?.trim() === name) return id;
  }
  const id = name === 'Default' ? '0' : String(Math.max(0, ...ids.map(Number)) + 1);
  mkdirSync(join(store, id), { recursive: true });
  writeFileAtomic(
    join(store, id, 'meta.yaml'),
    stringify({
      artifact_location: pathToFileURL(join(store, id)).href,
      creation_time: now,
      experiment_id: id,
      last_update_time: now,
      lifecycle_stage: 'active',
      name,
    }),
  );
  return id;
}

function readdirNumeric(dir: string): string[] {
  return readdirSyncSafe(dir).filter((n) => /^\d+$/.test(n));
}

function readdirSyncSafe(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

/** HF's MLflow key sanitising: characters MLflow rejects become `_`. */
function safeKey(k: string): string {
  return k.replace(/[^0-9A-Za-z_\-. :]/g, '_');
}
