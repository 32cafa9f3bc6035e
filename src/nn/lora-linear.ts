/**
 * LoRA in PEFT's semantics: y = W x + b + scaling * B (A dropout(x)), A [r, in], B [out, r],
 * scaling = alpha / r (alpha / sqrt(r) with rsLoRA). The base layer stays frozen; only A and B train.
 * Children are named `lora_A` / `lora_B` so parameter paths match PEFT's saved keys
 * (`...q_proj.lora_A.weight`).
 *
 * DoRA (PEFT's use_dora): a trainable magnitude m [out] (`lora_magnitude_vector`) rescales each output row of the
 * adapted weight to m / ||W + s B A||_row, the norm taken without gradient as PEFT's DoraLinearLayer does:
 *   y = (m / n) ⊙ (W x + s B A x) + b,   n = ||W + s B A|| per row (detached)
 * with dropout: y = W x + b + ((m / n) ⊙ (W + s B A) - W) dropout(x). Merging stores (m / n) ⊙ (W + s B A).
 */
import {
  add,
  dropout,
  keep,
  linear,
  loraLinear,
  matmul,
  mul,
  noGrad,
  scale,
  scope,
  sub,
  sumLastDim,
  Tensor,
} from '../engine/index.js';
import type { Generator as RandomGenerator } from '../engine/random.js';
import { Linear } from './linear.js';
import { Module } from './module.js';

export interface LoraSettings {
  rank: number;
  /** alpha / r, or alpha / sqrt(r) with rsLoRA (PEFT's `scaling`). */
  scaling: number;
  dropout: number;
}

/** A frozen adapter kept beside the trainable one (PEFT's load_adapter(dir, name)): not a parameter, never saved. */
interface NamedFactors {
  a: Tensor;
  b: Tensor;
  scaling: number;
}

export class LoraLinear extends Module {
  /** When false the layer computes the base projection only (DPO's reference model reuses the base this way). */
  enabled = true;
  /** The adapter forward applies: 'default' (the trainable one) or a frozen named one; a name this layer lacks
   * means the base projection alone, as PEFT's set_adapter does for layers that adapter does not target. */
  activeAdapter = 'default';
  private readonly named = new Map<string, NamedFactors>();

  constructor(
    readonly base: Linear,
    readonly settings: LoraSettings,
    loraA: Tensor,
    loraB: Tensor,
    private readonly rng: RandomGenerator,
    magnitude?: Tensor,
  ) {
    super();
    const { rank } = settings;
    if (loraA.shape[0] !== rank || loraA.shape[1] !== base.inFeatures)
      throw new Error(`lora_A must be [${rank}, ${base.inFeatures}], got [${loraA.shape.join(', ')}]`);
    if (loraB.shape[0] !== base.outFeatures || loraB.shape[1] !== rank)
      throw new Error(`lora_B must be [${base.outFeatures}, ${rank}], got [${loraB.shape.join(', ')}]`);
    // Parameter paths: the base keeps `weight`/`bias` at this module's path, as in an unwrapped model (a quantized
    // weight is no parameter).
    if (!base.quantized) this.registerParameter('weight', base.weight);
    if (base.bias) this.registerParameter('bias', base.bias);
    this.registerModule('lora_A', new Linear(base.inFeatures, rank, loraA));
    this.registerModule('lora_B', new Linear(rank, base.outFeatures, loraB));
    if (magnitude) {
      if (base.quantized) throw new Error('DoRA over a quantized base weight is not implemented');
      if (magnitude.numel !== base.outFeatures)
        throw new Error(`lora_magnitude_vector must be [${base.outFeatures}], got [${magnitude.shape.join(', ')}]`);
      this.registerParameter('lora_magnitude_vector', magnitude);
    }
  }

  /** DoRA's magnitude vector m [out], or null for plain LoRA. */
  get magnitude(): Tensor | null {
    return this.parameter('lora_magnitude_vector') ?? null;
  }

  get scaling(): number {
    return this.settings.scaling;
  }

  get loraA(): Tensor {
    return (this.child('lora_A') as Linear).weight;
  }

  get loraB(): Tensor {
    return (this.child('lora_B') as Linear).weight;
  }

  /** Adds a frozen adapter under `name` (A [r, in], B [out, r]); the layer owns the tensors from now on. */
  addNamedAdapter(name: string, a: Tensor, b: Tensor, scaling: number): void {
    if (name === 'default') throw new Error("the adapter name 'default' is the trainable adapter's");
    if (this.named.has(name)) throw new Error(`this layer already has an adapter named ${name}`);
    const r = a.shape[0] as number;
    if (a.shape[1] !== this.base.inFeatures || b.shape[0] !== this.base.outFeatures || b.shape[1] !== r)
      throw new Error(
        `adapter ${name}: lora_A / lora_B are [${a.shape}] / [${b.shape}], expected [r, ${this.base.inFeatures}] / [${this.base.outFeatures}, r]`,
      );
    this.named.set(name, { a: keep(a), b: keep(b), scaling });
  }

  /** x [..., in] -> [..., out] */
  forward(x: Tensor): Tensor {
    if (!this.enabled) return this.base.forward(x);
    if (this.activeAdapter !== 'default') {
      const f = this.named.get(this.activeAdapter);
      if (!f) return this.base.forward(x);
      return this.adapted(x, f.a, f.b, f.scaling);
    }
    const p = this.training ? this.settings.dropout : 0;
    const dropped = p > 0 ? dropout(x, p, { generator: this.rng, training: true }) : undefined;
    const m = this.magnitude;
    if (m) return this.doraForward(x, m, dropped);
    return this.adapted(x, this.loraA, this.loraB, this.scaling, dropped);
  }

  /** DoRA: the adapted weight W + s B A [out, in] with each row rescaled to m / (its detached norm). */
  private doraWeight(m: Tensor): { weight: Tensor; base: Tensor } {
    const w = this.base.weight;
    const base = w.dtype === 'f32' ? w : w.to('f32');
    const adapted = add(base, scale(matmul(this.loraB, this.loraA), this.scaling));
    const norms = rowNorms(adapted);
    const [out, inp] = adapted.shape as [number, number];
    const rowScale = mul(
      m.reshape([out]),
      Tensor.from(
        norms.map((n) => 1 / n),
        [out],
      ),
    );
    const spread = matmul(rowScale.reshape([out, 1]), Tensor.from(new Float32Array(inp).fill(1), [1, inp]));
    return { weight: mul(spread, adapted), base };
  }

  private doraForward(x: Tensor, m: Tensor, dropped?: Tensor): Tensor {
    const { weight, base } = this.doraWeight(m);
    const bias = this.base.bias ?? undefined;
    if (!dropped) return linear(x, weight, bias);
    return add(linear(x, base, bias), linear(dropped, sub(weight, base)));
  }

  /** base(x) + s * B (A xd): one fused op over a tensor weight; over a quantized one (QLoRA) the quantized product
   * plus the low-rank path, each recorded on the tape. */
  private adapted(x: Tensor, a: Tensor, b: Tensor, s: number, dropped?: Tensor): Tensor {
    if (!this.base.quantized) return loraLinear(x, this.base.weight, this.base.bias, a, b, s, dropped);
    return add(this.base.forward(x), scale(linear(linear(dropped ?? x, a), b), s));
  }

  /** Names of the frozen adapters this layer holds. */
  namedAdapters(): string[] {
    return [...this.named.keys()];
  }

  protected override releaseBuffers(): void {
    this.base.dispose();
  }

  /** Frees the frozen named adapters (the model's dispose calls it: they are not parameters). */
  disposeNamedAdapters(): void {
    for (const f of this.named.values()) {
      f.a.dispose();
      f.b.dispose();
    }
    this.named.clear();
  }

  /** W += scaling * B @ A, in the base weight's dtype; returns the plain Linear to put back in the tree. */
  merge(): Linear {
    if (this.base.quantized)
      throw new Error(
        `cannot merge a LoRA adapter into a quantized (${this.base.quantized.type}) base: load the base unquantized to merge (lmforge export merges into a full-precision copy)`,
      );
    if (this.named.size > 0)
      throw new Error(
        `merging would leave the named adapters (${[...this.named.keys()].join(', ')}) on a changed base`,
      );
    const m = this.magnitude;
    if (m) {
      const w = this.base.weight;
      const stored = keep(scope(() => noGrad(() => this.doraWeight(m).weight.to(w.dtype))));
      stored.name = w.name;
      stored.requiresGrad = w.requiresGrad;
      w.dispose();
      this.base.replaceWeight(stored);
      m.dispose();
      this.loraA.dispose();
      this.loraB.dispose();
      return this.base;
    }
    noGrad(() => {
      const w = this.base.weight;
      const delta = matmul(this.loraB, this.loraA); // [out, r] @ [r, in]
      const w32 = w.dtype === 'f32' ? w : w.to('f32');
      const scaled = scale(delta, this.scaling);
      const merged = keep(add(w32, scaled));
      scaled.dispose();
      delta.dispose();
      if (w32 !== w) w32.dispose();
      const stored = w.dtype === 'f32' ? merged : keep(merged.to(w.dtype));
      if (stored !== merged) merged.dispose();
      stored.name = w.name;
      stored.requiresGrad = w.requiresGrad;
      w.dispose();
      this.base.replaceWeight(stored);
    });
    this.loraA.dispose();
    this.loraB.dispose();
    return this.base;
  }
}

/** ||row||_2 of a [out, in] matrix, without gradient: [out] values. */
export function rowNorms(w: Tensor): Float32Array {
  return scope(() => noGrad(() => sumLastDim(mul(w.detach(), w.detach())).toFloat32Array())).map(Math.sqrt);
}
