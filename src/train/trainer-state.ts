/**
 * trainer_state.json as Hugging Face's TrainerState writes it (json.dumps(asdict(state), indent=2, sort_keys=True)):
 * the run's counters and log_history, which LLaMA-Factory's plot_loss and resuming read back.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../io/atomic.js';
import { pyJsonDumps, pyRound } from './py-format.js';

export const TRAINER_STATE_NAME = 'trainer_state.json';

/** One log_history entry: metrics plus `step` (and `epoch`), as Trainer.log appends them. */
export type LogEntry = Record<string, number | string | null> & { step: number };

/** Numbers HF keeps as Python ints in trainer_state.json (everything else is a float there). */
export const STATE_INT_KEYS: ReadonlySet<string> = new Set([
  'step',
  'global_step',
  'max_steps',
  'logging_steps',
  'eval_steps',
  'save_steps',
  'train_batch_size',
  'num_train_epochs',
  'num_input_tokens_seen',
  'best_global_step',
]);

export class TrainerState {
  epoch: number | null = null;
  global_step = 0;
  max_steps = 0;
  logging_steps = 500;
  eval_steps = 500;
  save_steps = 500;
  train_batch_size: number | null = null;
  num_train_epochs = 0;
  num_input_tokens_seen = 0;
  total_flos = 0;
  log_history: LogEntry[] = [];
  best_metric: number | null = null;
  best_global_step: number | null = null;
  best_model_checkpoint: string | null = null;
  is_local_process_zero = true;
  is_world_process_zero = true;
  is_hyper_param_search = false;
  trial_name: string | null = null;
  trial_params: Record<string, unknown> | null = null;
  /** TrainerControl's flags as HF stores them, so HF can resume from our checkpoints too. */
  stateful_callbacks: Record<string, unknown> = {
    TrainerControl: {
      args: {
        should_epoch_stop: false,
        should_evaluate: false,
        should_log: false,
        should_save: true,
        should_training_stop: true,
      },
      attributes: {},
    },
  };

  /**
   * The state at the start of training (Trainer._inner_training_loop): run length, batch size, and the
   * logging/eval/save intervals with ratios (< 1) turned into step counts; eval_steps null keeps HF's 500.
   */
  static begin(o: {
    maxSteps: number;
    numTrainEpochs: number;
    trainBatchSize: number;
    loggingSteps: number;
    evalSteps: number | null;
    saveSteps: number;
  }): TrainerState {
    const s = new TrainerState();
    s.max_steps = o.maxSteps;
    s.num_train_epochs = o.numTrainEpochs;
    s.train_batch_size = o.trainBatchSize;
    s.logging_steps = TrainerState.resolveSteps(o.loggingSteps, o.maxSteps);
    if (o.evalSteps !== null) s.eval_steps = TrainerState.resolveSteps(o.evalSteps, o.maxSteps);
    s.save_steps = TrainerState.resolveSteps(o.saveSteps, o.maxSteps);
    return s;
  }

  /** HF turns ratio steps (< 1) into counts of max_steps: ceil(max_steps * ratio). */
  static resolveSteps(steps: number, maxSteps: number): number {
    return steps < 1 ? Math.ceil(maxSteps * steps) : steps;
  }

  /** Appends an entry as Trainer.log does: the metrics, `epoch` (when known) and `step`. */
  log(metrics: Record<string, number | string | null>): LogEntry {
    const entry: LogEntry = {
      ...metrics,
      ...(this.epoch === null ? {} : { epoch: this.epoch }),
      step: this.global_step,
    };
    this.log_history.push(entry);
    return entry;
  }

  /**
   * The training-loss entry Trainer._maybe_log_save_evaluate writes: loss averaged over the steps since the last
   * log and rounded to 4 digits, grad_norm, learning_rate.
   */
  logTraining(
    loss: number,
    gradNorm: number | null,
    learningRate: number,
    extra: Record<string, number> = {},
  ): LogEntry {
    const m: Record<string, number> = { loss: pyRound(loss, 4) };
    if (gradNorm !== null) m.grad_norm = gradNorm;
    m.learning_rate = learningRate;
    // a stage's metrics follow (TRL's trainers add their stored metrics to HF's logs)
    return this.log({ ...m, ...extra });
  }

  toJSON(): Record<string, unknown> {
    return Object.fromEntries(Object.entries(this));
  }

  toJsonString(): string {
    return `${pyJsonDumps(this.toJSON(), { indent: 2, sortKeys: true, intKeys: STATE_INT_KEYS })}\n`;
  }

  save(dir: string): string {
    const path = join(dir, TRAINER_STATE_NAME);
    writeFileAtomic(path, this.toJsonString());
    return path;
  }

  /** Reads a trainer_state.json (ours or HF's); Python's NaN/Infinity literals are accepted. */
  static load(path: string): TrainerState {
    const data = parsePythonJson(readFileSync(path, 'utf8')) as Record<string, unknown>;
    const state = new TrainerState();
    for (const [k, v] of Object.entries(data)) {
      if (k in state) (state as unknown as Record<string, unknown>)[k] = v;
    }
    return state;
  }
}

/** JSON.parse that also reads the NaN / Infinity / -Infinity tokens Python's json module writes. */
export function parsePythonJson(text: string): unknown {
  const marked = text.replace(/("(?:[^"\\]|\\.)*")|-?Infinity|NaN/g, (m, str: string | undefined) =>
    str !== undefined ? str : `"__py_${m}__"`,
  );
  return JSON.parse(marked, (_k, v) => {
    if (v === '__py_NaN__') return Number.NaN;
    if (v === '__py_Infinity__') return Number.POSITIVE_INFINITY;
    if (v === '__py_-Infinity__') return Number.NEGATIVE_INFINITY;
    return v;
  });
}
