/**
 * Learning-rate schedules with Hugging Face's names and formulas (transformers/optimization.py): each is a
 * multiplier lambda(step) of the base learning rate, as torch's LambdaLR applies it. reduce_lr_on_plateau follows
 * torch.optim.lr_scheduler.ReduceLROnPlateau instead, driven by evaluation metrics.
 *
 * Step convention (LambdaLR): the optimizer update number k (0-based) uses lr(k); after it the trainer calls
 * `step()`, so the lr HF logs at global_step g is lr(g).
 */
import { didYouMean } from '../hparams/did-you-mean.js';
import type { LrSchedulerType } from '../hparams/training-args.js';

export interface SchedulerConfig {
  type: LrSchedulerType;
  /** learning_rate: the optimizer's initial lr (polynomial and cosine_with_min_lr need it). */
  baseLr: number;
  /** Optimizer updates in the whole run (HF's num_training_steps = max_steps). */
  totalSteps: number;
  /** Already resolved with getWarmupSteps. */
  warmupSteps: number;
  /** lr_scheduler_kwargs. */
  kwargs?: Record<string, unknown>;
}

export class SchedulerError extends Error {
  readonly userFacing = true;
}

/** HF TrainingArguments.get_warmup_steps: warmup_steps wins when positive, else ceil(ratio * total). */
export function getWarmupSteps(totalSteps: number, warmupSteps: number, warmupRatio: number): number {
  return warmupSteps > 0 ? warmupSteps : Math.ceil(totalSteps * warmupRatio);
}

/** The kwargs each schedule accepts (the keyword arguments of HF's get_*_schedule function). */
const KWARGS: Record<LrSchedulerType, readonly string[]> = {
  linear: [],
  cosine: ['num_cycles'],
  cosine_with_restarts: ['num_cycles'],
  polynomial: ['lr_end', 'power'],
  constant: [],
  constant_with_warmup: [],
  inverse_sqrt: ['timescale'],
  reduce_lr_on_plateau: ['mode', 'factor', 'patience', 'threshold', 'threshold_mode', 'cooldown', 'min_lr', 'eps'],
  cosine_with_min_lr: ['num_cycles', 'min_lr', 'min_lr_rate'],
  cosine_warmup_with_min_lr: ['num_cycles', 'min_lr', 'min_lr_rate', 'warmup_lr_rate'],
  warmup_stable_decay: [
    'num_decay_steps',
    'num_stable_steps',
    'warmup_type',
    'decay_type',
    'min_lr_ratio',
    'num_cycles',
  ],
};

function num(kwargs: Record<string, unknown>, key: string, def: number): number;
function num(kwargs: Record<string, unknown>, key: string, def: undefined): number | undefined;
function num(kwargs: Record<string, unknown>, key: string, def: number | undefined): number | undefined {
  const v = kwargs[key];
  if (v === undefined || v === null) return def;
  const n = typeof v === 'string' ? Number(v) : v;
  if (typeof n !== 'number' || Number.isNaN(n)) {
    throw new SchedulerError(`lr_scheduler_kwargs.${key} must be a number, got ${JSON.stringify(v)}`);
  }
  return n;
}

function checkKwargs(type: LrSchedulerType, kwargs: Record<string, unknown>): void {
  const allowed = KWARGS[type];
  for (const key of Object.keys(kwargs)) {
    if (allowed.includes(key)) continue;
    const guess = didYouMean(key, allowed);
    throw new SchedulerError(
      `lr_scheduler_kwargs.${key} is not an argument of the ${type} schedule` +
        (guess
          ? `; did you mean '${guess}'?`
          : allowed.length
            ? ` (it takes ${allowed.join(', ')})`
            : ' (it takes none)'),
    );
  }
}

/** linear warmup shared by every HF schedule: step / max(1, warmup). */
const warm = (step: number, warmup: number): number => step / Math.max(1, warmup);

/** lambda(step) of a LambdaLR schedule; throws for reduce_lr_on_plateau, which has no closed form. */
export function lrLambda(config: SchedulerConfig): (step: number) => number {
  const { type, baseLr, totalSteps: total, warmupSteps: warmup } = config;
  const kwargs = config.kwargs ?? {};
  checkKwargs(type, kwargs);
  switch (type) {
    case 'constant':
      return () => 1;
    case 'constant_with_warmup':
      return (s) => (s < warmup ? s / Math.max(1, warmup) : 1);
    case 'linear':
      return (s) => (s < warmup ? warm(s, warmup) : Math.max(0, (total - s) / Math.max(1, total - warmup)));
    case 'cosine': {
      const cycles = num(kwargs, 'num_cycles', 0.5);
      return (s) => {
        if (s < warmup) return warm(s, warmup);
        const progress = (s - warmup) / Math.max(1, total - warmup);
        return Math.max(0, 0.5 * (1 + Math.cos(Math.PI * cycles * 2 * progress)));
      };
    }
    case 'cosine_with_restarts': {
      const cycles = num(kwargs, 'num_cycles', 1);
      return (s) => {
        if (s < warmup) return warm(s, warmup);
        const progress = (s - warmup) / Math.max(1, total - warmup);
        if (progress >= 1) return 0;
        return Math.max(0, 0.5 * (1 + Math.cos(Math.PI * ((cycles * progress) % 1))));
      };
    }
    case 'polynomial': {
      const lrEnd = num(kwargs, 'lr_end', 1e-7);
      const power = num(kwargs, 'power', 1);
      if (!(baseLr > lrEnd)) throw new SchedulerError(`lr_end (${lrEnd}) must be smaller than initial lr (${baseLr})`);
      return (s) => {
        if (s < warmup) return warm(s, warmup);
        if (s > total) return lrEnd / baseLr;
        // HF divides by (total - warmup) unguarded; a zero-length decay means the end value.
        const decaySteps = total - warmup;
        if (decaySteps <= 0) return lrEnd / baseLr;
        const remaining = 1 - (s - warmup) / decaySteps;
        return ((baseLr - lrEnd) * remaining ** power + lrEnd) / baseLr;
      };
    }
    case 'inverse_sqrt': {
      const timescale = num(kwargs, 'timescale', undefined) ?? (warmup || 10_000);
      return (s) => {
        if (s < warmup) return warm(s, warmup);
        return 1 / Math.sqrt((s + timescale - warmup) / timescale);
      };
    }
    case 'cosine_with_min_lr':
    case 'cosine_warmup_with_min_lr': {
      const cycles = num(kwargs, 'num_cycles', 0.5);
      const minLr = num(kwargs, 'min_lr', undefined);
      let minRate = num(kwargs, 'min_lr_rate', undefined);
      if (minLr !== undefined && minRate !== undefined) {
        throw new SchedulerError('Only one of min_lr or min_lr_rate should be set');
      }
      if (minLr !== undefined) minRate = minLr / baseLr;
      if (minRate === undefined) {
        throw new SchedulerError('One of min_lr or min_lr_rate should be set through the `lr_scheduler_kwargs`');
      }
      const rate = minRate;
      if (type === 'cosine_with_min_lr') {
        return (s) => {
          if (s < warmup) return warm(s, warmup);
          const progress = (s - warmup) / Math.max(1, total - warmup);
          const factor = 0.5 * (1 + Math.cos(Math.PI * cycles * 2 * progress));
          return Math.max(0, factor * (1 - rate) + rate);
        };
      }
      // HF's variant counts steps from 1: warmup reaches the full lr on its last step, decay starts one step later.
      const warmupLrRate = num(kwargs, 'warmup_lr_rate', undefined);
      return (s) => {
        if (s < warmup) {
          if (warmupLrRate === undefined) return (s + 1) / Math.max(1, warmup);
          return warmupLrRate + ((1 - warmupLrRate) * s) / Math.max(1, warmup - 1);
        }
        const progress = (s - warmup + 1) / Math.max(1, total - warmup);
        const factor = 0.5 * (1 + Math.cos(Math.PI * cycles * 2 * progress));
        return Math.max(0, factor * (1 - rate) + rate);
      };
    }
    case 'warmup_stable_decay': {
      const decay = num(kwargs, 'num_decay_steps', undefined);
      if (decay === undefined) {
        throw new SchedulerError(
          'warmup_stable_decay needs lr_scheduler_kwargs.num_decay_steps (e.g. lr_scheduler_kwargs=\'{"num_decay_steps": 100}\')',
        );
      }
      const stable = num(kwargs, 'num_stable_steps', undefined) ?? total - warmup - decay;
      const warmupType = String(kwargs.warmup_type ?? 'linear');
      const decayType = String(kwargs.decay_type ?? 'cosine');
      const shapes = ['linear', 'cosine', '1-sqrt'];
      if (!shapes.includes(warmupType)) {
        throw new SchedulerError(`Unknown warmup type: ${warmupType}, expected 'linear', 'cosine' or '1-sqrt'`);
      }
      if (!shapes.includes(decayType)) {
        throw new SchedulerError(`Unknown decay type: ${decayType}, expected 'linear', 'cosine' or '1-sqrt'`);
      }
      const minRatio = num(kwargs, 'min_lr_ratio', 0);
      const cycles = num(kwargs, 'num_cycles', 0.5);
      return (s) => {
        if (s < warmup) {
          const progress = s / Math.max(1, warmup);
          const f =
            warmupType === 'linear'
              ? progress
              : warmupType === 'cosine'
                ? 0.5 * (1 - Math.cos(Math.PI * progress))
                : 1 - Math.sqrt(1 - progress);
          return Math.max(0, f * (1 - minRatio) + minRatio);
        }
        if (s < warmup + stable) return 1;
        if (s < warmup + stable + decay) {
          const progress = (s - warmup - stable) / Math.max(1, decay);
          const f =
            decayType === 'linear'
              ? 1 - progress
              : decayType === 'cosine'
                ? 0.5 * (1 + Math.cos(Math.PI * cycles * 2 * progress))
                : 1 - Math.sqrt(progress);
          return Math.max(0, f * (1 - minRatio) + minRatio);
        }
        return minRatio;
      };
    }
    case 'reduce_lr_on_plateau':
      throw new SchedulerError('reduce_lr_on_plateau has no lr(step): it follows eval metrics (use LrScheduler)');
  }
}

/** The learning rate at an optimizer step (a pure function of the config). */
export function learningRateAt(config: SchedulerConfig, step: number): number {
  return config.baseLr * lrLambda(config)(step);
}

/** What a checkpoint stores to resume the schedule exactly (scheduler.pt's role in HF checkpoints). */
export interface SchedulerState {
  type: LrSchedulerType;
  lastEpoch: number;
  lr: number;
  /** reduce_lr_on_plateau only. */
  plateau?: { best: number; numBadEpochs: number; cooldownCounter: number };
}

interface PlateauOptions {
  mode: 'min' | 'max';
  factor: number;
  patience: number;
  threshold: number;
  thresholdMode: 'rel' | 'abs';
  cooldown: number;
  minLr: number;
  eps: number;
}

/** The schedule a trainer drives: read `lr` before an update, call `step()` after it (with the metric for plateau). */
export class LrScheduler {
  private readonly lambda: ((step: number) => number) | null;
  private readonly plateau: PlateauOptions | null;
  private lastEpoch = 0;
  private currentLr: number;
  private best = 0;
  private numBadEpochs = 0;
  private cooldownCounter = 0;

  constructor(readonly config: SchedulerConfig) {
    if (config.type === 'reduce_lr_on_plateau') {
      const k = config.kwargs ?? {};
      checkKwargs(config.type, k);
      const mode = String(k.mode ?? 'min');
      const thresholdMode = String(k.threshold_mode ?? 'rel');
      if (mode !== 'min' && mode !== 'max') throw new SchedulerError(`mode ${mode} is unknown! (use min or max)`);
      if (thresholdMode !== 'rel' && thresholdMode !== 'abs') {
        throw new SchedulerError(`threshold mode ${thresholdMode} is unknown! (use rel or abs)`);
      }
      const factor = num(k, 'factor', 0.1);
      if (factor >= 1) throw new SchedulerError('Factor should be < 1.0.');
      this.plateau = {
        mode,
        factor,
        patience: num(k, 'patience', 10),
        threshold: num(k, 'threshold', 1e-4),
        thresholdMode,
        cooldown: num(k, 'cooldown', 0),
        minLr: num(k, 'min_lr', 0),
        eps: num(k, 'eps', 1e-8),
      };
      this.lambda = null;
      this.best = mode === 'min' ? Number.POSITIVE_INFINITY : Number.NEGATIVE_INFINITY;
      this.currentLr = config.baseLr;
    } else {
      this.plateau = null;
      this.lambda = lrLambda(config);
      this.currentLr = config.baseLr * this.lambda(0);
    }
  }

  /** The learning rate for the next optimizer update. */
  get lr(): number {
    return this.currentLr;
  }

  /** Optimizer updates seen (torch's last_epoch). */
  get stepCount(): number {
    return this.lastEpoch;
  }

  /** Advances one update; reduce_lr_on_plateau advances per evaluation and needs its metric. */
  step(metric?: number): void {
    this.lastEpoch += 1;
    if (this.lambda) {
      this.currentLr = this.config.baseLr * this.lambda(this.lastEpoch);
      return;
    }
    const o = this.plateau as PlateauOptions;
    if (metric === undefined || Number.isNaN(metric)) {
      throw new SchedulerError('reduce_lr_on_plateau steps on an evaluation metric: call step(evalMetric)');
    }
    if (this.isBetter(metric, o)) {
      this.best = metric;
      this.numBadEpochs = 0;
    } else this.numBadEpochs += 1;
    if (this.cooldownCounter > 0) {
      this.cooldownCounter -= 1;
      this.numBadEpochs = 0;
    }
    if (this.numBadEpochs > o.patience) {
      const reduced = Math.max(this.currentLr * o.factor, o.minLr);
      if (this.currentLr - reduced > o.eps) this.currentLr = reduced;
      this.cooldownCounter = o.cooldown;
      this.numBadEpochs = 0;
    }
  }

  private isBetter(a: number, o: PlateauOptions): boolean {
    const best = this.best;
    if (o.mode === 'min') return o.thresholdMode === 'rel' ? a < best * (1 - o.threshold) : a < best - o.threshold;
    return o.thresholdMode === 'rel' ? a > best * (o.threshold + 1) : a > best + o.threshold;
  }

  stateDict(): SchedulerState {
    const s: SchedulerState = { type: this.config.type, lastEpoch: this.lastEpoch, lr: this.currentLr };
    if (this.plateau)
      s.plateau = { best: this.best, numBadEpochs: this.numBadEpochs, cooldownCounter: this.cooldownCounter };
    return s;
  }

  loadStateDict(s: SchedulerState): void {
    if (s.type !== this.config.type) {
      throw new SchedulerError(
        `the checkpoint's scheduler is ${s.type} but this run uses ${this.config.type}: keep lr_scheduler_type ` +
          'when resuming, or start without resume_from_checkpoint',
      );
    }
    this.lastEpoch = s.lastEpoch;
    this.currentLr = s.lr;
    if (s.plateau) {
      // JSON turns the initial ±Infinity into null.
      const initial = this.plateau?.mode === 'max' ? Number.NEGATIVE_INFINITY : Number.POSITIVE_INFINITY;
      this.best = typeof s.plateau.best === 'number' ? s.plateau.best : initial;
      this.numBadEpochs = s.plateau.numBadEpochs;
      this.cooldownCounter = s.plateau.cooldownCounter;
    }
  }
}
