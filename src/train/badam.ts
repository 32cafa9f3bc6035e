/**
 * BAdam (use_badam, badam_mode layer; Luo et al. 2024, the `badam` package's BlockOptimizer that LLaMA-Factory builds):
 * block-coordinate full fine-tuning. Block i is the decoder layer `model.layers.{i}.`; only the active block's
 * parameters require gradients (so frozen blocks cost no weight-gradient GEMM) and only they hold Adam state. Every
 * badam_switch_interval optimizer steps (-1: never) the next block becomes active and the old block's gradients and
 * state are dropped. The order (badam_switch_mode): ascending i+1, descending i-1 (both wrapping), fixed, or random
 * (a fresh random permutation of the blocks each round, drawn from the run's seed). badam_start_block defaults to the
 * first block (the last for descending, the permutation's first for random). Parameters outside every block
 * (embeddings, final norm, head) stay frozen, as BlockOptimizer's include_embedding / include_lm_head default off.
 */
import type { Tensor } from '../engine/index.js';
import type { TrainArgs } from '../hparams/index.js';
import { AdamW, type AdamWOptions, type OptimizerStateDict, type ParamGroupInput } from './optimizers.js';
import { noDecay, TrainError } from './run-setup.js';

export type BadamSwitchMode = 'ascending' | 'descending' | 'random' | 'fixed';

export interface BadamOptions {
  switchMode: BadamSwitchMode;
  /** Optimizer steps between switches; -1 never switches. */
  switchInterval: number;
  startBlock: number | null;
  seed: number;
}

/** The active block after each switch: blockSequence(n, o).next() gives the first, then one per switch. */
function* blockSequence(n: number, o: BadamOptions): Generator<number, never> {
  if (o.switchMode === 'random') {
    // mulberry32 over the seed: a permutation of a few dozen blocks needs no more
    let state = o.seed >>> 0;
    const uniform = () => {
      state = (state + 0x6d2b79f5) >>> 0;
      let t = state;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
    let first = true;
    for (;;) {
      // a Fisher-Yates permutation
      const order = Array.from({ length: n }, (_, i) => i);
      for (let i = n - 1; i > 0; i--) {
        const j = Math.floor(uniform() * (i + 1));
        [order[i], order[j]] = [order[j] as number, order[i] as number];
      }
      if (first && o.startBlock !== null) {
        yield o.startBlock;
        first = false;
      }
      for (const b of order) yield b;
    }
  }
  let block = o.startBlock ?? (o.switchMode === 'descending' ? n - 1 : 0);
  for (;;) {
    yield block;
    if (o.switchMode === 'ascending') block = (block + 1) % n;
    else if (o.switchMode === 'descending') block = (block - 1 + n) % n;
  }
}

export class BlockAdamW extends AdamW {
  private readonly sequence: Generator<number, never>;
  private active = -1;
  private globalStep = 0;

  /** `blocks[i]`: the trainable parameters of block i (each also in one of `groups`). */
  constructor(
    groups: readonly ParamGroupInput<AdamWOptions>[],
    private readonly blocks: readonly (readonly Tensor[])[],
    private readonly options: BadamOptions,
    opts: Partial<AdamWOptions> = {},
  ) {
    super(groups, opts);
    if (blocks.length === 0) throw new Error('BAdam: the model has no decoder layers to train block by block');
    const start = options.startBlock;
    if (start !== null && (!Number.isInteger(start) || start < 0 || start >= blocks.length))
      throw new Error(`BAdam: badam_start_block ${start} is not a block index in [0, ${blocks.length})`);
    const inBlocks = new Set(blocks.flat());
    for (const p of this.params) if (!inBlocks.has(p)) p.requiresGrad = false;
    this.sequence = blockSequence(blocks.length, options);
    this.activate(this.sequence.next().value);
  }

  /** The index of the block being trained. */
  get activeBlock(): number {
    return this.active;
  }

  private activate(block: number): void {
    const old = this.blocks[this.active] ?? [];
    for (const p of old) {
      p.requiresGrad = false;
      p.grad?.dispose();
      p.grad = null;
      const s = this.state.get(p);
      if (s) for (const t of Object.values(s.buffers)) t.dispose();
      this.state.delete(p);
    }
    for (const [i, ps] of this.blocks.entries()) for (const p of ps) p.requiresGrad = i === block;
    this.active = block;
  }

  override step(): void {
    super.step();
    this.globalStep += 1;
    const every = this.options.switchInterval;
    if (every > 0 && this.globalStep % every === 0) this.activate(this.sequence.next().value);
  }

  /** AdamW's state plus the global step (in the first group's hyperparameters), from which the block follows. */
  override stateDict(): OptimizerStateDict {
    const sd = super.stateDict();
    const first = sd.paramGroups[0];
    if (first) first.hyper.badamGlobalStep = this.globalStep;
    return sd;
  }

  /** Restores the state and replays the block sequence to the saved step (the random order too: it is seeded). */
  override loadStateDict(sd: OptimizerStateDict): void {
    const steps = Number(sd.paramGroups[0]?.hyper.badamGlobalStep ?? 0);
    const every = this.options.switchInterval;
    const switches = every > 0 ? Math.floor(steps / every) : 0;
    let block = this.active;
    for (let i = 0; i < switches; i++) block = this.sequence.next().value;
    this.activate(block);
    super.loadStateDict(sd);
    for (const g of this.paramGroups) delete (g as unknown as Record<string, unknown>).badamGlobalStep;
    this.globalStep = steps;
  }
}

/**
 * LLaMA-Factory's _create_badam_optimizer (layer mode): AdamW over HF's decay / no-decay groups of the trainable
 * parameters, blocks = the decoder layers that have trainable parameters, in layer order.
 */
export function createBadamOptimizer(
  trainable: readonly [string, Tensor][],
  ta: TrainArgs['training'],
  fa: TrainArgs['finetuning'],
  log: (line: string) => void = () => {},
): BlockAdamW {
  if (fa.badam_mode !== 'layer')
    throw new TrainError(`use_badam: badam_mode ${fa.badam_mode} is not implemented; use badam_mode: layer`);
  if (ta.optim !== 'adamw_torch' && ta.optim !== 'adamw_hf')
    throw new TrainError(`use_badam: optim ${ta.optim} has no BAdam variant here; use adamw_torch`);
  const byLayer = new Map<number, Tensor[]>();
  for (const [name, t] of trainable) {
    const m = /^model\.layers\.(\d+)\./.exec(name);
    if (!m) continue;
    const layer = Number(m[1]);
    byLayer.set(layer, [...(byLayer.get(layer) ?? []), t]);
  }
  const layers = [...byLayer.keys()].sort((a, b) => a - b);
  if (layers.length === 0) throw new TrainError('use_badam: no decoder layer has trainable parameters');
  const blocks = layers.map((l) => byLayer.get(l) as Tensor[]);
  const start = fa.badam_start_block;
  if (start !== null && (start < 0 || start >= blocks.length))
    throw new TrainError(`use_badam: badam_start_block ${start} is not a block index in [0, ${blocks.length})`);
  const groups = [
    { params: trainable.filter(([n]) => !noDecay(n)).map(([, t]) => t), weightDecay: ta.weight_decay },
    { params: trainable.filter(([n]) => noDecay(n)).map(([, t]) => t), weightDecay: 0 },
  ].filter((g) => g.params.length > 0);
  const optimizer = new BlockAdamW(
    groups,
    blocks,
    { switchMode: fa.badam_switch_mode, switchInterval: fa.badam_switch_interval, startBlock: start, seed: ta.seed },
    { lr: ta.learning_rate, beta1: ta.adam_beta1, beta2: ta.adam_beta2, eps: ta.adam_epsilon },
  );
  log(
    `BAdam: ${blocks.length} blocks (layers ${layers[0]}..${layers.at(-1)}), ${fa.badam_switch_mode} from block ${optimizer.activeBlock}, switching every ${fa.badam_switch_interval} steps`,
  );
  return optimizer;
}
