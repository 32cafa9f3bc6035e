/**
 * The library's model: a causal LM of a registered family, loaded from an HF checkpoint folder (loading.ts) or built
 * with random weights, composing parameters, training modes, LoRA adapters, the forward and loss paths, saving and
 * generation, each from its own module.
 *
 *   const model = await loadModel(dir, { dtype: 'bf16', adapter: 'saves/lora' });
 *   const { logits, loss } = model.forward({ inputIds, attentionMask, labels });
 *   const { loss } = model.forward({ inputIds, attentionMask, labels, returnLogits: false }); // training: no logits
 */
import { Generator, type QuantizedMatrix, type Tensor } from '../engine/index.js';
import { type GenerateOptions, type GenerateResult, generate } from '../infer/generate.js';
import { bnbQuantizationConfig, bnbWeightTensors } from '../io/bnb-checkpoint.js';
import type { ModelConfig } from '../io/model-config.js';
import type { LoraConfig } from '../io/peft.js';
import { Adapters, type AddLoraOptions } from './adapters.js';
import { type CausalLMModule, paddingRowOf } from './family.js';
import {
  type ForwardInput,
  type ForwardOutput,
  forward,
  hiddenStates,
  type LossOnlyInput,
  type LossOutput,
  labelLogProbs,
  type PassInput,
} from './forward.js';
import { castFrozen, loadParameters, namedParameters } from './parameters.js';
import { quantizationSummary, quantizedWeights } from './quantization.js';
import { type SaveModelOptions, saveModel } from './saving.js';
import type { TokenBatch } from './token-batch.js';
import { type FreezeOptions, freezeAll, setFreezeTraining, setFullTraining } from './training-modes.js';

/** Where a model came from: saving copies its tokenizer files, adapters record its name as PEFT's base. */
export interface ModelOrigin {
  /** The folder it was loaded from (its tokenizer files are saved with it). */
  readonly dir: string | null;
  /** Its name or path as given to loadModel (PEFT's base_model_name_or_path). */
  readonly nameOrPath: string | null;
}

export class CausalLM {
  /**
   * The stream every dropout of this model draws from (LoRA dropout, and its replay when gradient checkpointing
   * recomputes a layer). LoRA layers hold it by reference, so the trainer seeds it and checkpoints its state.
   */
  readonly rng: Generator;
  private readonly adapters: Adapters;

  constructor(
    readonly config: ModelConfig,
    readonly module: CausalLMModule,
    /** generation_config.json's fields, when the checkpoint has one. */
    readonly generationConfig: Record<string, unknown> = {},
    readonly origin: ModelOrigin = {
      dir: null,
      nameOrPath: (config.raw._name_or_path as string | undefined) ?? null,
    },
  ) {
    this.rng = new Generator(0);
    module.model.rng = this.rng;
    this.adapters = new Adapters(module, this.rng, origin.nameOrPath);
  }

  // ---- parameters and training modes ------------------------------------------------------------------------------

  /** [name, tensor]: HF names for model weights, PEFT's saved keys (base_model.model.…lora_A.weight) for LoRA. */
  namedParameters(): [string, Tensor][] {
    return namedParameters(this.module);
  }

  trainableParameters(): [string, Tensor][] {
    return this.namedParameters().filter(([, t]) => t.requiresGrad);
  }

  /** Trains every weight (full fine-tuning). Trainable weights must be f32. */
  setFullTraining(): void {
    this.refuseQuantized('full fine-tuning');
    setFullTraining(this.module);
  }

  /** NEFTune (neftune_noise_alpha): noise on the input embeddings while training, drawn from the model's stream. */
  setNeftune(alpha: number | null): void {
    this.module.model.embedTokens.neftune = alpha === null ? null : { alpha, rng: this.rng };
  }

  /** Freezes every weight (inference). */
  freezeAll(): void {
    freezeAll(this.module);
  }

  /** LLaMA-Factory's freeze tuning. Returns the trainable name patterns. */
  setFreezeTraining(o: FreezeOptions): string[] {
    this.refuseQuantized('freeze tuning');
    return setFreezeTraining(this.module, this.config, o);
  }

  /** [path, matrix] of every quantized projection (LoRA-wrapped ones included). */
  quantizedWeights(): [string, QuantizedMatrix][] {
    return quantizedWeights(this.module);
  }

  /** The quantization of the base ('nf4', 'fp4', 'int8'), or null for a full-precision model. */
  get quantization(): QuantizedMatrix['type'] | null {
    return this.quantizedWeights()[0]?.[1].type ?? null;
  }

  /** One line on the quantized base: format, projections, bytes per weight. */
  quantizationSummary(): string {
    return quantizationSummary(this.quantizedWeights());
  }

  /** Values of every weight, quantized ones included (the "all params" count). */
  parameterCount(): number {
    let n = 0;
    for (const [, t] of this.namedParameters()) n += t.numel;
    for (const [, q] of this.quantizedWeights()) n += q.rows * q.cols;
    return n;
  }

  /** A quantized base trains only through LoRA (LLaMA-Factory's rule; its weights cannot take gradients). */
  private refuseQuantized(what: string): void {
    if (this.quantization)
      throw new Error(`${what} cannot train a quantized (${this.quantization}) base: use LoRA (finetuning_type: lora)`);
  }

  /** Stores every frozen weight matrix as `dtype`; trainable tensors stay f32. */
  castFrozen(dtype: 'bf16' | 'f16' | 'f32'): void {
    castFrozen(this.module, this.config, dtype);
  }

  /** Copies tensors by namedParameters() name into the model's parameters (resume); returns how many. */
  loadParameters(tensors: Iterable<[string, Tensor]>, source: string): number {
    return loadParameters(this.module, tensors, source);
  }

  // ---- LoRA ------------------------------------------------------------------------------------------------------

  get adapterConfig(): LoraConfig | null {
    return this.adapters.config;
  }

  /** Adds a new trainable LoRA adapter (PEFT init: A Kaiming-uniform, B zero); freezes everything else. */
  addLora(o: AddLoraOptions): LoraConfig {
    return this.adapters.add(o);
  }

  /** Loads a PEFT adapter folder (an adapter already present is merged first); `trainable` keeps training it. */
  loadAdapter(dir: string, options: { trainable?: boolean } = {}): LoraConfig {
    return this.adapters.load(dir, options);
  }

  /** Writes adapter_config.json + adapter_model.safetensors in PEFT's format. */
  saveAdapter(dir: string): void {
    this.adapters.save(dir);
  }

  /** pissa_convert's folders: the starting PiSSA adapter, or the trained one as a LoRA for the original base. */
  savePissaAdapter(dir: string, which: 'initial' | 'converted'): void {
    this.adapters.savePissa(dir, which);
  }

  /** W += scaling * B @ A for every adapted layer; the model is a plain model again. */
  mergeAdapter(): void {
    this.adapters.merge();
  }

  /** Runs fn as the model without its adapter (PEFT's disable_adapter(); DPO's reference model). */
  withAdapterDisabled<T>(fn: () => T): T {
    return this.adapters.withDisabled(fn);
  }

  /** Loads a PEFT adapter folder as a frozen adapter named `name` beside the live one (PEFT's load_adapter). */
  attachAdapter(name: string, dir: string): LoraConfig {
    return this.adapters.attach(name, dir);
  }

  /** Runs fn with the named adapter in place of the live one, as PEFT's set_adapter(name). */
  withAdapter<T>(name: string, fn: () => T): T {
    return this.adapters.withNamed(name, fn);
  }

  // ---- forward / generate ----------------------------------------------------------------------------------------

  /**
   * logits [B, T, V] for every position; loss when labels are given (HF's shifted causal-LM loss). With
   * `returnLogits: false` (and labels) only the loss, computed without logits (LossOnlyInput).
   */
  forward(input: LossOnlyInput): LossOutput;
  forward(input: ForwardInput): ForwardOutput;
  forward(input: ForwardInput | LossOnlyInput): ForwardOutput | LossOutput {
    return forward(this.module, input);
  }

  /** Log-probs [B, T] of each next token and each position's logit sum, without [B, T, V] logits when it can. */
  labelLogProbs(input: ForwardInput & { labels: TokenBatch }): { logProbs: Tensor; logitSums: Float32Array } {
    return labelLogProbs(this.module, input);
  }

  /** The last hidden state [B, T, C] (after the final norm, before the LM head). */
  hiddenStates(input: PassInput): Tensor {
    return hiddenStates(this.module, input);
  }

  /** hidden [..., C] -> logits [..., V]. */
  head(hidden: Tensor): Tensor {
    return this.module.head(hidden);
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
    // Left padding is masked: any row of the vocabulary fills it, never an id past its end (Phi-3's eos 32000 too).
    const eos = stop[0] !== undefined && stop[0] >= 0 && stop[0] < this.config.vocabSize ? stop[0] : undefined;
    const pad = options.padTokenId ?? paddingRowOf(this.config) ?? eos ?? 0;
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

  // ---- saving and state ------------------------------------------------------------------------------------------

  /**
   * Saves an HF checkpoint folder: config.json, generation_config.json, safetensors (sharded by maxShardSize) and
   * the tokenizer files of the folder the model was loaded from.
   */
  save(dir: string, options: SaveModelOptions = {}): void {
    if (this.adapterConfig)
      throw new Error(
        'the model has an unmerged LoRA adapter: mergeAdapter() first, or saveAdapter() to save the adapter alone',
      );
    const { generationConfig } = this;
    const quantized = this.quantizedWeights();
    if (quantized.length === 0) {
      saveModel(
        dir,
        this.namedParameters(),
        { config: this.config, generationConfig, sourceDir: this.origin.dir },
        options,
      );
      return;
    }
    // A quantized base saves as bitsandbytes does (a `*-bnb-4bit` folder Transformers and lmforge load quantized).
    const parts = quantized.map(([name, q]) => [name, q.parts()] as const);
    const tensors = [...this.namedParameters(), ...parts.flatMap(([name, p]) => bnbWeightTensors(name, p))];
    const config = {
      ...this.config,
      raw: { ...this.config.raw, quantization_config: bnbQuantizationConfig((parts[0] as (typeof parts)[number])[1]) },
    };
    saveModel(dir, tensors, { config, generationConfig, sourceDir: this.origin.dir }, options);
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
    this.adapters.dispose();
    this.module.dispose();
  }
}
