/**
 * Stateful optimizers over the fused native steps: AdamW and SGD with torch.optim's semantics, parameter groups
 * with their own hyperparameters (HF puts biases and norm weights in a weight_decay = 0 group), per-parameter
 * state tensors kept outside every scope, and a state dict of plain arrays for checkpoints.
 */
import { adamwStep_, type SgdHyper, sgdStep_ } from '../engine/ops/optimizer.js';
import { keep } from '../engine/scope.js';
import { formatShape, Tensor } from '../engine/tensor.js';

/** A group of parameters; hyperparameters left out take the optimizer's defaults. */
export type ParamGroupInput<H> = { params: readonly Tensor[] } & Partial<H>;
export type ParamGroup<H> = { params: Tensor[] } & H;

interface ParamState {
  step: number;
  buffers: Record<string, Tensor>;
}

/** A checkpointable snapshot: hyperparameters per group, and per parameter (by its index over all groups) its step
 * count and state buffers. Arrays are copies. */
export interface OptimizerStateDict {
  optimizer: string;
  paramGroups: Array<{ hyper: Record<string, number | boolean>; params: number[] }>;
  state: Record<number, { step: number; buffers: Record<string, Float32Array> }>;
}

abstract class Optimizer<H extends object> {
  readonly paramGroups: ParamGroup<H>[];
  protected readonly state = new Map<Tensor, ParamState>();

  protected constructor(
    readonly name: string,
    params: readonly Tensor[] | readonly ParamGroupInput<H>[],
    defaults: H,
  ) {
    const inputs: readonly ParamGroupInput<H>[] = isTensorList(params)
      ? [{ params } as ParamGroupInput<H>]
      : (params as readonly ParamGroupInput<H>[]);
    const seen = new Set<Tensor>();
    this.paramGroups = inputs.map((g, gi) => {
      for (const p of g.params) {
        if (seen.has(p))
          throw new Error(`${name}: parameter ${p.name ?? formatShape(p.shape)} appears in more than one group`);
        seen.add(p);
        if (p.dtype !== 'f32')
          throw new Error(
            `${name}: parameter ${p.name ?? `#${seen.size - 1}`} in group ${gi} is ${p.dtype}; trainable parameters must be f32 (keep frozen bf16/f16 weights out of the optimizer)`,
          );
      }
      const group = { ...defaults, ...stripUndefined(g), params: [...g.params] } as ParamGroup<H>;
      this.validate(group, gi);
      return group;
    });
  }

  /** Checks a group's hyperparameters; throws with the group index and the bad value. */
  protected abstract validate(group: ParamGroup<H>, index: number): void;

  /** Applies one update to every parameter that has a gradient. */
  abstract step(): void;

  /** Drops every gradient (frees its memory, as torch's zero_grad(set_to_none=True)); or fills them with 0. */
  zeroGrad({ setToNone = true }: { setToNone?: boolean } = {}): void {
    for (const g of this.paramGroups)
      for (const p of g.params) {
        if (!p.grad) continue;
        if (setToNone) {
          p.grad.dispose();
          p.grad = null;
        } else {
          p.grad.dispose();
          p.grad = keep(Tensor.zeros(p.shape));
        }
      }
  }

  /** Every parameter in group order (the indices a state dict uses). */
  get params(): Tensor[] {
    return this.paramGroups.flatMap((g) => g.params);
  }

  stateDict(): OptimizerStateDict {
    const index = new Map(this.params.map((p, i) => [p, i]));
    const state: OptimizerStateDict['state'] = {};
    for (const [p, s] of this.state) {
      const buffers: Record<string, Float32Array> = {};
      for (const [k, t] of Object.entries(s.buffers)) buffers[k] = t.toFloat32Array();
      state[index.get(p) as number] = { step: s.step, buffers };
    }
    let next = 0;
    const paramGroups = this.paramGroups.map(({ params, ...hyper }) => ({
      hyper: { ...(hyper as unknown as Record<string, number | boolean>) },
      params: params.map(() => next++),
    }));
    return { optimizer: this.name, paramGroups, state };
  }

  /** Restores a stateDict() of an optimizer built over the same parameters in the same groups. */
  loadStateDict(sd: OptimizerStateDict): void {
    if (sd.optimizer !== this.name)
      throw new Error(`loadStateDict: the checkpoint holds ${sd.optimizer} state, this optimizer is ${this.name}`);
    if (sd.paramGroups.length !== this.paramGroups.length)
      throw new Error(
        `loadStateDict: the checkpoint has ${sd.paramGroups.length} parameter groups, this optimizer ${this.paramGroups.length}; build the optimizer with the same groups`,
      );
    sd.paramGroups.forEach((g, i) => {
      const mine = this.paramGroups[i] as ParamGroup<H>;
      if (g.params.length !== mine.params.length)
        throw new Error(
          `loadStateDict: group ${i} has ${g.params.length} parameters in the checkpoint, ${mine.params.length} here`,
        );
    });
    const params = this.params;
    const restored = new Map<Tensor, ParamState>();
    for (const [key, s] of Object.entries(sd.state)) {
      const p = params[Number(key)];
      if (!p) throw new Error(`loadStateDict: state for parameter #${key}, but there are only ${params.length}`);
      const buffers: Record<string, Tensor> = {};
      for (const [k, data] of Object.entries(s.buffers)) {
        const shape = this.bufferShape(p, k, data.length);
        if (data.length !== shape.reduce((x, y) => x * y, 1))
          throw new Error(
            `loadStateDict: ${k} of parameter #${key} (${p.name ?? formatShape(p.shape)}) has ${data.length} values, the parameter ${p.numel}`,
          );
        buffers[k] = keep(Tensor.from(data, shape));
      }
      restored.set(p, { step: s.step, buffers });
    }
    this.disposeState();
    for (const [p, s] of restored) this.state.set(p, s);
    // Hyperparameters come from the checkpoint, as in torch (a scheduler then sets lr for the resumed step).
    sd.paramGroups.forEach((g, i) => {
      const group = this.paramGroups[i] as ParamGroup<H>;
      Object.assign(group, g.hyper);
      this.validate(group, i);
    });
  }

  /** p's step count and state buffers, if it has any yet (ZeRO-1 gathers them for a checkpoint). */
  stateOfParam(p: Tensor): Readonly<ParamState> | undefined {
    return this.state.get(p);
  }

  /** The shape a saved state buffer of p is restored with (p's own; GaLore's low-rank moments differ). */
  protected bufferShape(p: Tensor, _buffer: string, _length: number): readonly number[] {
    return p.shape;
  }

  /** Frees the state tensors (the optimizer starts afresh on its next step). */
  dispose(): void {
    this.disposeState();
  }

  /** The state of p, created (zero buffers, step 0) on first use. */
  protected stateOf(p: Tensor, bufferNames: readonly string[]): ParamState {
    let s = this.state.get(p);
    if (!s) {
      const buffers: Record<string, Tensor> = {};
      for (const k of bufferNames) buffers[k] = keep(Tensor.zeros(p.shape));
      s = { step: 0, buffers };
      this.state.set(p, s);
    }
    return s;
  }

  private disposeState(): void {
    for (const s of this.state.values()) for (const t of Object.values(s.buffers)) t.dispose();
    this.state.clear();
  }
}

export interface AdamWOptions {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
}

/** torch.optim.AdamW defaults. */
export const ADAMW_DEFAULTS: AdamWOptions = { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 1e-2 };

/** AdamW (decoupled weight decay, bias-corrected moments; amsgrad and maximize off), as torch.optim.AdamW. */
export class AdamW extends Optimizer<AdamWOptions> {
  constructor(params: readonly Tensor[] | readonly ParamGroupInput<AdamWOptions>[], opts: Partial<AdamWOptions> = {}) {
    super('AdamW', params, { ...ADAMW_DEFAULTS, ...stripUndefined(opts) });
  }

  protected validate(g: ParamGroup<AdamWOptions>, i: number): void {
    check(g.lr >= 0, `AdamW group ${i}: lr must be >= 0, got ${g.lr}`);
    check(g.eps >= 0, `AdamW group ${i}: eps must be >= 0, got ${g.eps}`);
    check(g.beta1 >= 0 && g.beta1 < 1, `AdamW group ${i}: beta1 must be in [0, 1), got ${g.beta1}`);
    check(g.beta2 >= 0 && g.beta2 < 1, `AdamW group ${i}: beta2 must be in [0, 1), got ${g.beta2}`);
    check(g.weightDecay >= 0, `AdamW group ${i}: weightDecay must be >= 0, got ${g.weightDecay}`);
  }

  step(): void {
    for (const group of this.paramGroups)
      for (const p of group.params) {
        if (!p.grad) continue;
        const s = this.stateOf(p, ['expAvg', 'expAvgSq']);
        s.step += 1;
        adamwStep_(p, p.grad, s.buffers.expAvg as Tensor, s.buffers.expAvgSq as Tensor, group, s.step);
      }
  }
}

export interface SgdOptions {
  lr: number;
  momentum: number;
  dampening: number;
  weightDecay: number;
  nesterov: boolean;
}

/** torch.optim.SGD defaults (lr has none there; 1e-3 here so a group may omit it). */
export const SGD_DEFAULTS: SgdOptions = { lr: 1e-3, momentum: 0, dampening: 0, weightDecay: 0, nesterov: false };

/** SGD with optional momentum, dampening, Nesterov momentum and (coupled) weight decay, as torch.optim.SGD. */
export class SGD extends Optimizer<SgdOptions> {
  constructor(params: readonly Tensor[] | readonly ParamGroupInput<SgdOptions>[], opts: Partial<SgdOptions> = {}) {
    super('SGD', params, { ...SGD_DEFAULTS, ...stripUndefined(opts) });
  }

  protected validate(g: ParamGroup<SgdOptions>, i: number): void {
    check(g.lr >= 0, `SGD group ${i}: lr must be >= 0, got ${g.lr}`);
    check(g.momentum >= 0, `SGD group ${i}: momentum must be >= 0, got ${g.momentum}`);
    check(g.weightDecay >= 0, `SGD group ${i}: weightDecay must be >= 0, got ${g.weightDecay}`);
    check(
      !g.nesterov || (g.momentum > 0 && g.dampening === 0),
      `SGD group ${i}: nesterov requires momentum > 0 and dampening = 0`,
    );
  }

  step(): void {
    for (const group of this.paramGroups)
      for (const p of group.params) {
        if (!p.grad) continue;
        const hyper: SgdHyper = group;
        const s = this.stateOf(p, group.momentum !== 0 ? ['momentumBuffer'] : []);
        s.step += 1;
        sgdStep_(p, p.grad, s.buffers.momentumBuffer ?? null, hyper, s.step === 1);
      }
  }
}

function isTensorList(v: readonly unknown[]): v is readonly Tensor[] {
  return v.every((x) => typeof x === 'object' && x !== null && (x as { isTensor?: unknown }).isTensor === true);
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([k, v]) => v !== undefined && k !== 'params')) as Partial<T>;
}

function check(ok: boolean, msg: string): void {
  if (!ok) throw new Error(msg);
}
