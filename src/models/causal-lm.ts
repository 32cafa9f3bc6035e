/**
 * The library's model: a Llama-family causal LM loaded from a HF checkpoint folder (or built with random weights),
 * with LoRA in PEFT's format, freeze/full training modes, saving, merging and generation.
 *
 *   const model = await loadModel(dir, { dtype: 'bf16', adapter: 'saves/lora' });
 *   const { logits, loss } = model.forward({ inputIds, attentionMask, labels });
 *   const { loss } = model.forward({ inputIds, attentionMask, labels, returnLogits: false }); // training: no logits
 */

import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  crossEntropy,
  type DType,
  fill_,
  Generator,
  kaimingUniform_,
  keep,
  linearCrossEntropy,
  matmul,
  native,
  noGrad,
  normal_,
  scale,
  scope,
  setThreads,
  shiftLabels,
  sumLastDim,
  Tensor,
  tokenLogProbs,
} from '../engine/index.js';
import { type GenerateOptions, type GenerateResult, generate } from '../infer/generate.js';
import { CheckpointReader, saveCheckpoint } from '../io/checkpoint.js';
import {
  expectedParameters,
  isIgnorableCheckpointTensor,
  type ModelConfig,
  readModelConfig,
} from '../io/model-config.js';
import { checkParameters, formatParameterReport } from '../io/param-check.js';
import {
  isTargetModule,
  LLAMA_LINEAR_MODULES,
  LoraAdapter,
  type LoraConfig,
  loraConfig,
  loraParamsFor,
  PEFT_PREFIX,
  saveLoraAdapter,
} from '../io/peft.js';
import { Linear } from '../nn/linear.js';
import { LoraLinear } from '../nn/lora-linear.js';
import type { Module } from '../nn/module.js';
import { type ForwardContext, LlamaForCausalLM, type WeightSource } from './llama.js';
import { type TokenBatch, toTokenTensor } from './token-batch.js';

export interface LoadModelOptions {
  /** Storage dtype of the (frozen) weight matrices: f32 (default), bf16 or f16. Norms stay f32. */
  dtype?: 'f32' | 'bf16' | 'f16';
  /**
   * PEFT adapter folder(s): all but the last are merged into the weights, the last stays a live adapter, frozen for
   * inference (PEFT's from_pretrained) unless `trainable`.
   */
  adapter?: string | readonly string[];
  /** Keep training the last adapter (PEFT's is_trainable=True); without it every weight is frozen. */
  trainable?: boolean;
  /** Native thread-pool size (default: physical cores). */
  threads?: number;
}

/** LoRA settings in LLaMA-Factory's terms (lora_rank, lora_alpha, lora_dropout, lora_target, additional_target). */
export interface AddLoraOptions {
  r: number;
  /** Default 2 * r (LLaMA-Factory's default lora_alpha). */
  alpha?: number;
  dropout?: number;
  /** Module names (q_proj, ...) or 'all' = every linear layer but the output head. */
  targetModules?: readonly string[] | 'all';
  /** Modules trained fully and saved with the adapter (embed_tokens, lm_head, norm...). */
  modulesToSave?: readonly string[];
  useRslora?: boolean;
  /** Seeds A's Kaiming-uniform init (B starts at zero, so the adapter starts as a no-op). */
  seed?: number;
}

/** LLaMA-Factory's freeze tuning: the last n (or, negative, the first n) layers' chosen modules train. */
export interface FreezeOptions {
  trainableLayers: number;
  /** 'all' or names of modules inside a layer (self_attn, mlp, ...). */
  trainableModules?: readonly string[] | 'all';
  /** Modules outside the layers that also train (embed_tokens, norm, lm_head). */
  extraModules?: readonly string[];
}

export interface ForwardInput {
  inputIds: TokenBatch;
  /** 1 = token, 0 = padding (keys at padding are masked for every query). */
  attentionMask?: TokenBatch;
  /** Default 0..T-1 in every row (HF's default). */
  positionIds?: TokenBatch;
  /** Token ids to predict, -100 = ignored; logits[:, t] predicts labels[:, t + 1] as in HF. */
  labels?: TokenBatch;
  /** Packed sequences: attention stays within one id. */
  segmentIds?: TokenBatch;
  /**
   * 'mean' (default, HF's loss) or 'sum' over the counted tokens: gradient accumulation divides the sum by the token
   * count of the whole accumulated batch instead of averaging per-micro-batch means.
   */
  lossReduction?: 'mean' | 'sum';
  /** HF's forward returns logits (the default); `false` with labels gives the loss alone (see LossOnlyInput). */
  returnLogits?: true;
}

/**
 * A training step's forward: the loss without [B, T, V] logits. The last hidden state goes through the fused
 * `linearCrossEntropy` with the LM head's weight (the embedding matrix when tied), which never holds the logits or
 * their gradient — at a 49k vocabulary that is 100 MB per 512 tokens each — and computes nothing for ignored labels.
 * The loss and every gradient equal the logits path's up to f32 rounding. A head carrying a live LoRA adapter falls
 * back to the logits path.
 */
export interface LossOnlyInput extends Omit<ForwardInput, 'labels' | 'returnLogits'> {
  labels: TokenBatch;
  returnLogits: false;
}

export interface ForwardOutput {
  /** [B, T, V] f32 */
  logits: Tensor;
  /** Mean cross-entropy over the counted labels (when labels were given). */
  loss?: Tensor;
}

export interface LossOutput {
  /** HF's shifted causal-LM loss, reduced per `lossReduction`. */
  loss: Tensor;
}

function parentAndName(path: string): [string, string] {
  const dot = path.lastIndexOf('.');
  return dot < 0 ? ['', path] : [path.slice(0, dot), path.slice(dot + 1)];
}

export class CausalLM {
  /** The active LoRA adapter's config, if any. */
  private lora: LoraConfig | null = null;
  /**
   * modules_to_save: trained parameter -> a frozen copy of its weights before the adapter (PEFT's original_module,
   * which disable_adapter() runs instead of the trained copy).
   */
  private readonly modulesToSaveOriginals = new Map<Tensor, Tensor>();
  /**
   * The stream every dropout of this model draws from (LoRA dropout, and its replay when gradient checkpointing
   * recomputes a layer). LoRA layers hold it by reference, so the trainer seeds it and checkpoints its state.
   */
  readonly rng: Generator;

  constructor(
    readonly config: ModelConfig,
    readonly module: LlamaForCausalLM,
    /** generation_config.json's fields, when the checkpoint has one. */
    readonly generationConfig: Record<string, unknown> = {},
  ) {
    this.rng = new Generator(0);
    module.model.rng = this.rng;
  }

  // ---- parameters ------------------------------------------------------------------------------------------------

  /** [name, tensor]: HF names for model weights, PEFT's saved keys (base_model.model.…lora_A.weight) for LoRA. */
  namedParameters(): [string, Tensor][] {
    return [...this.module.namedParameters()].map(([name, t]) => [
      /\.lora_[AB]\.weight$/.test(name) ? `${PEFT_PREFIX}${name}` : name,
      t,
    ]);
  }

  trainableParameters(): [string, Tensor][] {
    return this.namedParameters().filter(([, t]) => t.requiresGrad);
  }

  /** Trains every weight (full fine-tuning). Trainable weights must be f32. */
  setFullTraining(): void {
    for (const [name, t] of this.namedParameters()) {
      if (t.dtype !== 'f32')
        throw new Error(`${name} is stored as ${t.dtype}; full fine-tuning needs f32 weights (load with dtype 'f32')`);
      t.requiresGrad = true;
    }
  }

  /** Freezes every weight (inference). */
  freezeAll(): void {
    for (const [, t] of this.namedParameters()) t.requiresGrad = false;
  }

  /** LLaMA-Factory's freeze tuning. Returns the trainable name patterns. */
  setFreezeTraining(o: FreezeOptions): string[] {
    const n = this.config.numHiddenLayers;
    const k = o.trainableLayers;
    const ids = k > 0 ? range(Math.max(0, n - k), n) : range(0, Math.min(-k, n));
    const names = this.namedParameters().map(([name]) => name);
    const hidden = new Set(
      names.filter((s) => s.includes('.0.')).map((s) => (s.split('.0.')[1] as string).split('.')[0] as string),
    );
    const nonHidden = new Set(names.filter((s) => !/\.\d+\./.test(s)).map((s) => s.split('.').at(-2) as string));
    const patterns: string[] = [];
    const modules = o.trainableModules === undefined || o.trainableModules === 'all' ? ['all'] : o.trainableModules;
    for (const m of modules) {
      if (m !== 'all' && !hidden.has(m))
        throw new Error(`freeze_trainable_modules: module '${m}' is not found; choose from ${[...hidden].join(', ')}`);
      for (const i of ids) patterns.push(`.${i}.${m === 'all' ? '' : m}`);
    }
    for (const m of o.extraModules ?? []) {
      if (!nonHidden.has(m))
        throw new Error(`freeze_extra_modules: module '${m}' is not found; choose from ${[...nonHidden].join(', ')}`);
      patterns.push(m);
    }
    for (const [name, t] of this.namedParameters()) {
      const on = patterns.some((p) => name.includes(p));
      if (on && t.dtype !== 'f32') throw new Error(`${name} is stored as ${t.dtype}; trainable weights must be f32`);
      t.requiresGrad = on;
    }
    return patterns;
  }

  /**
   * Stores every frozen weight matrix as `dtype` (bf16/f16 halve the memory of the weights LoRA and freeze tuning do
   * not train; kernels widen them to f32 as they read). Trainable tensors stay f32.
   */
  castFrozen(dtype: 'bf16' | 'f16' | 'f32'): void {
    for (const [path, m] of this.module.namedModules()) {
      if (!(m instanceof Linear) || m.weight.requiresGrad || m.weight.dtype === dtype) continue;
      // A tied head shares the embedding matrix: the embedding converts it (below).
      if (path === 'lm_head' && this.config.tieWordEmbeddings) continue;
      const converted = keep(m.weight.to(dtype));
      converted.name = m.weight.name;
      m.weight.dispose();
      m.replaceWeight(converted);
    }
    const emb = this.module.model.embedTokens;
    if (!emb.weight.requiresGrad && emb.weight.dtype !== dtype) {
      const converted = keep(emb.weight.to(dtype));
      converted.name = emb.weight.name;
      emb.weight.dispose();
      emb.replaceWeight(converted);
      if (this.config.tieWordEmbeddings) (this.module.child('lm_head') as Linear).replaceWeight(converted);
    }
  }

  /**
   * Copies tensors by name (namedParameters() names) into the model's parameters, converting dtypes: resuming from a
   * checkpoint. Names not in the model are an error; parameters not given are left alone.
   */
  loadParameters(tensors: Iterable<[string, Tensor]>, source: string): number {
    const params = new Map(this.namedParameters());
    let count = 0;
    for (const [name, t] of tensors) {
      const target = params.get(name);
      if (!target) throw new Error(`${source}: ${name} is not a parameter of this model`);
      if (target.numel !== t.numel)
        throw new Error(`${source}: ${name} is [${t.shape}], the model's is [${target.shape}]`);
      copyInto(t, target);
      count++;
    }
    return count;
  }

  // ---- LoRA ------------------------------------------------------------------------------------------------------

  get adapterConfig(): LoraConfig | null {
    return this.lora;
  }

  /**
   * Adds a new trainable LoRA adapter (PEFT init: A Kaiming-uniform, B zero); freezes everything else. One adapter
   * trains at a time: with one already there (loaded or added) this stops and says how to go on.
   */
  addLora(o: AddLoraOptions): LoraConfig {
    if (this.lora) throw new Error(secondAdapterMessage(this.loraLayers().some(([, l]) => l.loraA.requiresGrad)));
    if (!(Number.isInteger(o.r) && o.r > 0)) throw new Error(`LoRA rank must be a positive integer, got ${o.r}`);
    const targets =
      o.targetModules === undefined ||
      o.targetModules === 'all' ||
      (o.targetModules.length === 1 && o.targetModules[0] === 'all')
        ? LLAMA_LINEAR_MODULES
        : [...o.targetModules];
    const cfg = loraConfig({
      r: o.r,
      loraAlpha: o.alpha ?? o.r * 2,
      loraDropout: o.dropout ?? 0,
      targetModules: targets,
      modulesToSave: o.modulesToSave && o.modulesToSave.length > 0 ? [...o.modulesToSave] : null,
      useRslora: o.useRslora ?? false,
      inferenceMode: false,
      baseModelNameOrPath: (this.config.raw._name_or_path as string | undefined) ?? null,
    });
    const gen = new Generator(o.seed ?? 42);
    this.freezeAll();
    const wrapped = this.wrapLinears(cfg, (base, rank) => {
      const a = keep(kaimingUniform_(Tensor.empty([rank, base.inFeatures]), gen, { a: Math.sqrt(5) }));
      const b = keep(Tensor.zeros([base.outFeatures, rank]));
      a.requiresGrad = b.requiresGrad = true;
      return [a, b];
    });
    if (wrapped === 0)
      throw new Error(
        `lora_target ${JSON.stringify(targets)} matches no linear layer (layers: ${LLAMA_LINEAR_MODULES.join(', ')})`,
      );
    this.keepModulesToSaveOriginals(cfg);
    this.enableModulesToSave(cfg);
    this.lora = cfg;
    return cfg;
  }

  /**
   * Loads a PEFT adapter folder. An adapter already present is merged into the weights first (LLaMA-Factory's rule
   * for several adapters). `trainable` keeps training it (resume); otherwise it is frozen.
   */
  loadAdapter(dir: string, { trainable = false }: { trainable?: boolean } = {}): LoraConfig {
    if (this.lora) this.mergeAdapter();
    const adapter = LoraAdapter.open(dir);
    try {
      const cfg = adapter.config;
      const modules = adapter.loraModules();
      this.freezeAll();
      const seen = new Set<string>();
      this.wrapLinears(cfg, (base, rank, path) => {
        const keys = modules.get(path);
        if (!keys)
          throw new Error(`${dir}: adapter_config.json targets ${path} but the weights have no lora_A/lora_B for it`);
        seen.add(path);
        const a = keep(adapter.load(keys.A, { dtype: 'f32' }));
        const b = keep(adapter.load(keys.B, { dtype: 'f32' }));
        if (
          a.shape[0] !== rank ||
          a.shape[1] !== base.inFeatures ||
          b.shape[0] !== base.outFeatures ||
          b.shape[1] !== rank
        )
          throw new Error(
            `${dir}: ${keys.A} / ${keys.B} have shapes [${a.shape}] / [${b.shape}], expected [${rank}, ${base.inFeatures}] / [${base.outFeatures}, ${rank}]`,
          );
        a.requiresGrad = trainable;
        b.requiresGrad = trainable;
        return [a, b];
      });
      for (const path of modules.keys())
        if (!seen.has(path))
          throw new Error(`${dir}: weights for ${path} do not match any targeted linear layer of this model`);
      this.keepModulesToSaveOriginals(cfg);
      for (const [saved, k] of adapter.keys) {
        if (k.kind === 'lora') continue;
        const name = k.kind === 'bias' ? `${k.module}.bias` : `${k.module}.${k.param}`;
        const target = this.module.parameter(name) ?? this.findParameter(name);
        if (!target) throw new Error(`${dir}: ${saved} has no matching parameter ${name} in this model`);
        const loaded = adapter.load(saved, { dtype: target.dtype });
        if (loaded.numel !== target.numel)
          throw new Error(`${dir}: ${saved} has shape [${loaded.shape}], the model's ${name} is [${target.shape}]`);
        copyInto(loaded, target);
        loaded.dispose();
        target.requiresGrad = trainable;
      }
      this.lora = cfg;
      return cfg;
    } finally {
      adapter.close();
    }
  }

  /** Writes adapter_config.json + adapter_model.safetensors in PEFT's format. */
  saveAdapter(dir: string): void {
    if (!this.lora) throw new Error('the model has no LoRA adapter to save (addLora() or loadAdapter() first)');
    const weights = new Map<string, Tensor>();
    for (const [path, m] of this.loraLayers()) {
      weights.set(`${PEFT_PREFIX}${path}.lora_A.weight`, m.loraA);
      weights.set(`${PEFT_PREFIX}${path}.lora_B.weight`, m.loraB);
    }
    for (const name of this.modulesToSaveParameters(this.lora))
      weights.set(`${PEFT_PREFIX}${name}`, this.findParameter(name) as Tensor);
    saveLoraAdapter(dir, { ...this.lora, inferenceMode: true }, weights);
  }

  /** W += scaling * B @ A for every adapted layer; the model is a plain model again. */
  mergeAdapter(): void {
    if (!this.lora) throw new Error('the model has no LoRA adapter to merge');
    for (const [path, m] of this.loraLayers()) {
      const [parentPath, name] = parentAndName(path);
      const merged = m.merge();
      merged.weight.requiresGrad = false;
      this.moduleAt(parentPath).replaceChild(name, merged);
    }
    // merged, the trained modules_to_save are the model's weights (PEFT's merge_and_unload)
    for (const original of this.modulesToSaveOriginals.values()) original.dispose();
    this.modulesToSaveOriginals.clear();
    this.lora = null;
  }

  /**
   * Runs fn as the model without its adapter (DPO's reference model without a second copy of the weights): every
   * LoRA layer switched off and the modules_to_save back on their original weights, as PEFT's disable_adapter().
   */
  withAdapterDisabled<T>(fn: () => T): T {
    const modules = [...this.module.namedModules()].map(([, m]) => m);
    const layers = this.loraLayers().map(([, l]) => l);
    // every slot holding a trained modules_to_save tensor (a tied head shares the embedding's; a LoraLinear's base)
    const swaps: [Module, string, Tensor][] = [];
    for (const m of [...modules, ...layers.map((l) => l.base)])
      for (const [name, t] of m.ownParameters()) if (this.modulesToSaveOriginals.has(t)) swaps.push([m, name, t]);
    for (const l of layers) l.enabled = false;
    for (const [m, name, t] of swaps) m.swapParameter(name, this.modulesToSaveOriginals.get(t) as Tensor);
    try {
      return fn();
    } finally {
      for (const [m, name, t] of swaps) m.swapParameter(name, t);
      for (const l of layers) l.enabled = true;
    }
  }

  /**
   * Loads a PEFT adapter folder as a frozen adapter named `name` beside the live one (PEFT's load_adapter(dir, name);
   * LLaMA-Factory's PPO keeps the reward model's LoRA this way). It is not a parameter: never trained, saved or
   * merged; `withAdapter(name, fn)` switches it in. Every module it targets must already carry the live LoRA
   * (train the policy with lora_target covering the other adapter's targets, e.g. all).
   */
  attachAdapter(name: string, dir: string): LoraConfig {
    if (!this.lora) throw new Error(`attaching adapter ${name} needs a live LoRA adapter (addLora() or loadAdapter())`);
    const layers = new Map(this.loraLayers());
    if ([...layers.values()].some((l) => l.namedAdapters().includes(name)))
      throw new Error(`the model already has an adapter named ${name}`);
    const adapter = LoraAdapter.open(dir);
    try {
      const cfg = adapter.config;
      for (const [saved, k] of adapter.keys)
        if (k.kind !== 'lora')
          throw new Error(
            `${dir}: ${saved} is a fully trained module (modules_to_save); a second adapter can only hold LoRA factors`,
          );
      for (const [path, keys] of adapter.loraModules()) {
        const layer = layers.get(path);
        if (!layer)
          throw new Error(
            `${dir}: the adapter targets ${path}, which the trained LoRA adapter does not; set lora_target to cover it (e.g. all)`,
          );
        const { r, scaling } = loraParamsFor(cfg, path);
        const a = adapter.load(keys.A, { dtype: 'f32' });
        const b = adapter.load(keys.B, { dtype: 'f32' });
        if (a.shape[0] !== r)
          throw new Error(`${dir}: ${keys.A} has rank ${a.shape[0]}, adapter_config.json says ${r}`);
        layer.addNamedAdapter(name, a, b, scaling);
      }
      return cfg;
    } finally {
      adapter.close();
    }
  }

  /** Runs fn with the named adapter (attachAdapter) in place of the live one, as PEFT's set_adapter(name). */
  withAdapter<T>(name: string, fn: () => T): T {
    const layers = this.loraLayers().map(([, l]) => l);
    if (!layers.some((l) => l.namedAdapters().includes(name)))
      throw new Error(`the model has no adapter named ${name}`);
    for (const l of layers) l.activeAdapter = name;
    try {
      return fn();
    } finally {
      for (const l of layers) l.activeAdapter = 'default';
    }
  }

  // ---- forward / generate ----------------------------------------------------------------------------------------

  /**
   * logits [B, T, V] for every position; loss when labels are given (HF's shifted causal-LM loss). With
   * `returnLogits: false` (and labels) only the loss, computed without logits (LossOnlyInput).
   */
  forward(input: LossOnlyInput): LossOutput;
  forward(input: ForwardInput): ForwardOutput;
  forward(input: ForwardInput | LossOnlyInput): ForwardOutput | LossOutput {
    if (input.returnLogits === false) return { loss: this.fusedLoss(input) };
    const { ids, ctx, b, t } = this.prepare(input);
    const logits = this.module.forward(ids, ctx);
    if (input.labels === undefined) return { logits };
    const shifted = this.shiftedLabels(input.labels, b, t);
    const loss = crossEntropy(logits.reshape([b * t, this.config.vocabSize]), shifted, {
      reduction: input.lossReduction ?? 'mean',
    });
    return { logits, loss };
  }

  /** The loss of LossOnlyInput: the last hidden state [B*T, C] and the head weight [V, C] into linearCrossEntropy. */
  private fusedLoss(input: LossOnlyInput): Tensor {
    const weight = this.fusableHeadWeight();
    const reduction = input.lossReduction ?? 'mean';
    if (!weight) {
      const { loss } = this.forward({ ...input, returnLogits: true });
      return loss as Tensor;
    }
    const { ids, ctx, b, t } = this.prepare(input);
    const shifted = this.shiftedLabels(input.labels, b, t);
    const hidden = this.module.model.forward(ids, ctx);
    // A tied head's weight is the embedding matrix itself: autograd adds this gradient to the lookup's.
    return linearCrossEntropy(hidden.reshape([b * t, this.config.hiddenSize]), weight, shifted, { reduction });
  }

  /**
   * Log-probs [B, T] of each next token (labels[:, t + 1]; 0 where that label is -100), recorded when the tape is on,
   * and each position's sum of logits over the vocabulary [B * T] (LLaMA-Factory's logits/* metrics), without
   * [B, T, V] logits when the head is a plain projection: the fused linear cross-entropy gives the log-probs, and
   * sum_v h . W[v] = h . (sum_v W[v]) gives the sums. DPO, KTO and the like need nothing else from the logits.
   */
  labelLogProbs(input: ForwardInput & { labels: TokenBatch }): { logProbs: Tensor; logitSums: Float32Array } {
    const weight = this.fusableHeadWeight();
    const { ids, ctx, b, t } = this.prepare(input);
    const shifted = this.shiftedLabels(input.labels, b, t);
    const { hiddenSize: c, vocabSize: v } = this.config;
    if (!weight) {
      const logits = this.module.forward(ids, ctx).reshape([b * t, v]);
      const logitSums = noGrad(() => scope(() => sumLastDim(logits.detach()).toFloat32Array()));
      return { logProbs: tokenLogProbs(logits, shifted).reshape([b, t]), logitSums };
    }
    const hidden = this.module.model.forward(ids, ctx).reshape([b * t, c]);
    const logitSums = noGrad(() =>
      scope(() => {
        const weightSum = matmul(Tensor.from(new Float32Array(v).fill(1), [1, v]), weight); // [1, C]
        return matmul(hidden.detach(), weightSum, { transB: true }).toFloat32Array(); // [B * T, 1]
      }),
    );
    const nll = linearCrossEntropy(hidden, weight, shifted, { reduction: 'none' });
    return { logProbs: scale(nll, -1).reshape([b, t]), logitSums };
  }

  /** The head's weight when the head is a plain bias-free projection (a live LoRA head needs the logits path). */
  private fusableHeadWeight(): Tensor | null {
    const head = this.module.child('lm_head');
    const linear = head instanceof LoraLinear ? (head.enabled ? null : head.base) : head;
    return linear instanceof Linear && !linear.bias ? linear.weight : null;
  }

  /** labels [B, T] -> HF's shifted labels [B*T] (labels[:, t + 1]; -100 at each row's end). */
  private shiftedLabels(labels: TokenBatch, b: number, t: number): Tensor {
    const y = toTokenTensor(labels, 'labels');
    if (y.shape[0] !== b || y.shape[1] !== t) throw new Error(`labels is [${y.shape}], inputIds is [${b}, ${t}]`);
    return shiftLabels(y).reshape([b * t]);
  }

  /**
   * The last hidden state [B, T, C] (after the final norm, before the LM head): embeddings, and scoring that needs
   * the head at a few positions only.
   */
  hiddenStates(input: Omit<ForwardInput, 'labels' | 'lossReduction' | 'returnLogits'>): Tensor {
    const { ids, ctx } = this.prepare(input);
    return this.module.model.forward(ids, ctx);
  }

  /** hidden [..., C] -> logits [..., V]. */
  head(hidden: Tensor): Tensor {
    return this.module.head(hidden);
  }

  /** Token tensors and the forward context shared by every layer (checked shapes, default positions, RoPE). */
  private prepare(input: Omit<ForwardInput, 'labels' | 'lossReduction' | 'returnLogits'>): {
    ids: Tensor;
    ctx: ForwardContext;
    b: number;
    t: number;
  } {
    // Token tensors made here are saved by the backward (embedding, attention masks, labels): like every
    // activation they belong to the caller's scope.
    const asTensor = (x: TokenBatch | undefined, what: string): Tensor | undefined =>
      x === undefined ? undefined : toTokenTensor(x, what);
    const ids = asTensor(input.inputIds, 'inputIds') as Tensor;
    const [b, t] = ids.shape as [number, number];
    const same = (x: Tensor | undefined, what: string) => {
      if (x && (x.shape[0] !== b || x.shape[1] !== t))
        throw new Error(`${what} is [${x.shape}], inputIds is [${b}, ${t}]`);
      return x;
    };
    const keyMask = same(asTensor(input.attentionMask, 'attentionMask'), 'attentionMask');
    const segmentIds = same(asTensor(input.segmentIds, 'segmentIds'), 'segmentIds');
    let positionIds = same(asTensor(input.positionIds, 'positionIds'), 'positionIds');
    let maxPosition = t - 1;
    if (!positionIds) {
      const pos = new Int32Array(b * t);
      for (let r = 0; r < b; r++) for (let j = 0; j < t; j++) pos[r * t + j] = j;
      positionIds = Tensor.from(pos, [b, t], 'i32');
    } else {
      // A loop, not Math.max(...): spreading a long batch's positions would overflow the call stack.
      maxPosition = positionIds.toInt32Array().reduce((m, p) => (p > m ? p : m), 0);
    }
    const rope = this.module.model.ropeFrequencies(maxPosition);
    const ctx: ForwardContext = { positionIds, rope };
    if (keyMask) ctx.keyMask = keyMask;
    if (segmentIds) ctx.segmentIds = segmentIds;
    return { ids, ctx, b, t };
  }

  /**
   * Generates from one prompt (number[] -> prompt + new tokens) or a batch (number[][] -> each prompt + its new
   * tokens), like HF's generate. Stops at `stop` ids (default: generation_config's eos_token_id).
   */
  generate(prompt: readonly number[], options?: GenerateOptions): number[];
  generate(prompts: readonly (readonly number[])[], options?: GenerateOptions): number[][];
  generate(
    prompts: readonly number[] | readonly (readonly number[])[],
    options: GenerateOptions = {},
  ): number[] | number[][] {
    const single = prompts.length > 0 && typeof prompts[0] === 'number';
    const batch = (single ? [prompts as readonly number[]] : prompts) as readonly (readonly number[])[];
    const result = this.generateDetailed(batch, options);
    const full = batch.map((p, i) => [...p, ...(result.tokens[i] as number[])]);
    return single ? (full[0] as number[]) : full;
  }

  /** New tokens and finish reasons per row. */
  generateDetailed(prompts: readonly (readonly number[])[], options: GenerateOptions = {}): GenerateResult {
    const stop = options.stop ?? this.defaultStopIds();
    const pad = options.padTokenId ?? this.config.padTokenId ?? stop[0] ?? 0;
    const wasTraining = this.module.training;
    this.module.eval();
    try {
      return generate(this.module, prompts, { ...options, stop, padTokenId: pad });
    } finally {
      this.module.train(wasTraining);
    }
  }

  defaultStopIds(): number[] {
    const g = this.generationConfig.eos_token_id;
    if (typeof g === 'number') return [g];
    if (Array.isArray(g)) return g.filter((x): x is number => typeof x === 'number');
    return [...this.config.eosTokenIds];
  }

  // ---- saving ----------------------------------------------------------------------------------------------------

  /** Saves an HF checkpoint folder (config.json + safetensors, sharded by maxShardSize). */
  save(dir: string, options: { dtype?: DType; maxShardSize?: number | string } = {}): void {
    if (this.lora)
      throw new Error(
        'the model has an unmerged LoRA adapter: mergeAdapter() first, or saveAdapter() to save the adapter alone',
      );
    const tensors = this.namedParameters();
    saveCheckpoint(dir, tensors, {
      ...options,
      config: this.config,
      generationConfig: Object.keys(this.generationConfig).length ? (this.generationConfig as never) : undefined,
    });
  }

  train(on = true): this {
    this.module.train(on);
    return this;
  }

  eval(): this {
    return this.train(false);
  }

  set gradientCheckpointing(on: boolean) {
    this.module.model.gradientCheckpointing = on;
  }

  get gradientCheckpointing(): boolean {
    return this.module.model.gradientCheckpointing;
  }

  /** Frees every weight and gradient. */
  dispose(): void {
    for (const [, m] of this.loraLayers()) m.disposeNamedAdapters();
    this.module.dispose();
    for (const original of this.modulesToSaveOriginals.values()) original.dispose();
    this.modulesToSaveOriginals.clear();
  }

  // ---- internals -------------------------------------------------------------------------------------------------

  private moduleAt(path: string): Module {
    if (path === '') return this.module;
    for (const [p, m] of this.module.namedModules()) if (p === path) return m;
    throw new Error(`no module at ${path}`);
  }

  private findParameter(name: string): Tensor | undefined {
    for (const [n, t] of this.module.namedParameters()) if (n === name) return t;
    return undefined;
  }

  /** Wraps every targeted Linear (not the output head) in a LoraLinear; returns how many. */
  private wrapLinears(
    cfg: LoraConfig,
    factors: (base: Linear, rank: number, path: string) => [Tensor, Tensor],
  ): number {
    let count = 0;
    for (const [path, m] of [...this.module.namedModules()]) {
      if (!(m instanceof Linear) || path === 'lm_head' || path.endsWith('.lora_A') || path.endsWith('.lora_B'))
        continue;
      if (!isTargetModule(cfg, path)) continue;
      const { r, scaling } = loraParamsFor(cfg, path);
      const [a, b] = factors(m, r, path);
      const [parentPath, name] = parentAndName(path);
      this.moduleAt(parentPath).replaceChild(
        name,
        new LoraLinear(m, { rank: r, scaling, dropout: cfg.loraDropout }, a, b, this.rng),
      );
      count++;
    }
    return count;
  }

  private modulesToSaveParameters(cfg: LoraConfig): string[] {
    const list = cfg.modulesToSave ?? [];
    return [...this.module.namedParameters()]
      .map(([n]) => n)
      .filter((n) => {
        const mod = n.slice(0, n.lastIndexOf('.'));
        return list.some((m) => mod === m || mod.endsWith(`.${m}`));
      });
  }

  /** [path, layer] of every LoRA-wrapped linear layer, in module order (a list: merging replaces them in the tree). */
  private loraLayers(): [string, LoraLinear][] {
    return [...this.module.namedModules()].filter((e): e is [string, LoraLinear] => e[1] instanceof LoraLinear);
  }

  /** Copies the weights of the modules_to_save before the adapter trains or overwrites them. */
  private keepModulesToSaveOriginals(cfg: LoraConfig): void {
    for (const name of this.modulesToSaveParameters(cfg)) {
      const t = this.findParameter(name) as Tensor;
      if (this.modulesToSaveOriginals.has(t)) continue;
      const original = keep(t.to(t.dtype));
      original.name = t.name;
      this.modulesToSaveOriginals.set(t, original);
    }
  }

  /** modules_to_save train fully: their weights must be f32 and trainable. */
  private enableModulesToSave(cfg: LoraConfig): void {
    for (const name of this.modulesToSaveParameters(cfg)) {
      const t = this.findParameter(name) as Tensor;
      if (t.dtype !== 'f32')
        throw new Error(`additional_target ${name} is stored as ${t.dtype}; trainable weights must be f32`);
      t.requiresGrad = true;
    }
  }
}

/**
 * PEFT keeps a second adapter under its own name beside 'default' and trains only the active one; lmforge holds one
 * live adapter, so the two ways on are PEFT's other two: train the one there, or merge it and start a new one
 * (LLaMA-Factory's create_new_adapter).
 */
function secondAdapterMessage(trainable: boolean): string {
  const from = trainable ? 'a trainable LoRA adapter' : 'a frozen LoRA adapter (loaded for inference)';
  return (
    `addLora: the model already has ${from}, and lmforge trains one adapter at a time. ` +
    'To keep training it, load it with loadModel(dir, { adapter, trainable: true }) or loadAdapter(dir, { trainable: true }); ' +
    'to train a new adapter on top of it, call mergeAdapter() first, then addLora()'
  );
}

function range(a: number, b: number): number[] {
  return Array.from({ length: Math.max(0, b - a) }, (_, i) => a + i);
}

/** Copies src's values into dst's storage (same number of values; converted to dst's dtype). */
function copyInto(src: Tensor, dst: Tensor): void {
  const converted = src.dtype === dst.dtype ? src : src.to(dst.dtype);
  native.copy(converted.handle, 0, dst.handle, 0, dst.byteLength);
  if (converted !== src) converted.dispose();
}

// ---- construction ------------------------------------------------------------------------------------------------

/** Loads a HF checkpoint folder (config.json + safetensors), optionally with PEFT adapters. */
export async function loadModel(dir: string, options: LoadModelOptions = {}): Promise<CausalLM> {
  if (options.threads !== undefined) setThreads(options.threads);
  const config = readModelConfig(dir);
  const reader = CheckpointReader.open(dir);
  try {
    const expected = expectedParameters(config);
    const report = checkParameters(expected, reader.shapes(), (n) => isIgnorableCheckpointTensor(n, config));
    if (!report.ok) throw new Error(formatParameterReport(report, dir));
    const storage = options.dtype ?? 'f32';
    const weights: WeightSource = (name, shape) => {
      const isMatrix = shape.length === 2;
      const t = keep(reader.load(name, { dtype: isMatrix ? storage : 'f32' }));
      t.name = name;
      if (t.shape.some((d, i) => d !== shape[i]))
        throw new Error(`${dir}: ${name} is [${t.shape}], expected [${shape}]`);
      return t;
    };
    const module = new LlamaForCausalLM(config, weights);
    const genPath = join(dir, 'generation_config.json');
    const generationConfig = existsSync(genPath)
      ? (JSON.parse(readFileSync(genPath, 'utf8')) as Record<string, unknown>)
      : {};
    const model = new CausalLM(config, module, generationConfig);
    const adapters =
      options.adapter === undefined ? [] : typeof options.adapter === 'string' ? [options.adapter] : options.adapter;
    for (const [i, a] of adapters.entries())
      model.loadAdapter(a, { trainable: options.trainable === true && i === adapters.length - 1 });
    return model;
  } finally {
    reader.close();
  }
}

/** A model with random weights (HF's init: matrices ~ N(0, initializer_range), norms 1), for tests and benchmarks. */
export function createModel(
  config: ModelConfig,
  { seed = 0, std, dtype = 'f32' }: { seed?: number; std?: number; dtype?: 'f32' | 'bf16' | 'f16' } = {},
): CausalLM {
  const gen = new Generator(seed);
  const sigma = std ?? (config.raw.initializer_range as number | undefined) ?? 0.02;
  const weights: WeightSource = (name, shape) => {
    const t = Tensor.empty(shape);
    if (shape.length === 1) fill_(t, name.endsWith('.bias') ? 0 : 1);
    else normal_(t, gen, 0, sigma);
    const stored = dtype !== 'f32' && shape.length === 2 ? t.to(dtype) : t;
    if (stored !== t) t.dispose();
    stored.name = name;
    return keep(stored);
  };
  return new CausalLM(config, new LlamaForCausalLM(config, weights));
}
