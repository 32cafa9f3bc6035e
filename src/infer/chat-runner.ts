/**
 * The model side of ChatModel: a CausalLM + tokenizer + template and the jobs run on them (chat and raw
 * generation with streamed pieces, embeddings, A/B/C/D logits). It runs wherever the model lives — in a worker
 * thread (chat-worker.ts) or in-process — and knows nothing about threads: a job reports pieces through a
 * callback and reads a shared control word to stop early. Semantics are LLaMA-Factory's HuggingfaceEngine:
 * prompt = encode_oneturn(messages + an empty assistant turn) prompt ids, stop ids = the template's, greedy when
 * do_sample is off or the temperature is 0, n choices as n rows of one batch.
 */
import { getTemplate } from '../data/template/index.js';
import type { Template } from '../data/template/template.js';
import { noGrad, scope, Tensor } from '../engine/index.js';
import type { GeneratingArgs } from '../hparams/generating-args.js';
import { isModelSource, readSourceConfig } from '../io/model-source.js';
import { type CausalLM, loadModel, type QuantizationOptions } from '../models/causal-lm.js';
import { paddedVocabSize } from '../models/resize-vocab.js';
import { kvBudgetBlocks, Scheduler } from '../serve/scheduler.js';
import { Tokenizer } from '../tokenizer/tokenizer.js';
import { maxOf } from '../util/arrays.js';
import { pythonJsonText } from '../util/python-json.js';
import {
  abortError,
  type EmbeddingResult,
  type GenerationFinish,
  type GenerationOptions,
  type GenerationResult,
  type Message,
  type StreamPiece,
  type ToolCall,
  type ToolDefinition,
} from './chat-engine.js';
import { checkInputLength, type InputName, newTokenBudget, resolveMaxModelLen } from './context-limit.js';
import { IncrementalDecoder } from './incremental-decoder.js';
import { RequestProcessing } from './logit-processors.js';
import type { TokenLogprob } from './logprobs.js';
import { OnDemandScheduler } from './on-demand-scheduler.js';
import { StopStringFilter } from './stop-strings.js';

/** LLaMA-Factory's model/data/generating arguments that an inference engine reads (same names). */
export interface ChatModelArgs {
  model_name_or_path: string;
  adapter_name_or_path?: readonly string[] | null;
  template?: string | null;
  default_system?: string | null;
  enable_thinking?: boolean | null;
  tool_format?: string | null;
  /** Storage dtype of the weight matrices ('auto' = float32 on this CPU engine; compute is always f32). */
  infer_dtype?: 'auto' | 'float16' | 'bfloat16' | 'float32';
  /** Decoding defaults a request can override (GeneratingArguments). */
  generating?: Partial<GeneratingArgs>;
  /** Native thread-pool size (default: physical cores). */
  threads?: number;
  /** On-the-fly quantization of the base (quantization_bit 4/8, as bitsandbytes; see LoadModelOptions). */
  quantization?: QuantizationOptions;
  /** Prompt + new tokens at most (vLLM's max_model_len); default the config's max_position_embeddings. */
  max_model_len?: number | null;
  /**
   * LLaMA-Factory's vocabulary growth, given again at inference for an adapter trained with it: the tokens are added
   * and the base's embedding grown (to a multiple of 64) so the adapter's resized embedding fits.
   */
  resize_vocab?: boolean;
  add_tokens?: readonly string[] | null;
  add_special_tokens?: readonly string[] | null;
  /**
   * Continuous batching (src/serve/scheduler.ts): generation requests share decode steps over a paged KV cache
   * instead of running one at a time. `lmforge api` sets it; unset = one request at a time through a scheduler
   * sized to it (on-demand-scheduler.ts), or generate() for a family without paged attention.
   */
  serving?: ServingArgs | null;
}

/** The scheduler's budget (`lmforge api --kv_budget`, `--max_num_batched_tokens`, `--max_concurrent`). */
export interface ServingArgs {
  /** KV cache bytes (API_KV_BUDGET), allocated when the model loads; default DEFAULT_KV_BUDGET. */
  kvBudgetBytes?: number;
  /** Tokens per step, decode and prefill chunks together (vLLM's max_num_batched_tokens; default 256). */
  tokenBudget?: number;
  /** Sequences decoded together at most (default 64). */
  maxRunning?: number;
  /** Reuse the KV blocks of shared prompt prefixes (default true). */
  prefixCaching?: boolean;
}

/** 512 MiB of f32 keys and values: ~11k positions of SmolLM2-135M. */
export const DEFAULT_KV_BUDGET = 512 * 1024 * 1024;

export class ChatModelError extends Error {
  readonly userFacing = true;
}

/** Control word values shared with the caller (an Int32Array over a SharedArrayBuffer in worker mode). */
export const CONTROL_RUN = 0;
export const CONTROL_STOP = 1;
export const CONTROL_ABORT = 2;

export type GenerateJob =
  | { kind: 'chat'; messages: readonly Message[]; opts: GenerationOptions }
  | { kind: 'complete'; prompt: string; opts: GenerationOptions };

/** Called for every piece of row `row`'s text as it becomes stable. */
export type PieceSink = (row: number, piece: StreamPiece) => void;

const GENERATING_DEFAULTS: GeneratingArgs = {
  do_sample: true,
  temperature: 0.95,
  top_p: 0.7,
  top_k: 50,
  num_beams: 1,
  max_length: 1024,
  max_new_tokens: 1024,
  repetition_penalty: 1,
  length_penalty: 1,
  skip_special_tokens: true,
};

export class ChatRunner {
  readonly generating: GeneratingArgs;
  /** Set by enableScheduler (args.serving): generation goes through continuous batching. */
  scheduler: Scheduler | null = null;
  /** Without args.serving, for a family with paged attention: the single user's scheduler, one request at a time. */
  readonly onDemand: OnDemandScheduler | null;

  private constructor(
    readonly modelName: string,
    readonly model: CausalLM,
    readonly tokenizer: Tokenizer,
    readonly template: Template,
    private readonly defaultSystem: string | null,
    generating: Partial<GeneratingArgs>,
    /** Prompt + new tokens at most: longer requests are refused with a ContextLengthError. */
    readonly maxModelLen: number,
  ) {
    this.generating = { ...GENERATING_DEFAULTS, ...generating };
    if (this.generating.num_beams > 1)
      throw new ChatModelError('num_beams > 1 (beam search) is not implemented; use num_beams: 1');
    this.onDemand = model.module.pagedAttention ? new OnDemandScheduler(model.module, maxModelLen) : null;
  }

  /** Generation goes through a scheduler, whose loop yields to the event loop between steps (signals are seen). */
  get yieldsWhileGenerating(): boolean {
    return (this.scheduler ?? this.onDemand) !== null;
  }

  static async load(args: ChatModelArgs): Promise<ChatRunner> {
    const { tokenizer, template, maxModelLen } = loadTokenizerAndTemplate(args);
    // `auto` leaves the dtype to the loader: f32 for a checkpoint folder, a GGUF's own F16/BF16 for its matrices.
    const dtype =
      args.infer_dtype === 'bfloat16'
        ? 'bf16'
        : args.infer_dtype === 'float16'
          ? 'f16'
          : args.infer_dtype === 'float32'
            ? ('f32' as const)
            : undefined;
    const added = (args.add_tokens?.length ?? 0) + (args.add_special_tokens?.length ?? 0);
    const model = await loadModel(args.model_name_or_path, {
      ...(dtype ? { dtype } : {}),
      ...(args.resize_vocab || added > 0 ? { resizeVocabTo: paddedVocabSize(tokenizer.size, 64) } : {}),
      ...(args.adapter_name_or_path?.length ? { adapter: args.adapter_name_or_path } : {}),
      ...(args.threads ? { threads: args.threads } : {}),
      ...(args.quantization ? { quantization: args.quantization } : {}),
    });
    if (tokenizer.size > model.config.vocabSize) {
      model.dispose();
      throw new ChatModelError(
        `the tokenizer has ${tokenizer.size} tokens but the model's vocabulary is ${model.config.vocabSize} (the template added special tokens); choose a template that needs no new tokens, or set resize_vocab: true`,
      );
    }
    model.freezeAll();
    model.eval();
    const runner = new ChatRunner(
      args.model_name_or_path,
      model,
      tokenizer,
      template,
      args.default_system ?? null,
      args.generating ?? {},
      maxModelLen,
    );
    if (args.serving) runner.enableScheduler(args.serving);
    return runner;
  }

  /**
   * Routes generation through a continuous-batching scheduler with this KV budget. A module whose attention has no
   * paged path (CausalLMModule.pagedAttention unset; every registered family has one) keeps generate(): one request
   * at a time, same answers; returns whether the scheduler is on.
   */
  enableScheduler(
    serving: ServingArgs,
    log: (message: string) => void = (m) => console.error(`[lmforge] ${m}`),
  ): boolean {
    if (!this.model.module.pagedAttention) {
      log(
        `${this.model.config.architecture} has no paged attention path: requests are generated one at a time (no continuous batching)`,
      );
      return false;
    }
    const cfg = this.model.config;
    const blockSize = 16;
    const budget = serving.kvBudgetBytes ?? DEFAULT_KV_BUDGET;
    if (!Number.isSafeInteger(budget) || budget < 1)
      throw new ChatModelError(`kv_budget must be a positive number of bytes, got ${budget}`);
    // The pool is allocated up front, so the budget is never grown to fit max_model_len (a long-context config
    // would take gigabytes); a request larger than the pool is refused naming --kv_budget.
    this.scheduler = this.newScheduler(serving, kvBudgetBlocks(cfg, budget, blockSize), blockSize);
    return true;
  }

  private newScheduler(serving: ServingArgs, numBlocks: number, blockSize: number): Scheduler {
    try {
      return new Scheduler(this.model.module, {
        numBlocks,
        blockSize,
        maxPositions: this.maxModelLen,
        // Admission (429) is the server's queue; the scheduler queues what the KV budget cannot hold yet.
        maxWaiting: Number.MAX_SAFE_INTEGER,
        ...(serving.tokenBudget === undefined ? {} : { tokenBudget: serving.tokenBudget }),
        ...(serving.maxRunning === undefined ? {} : { maxRunning: serving.maxRunning }),
        ...(serving.prefixCaching === undefined ? {} : { prefixCaching: serving.prefixCaching }),
      });
    } catch (e) {
      throw new ChatModelError((e as Error).message);
    }
  }

  /** A job from prompt to results: what both the worker and the in-process backend run. */
  async run(job: GenerateJob, sink?: PieceSink, control?: Int32Array): Promise<GenerationResult[]> {
    const ids = await this.promptIds(job);
    const input = job.kind === 'chat' ? 'messages' : 'prompt';
    const scheduler = this.scheduler ?? this.onDemand;
    if (scheduler) return this.generateScheduled(scheduler, ids, job.opts, sink, control, input);
    return this.generate(ids, job.opts, sink, control, input);
  }

  /** Prompt ids of a job: the template's prompt for the next assistant turn, or the raw text's encoding. */
  async promptIds(job: GenerateJob): Promise<number[]> {
    if (job.kind === 'complete') {
      const ids = await this.tokenizer.encode(job.prompt, { addSpecialTokens: true });
      if (ids.length === 0) throw new ChatModelError('the prompt is empty: give at least one character');
      return ids;
    }
    return this.chatPromptIds(job.messages, job.opts.system, job.opts.tools);
  }

  async chatPromptIds(
    messages: readonly Message[],
    system?: string,
    tools?: readonly ToolDefinition[],
  ): Promise<number[]> {
    const paired: Message[] = [...messages, { role: 'assistant', content: '' }];
    const toolText = tools && tools.length > 0 ? pythonJsonText(tools) : null;
    const [prompt] = await this.template.encodeOneturn(
      this.tokenizer,
      paired,
      system ?? this.defaultSystem ?? null,
      toolText,
    );
    return prompt;
  }

  /**
   * Generates `opts.n` rows from `promptIds` (blocking). Pieces go to `sink` as they become stable; the control
   * word is read between prefill chunks and after every token (stop = end now with what was generated, abort =
   * throw an AbortError). Prompt + max tokens must fit max_model_len (`input` names the prompt in the refusal).
   */
  generate(
    promptIds: readonly number[],
    opts: GenerationOptions,
    sink?: PieceSink,
    control?: Int32Array,
    input: InputName = 'messages',
  ): GenerationResult[] {
    const n = opts.n ?? 1;
    if (!Number.isInteger(n) || n < 1) throw new ChatModelError(`n must be an integer >= 1, got ${n}`);
    const g = this.generating;
    const temperature = opts.temperature ?? g.temperature;
    // LLaMA-Factory: several choices need sampling; a zero temperature means greedy.
    const doSample = (g.do_sample || n > 1) && temperature > 0;
    const maxNew = newTokenBudget(promptIds.length, opts.maxTokens, g.max_new_tokens, this.maxModelLen, input);
    const stopIds = this.template.stopIds(this.tokenizer);
    const stopSet = new Set(stopIds);
    const skipSpecialTokens = g.skip_special_tokens;
    const decoders = Array.from(
      { length: n },
      () => new IncrementalDecoder((ids) => this.tokenizer.decode(ids, { skipSpecialTokens })),
    );
    const filters = Array.from({ length: n }, () => new StopStringFilter(opts.stop));
    const texts = Array.from({ length: n }, () => '');
    const stopped = Array.from({ length: n }, () => false);
    // Penalties, the JSON grammar and logprobs run on the logits before sampling (null: plain sampling).
    const processing = RequestProcessing.create(
      opts,
      n,
      this.model.config.vocabSize,
      promptIds,
      this.tokenizer,
      stopIds,
      g.repetition_penalty,
    );
    const logprobs: TokenLogprob[][] = Array.from({ length: n }, () => []);
    const emit = (row: number, text: string, tokenId?: number, logprob?: TokenLogprob) => {
      if (stopped[row]) return;
      const check = (filters[row] as StopStringFilter).push(text);
      if (check.stopped) stopped[row] = true;
      texts[row] += check.text;
      if (logprob) logprobs[row]?.push(logprob);
      if (sink && (check.text || tokenId !== undefined)) {
        const piece: StreamPiece = { text: check.text };
        if (tokenId !== undefined) piece.tokenId = tokenId;
        if (logprob) piece.logprob = logprob;
        sink(row, piece);
      }
    };
    // A request aborted while it waited for the model never starts.
    if (control && Atomics.load(control, 0) === CONTROL_ABORT) throw abortError();
    let aborted = false;
    const result = this.model.generateDetailed(
      Array.from({ length: n }, () => promptIds),
      {
        maxNewTokens: maxNew,
        doSample,
        temperature: doSample ? temperature : 1,
        topP: doSample ? (opts.topP ?? g.top_p) : 1,
        topK: doSample ? g.top_k : 0,
        // With request processing the penalty is applied there (before logprobs are read), not by the sampler.
        repetitionPenalty: processing ? 1 : g.repetition_penalty,
        ...(processing ? { processLogits: processing.process } : {}),
        stop: stopIds,
        ...(opts.seed === undefined ? {} : { seed: opts.seed }),
        ...(control
          ? {
              signal: {
                get aborted() {
                  return Atomics.load(control, 0) === CONTROL_ABORT;
                },
              },
            }
          : {}),
        onToken: (token, row) => {
          const signal = control ? Atomics.load(control, 0) : CONTROL_RUN;
          if (signal === CONTROL_ABORT) aborted = true;
          if (signal !== CONTROL_RUN) return false;
          const logprob = processing?.accept(token, row);
          // The stop token ends the row; it counts as a completion token but is not text (HF's decode skips it).
          emit(row, stopSet.has(token) ? '' : (decoders[row] as IncrementalDecoder).push(token), token, logprob);
          return stopped[row] ? false : undefined;
        },
      },
    );
    if (aborted || result.finishReasons.includes('abort')) throw abortError();
    return result.tokens.map((tokens, row) => {
      emit(row, (decoders[row] as IncrementalDecoder).flush());
      const tail = stopped[row] ? '' : (filters[row] as StopStringFilter).flush();
      if (tail) {
        texts[row] += tail;
        sink?.(row, { text: tail });
      }
      const reason = result.finishReasons[row];
      const finishReason: GenerationFinish = reason === 'length' && !stopped[row] ? 'length' : 'stop';
      const out: GenerationResult = {
        text: texts[row] as string,
        finishReason,
        promptTokens: promptIds.length,
        completionTokens: tokens.length,
      };
      if (opts.logprobs !== undefined) out.logprobs = logprobs[row] as TokenLogprob[];
      return out;
    });
  }

  /**
   * generate()'s semantics through the scheduler: the n rows are n sequences (row r samples with seed + r, so one
   * row samples as generate() does), each joining the running batch at the next step; the control word is read
   * before every step. An OnDemandScheduler runs the request after the ones before it, with a pool that fits it.
   */
  async generateScheduled(
    scheduler: Scheduler | OnDemandScheduler,
    promptIds: readonly number[],
    opts: GenerationOptions,
    sink?: PieceSink,
    control?: Int32Array,
    input: InputName = 'messages',
  ): Promise<GenerationResult[]> {
    const n = opts.n ?? 1;
    if (!Number.isInteger(n) || n < 1) throw new ChatModelError(`n must be an integer >= 1, got ${n}`);
    const g = this.generating;
    const temperature = opts.temperature ?? g.temperature;
    const doSample = (g.do_sample || n > 1) && temperature > 0;
    const maxNew = newTokenBudget(promptIds.length, opts.maxTokens, g.max_new_tokens, this.maxModelLen, input);
    if (scheduler instanceof OnDemandScheduler)
      return scheduler.use(n, promptIds.length + maxNew, (s) =>
        this.generateScheduled(s, promptIds, opts, sink, control, input),
      );
    const stopIds = this.template.stopIds(this.tokenizer);
    const stopSet = new Set(stopIds);
    const skipSpecialTokens = g.skip_special_tokens;
    if (control && Atomics.load(control, 0) === CONTROL_ABORT) throw abortError();
    const signal = {
      get aborted() {
        return control !== undefined && Atomics.load(control, 0) === CONTROL_ABORT;
      },
    };
    // Penalties, the JSON grammar and logprobs, as generate(): one processor row per choice (null: plain sampling).
    const processing = RequestProcessing.create(
      opts,
      n,
      this.model.config.vocabSize,
      promptIds,
      this.tokenizer,
      stopIds,
      g.repetition_penalty,
    );
    const sampling = {
      doSample,
      temperature: doSample ? temperature : 1,
      topP: doSample ? (opts.topP ?? g.top_p) : 1,
      topK: doSample ? g.top_k : 0,
      // With request processing the penalty is applied there (before logprobs are read), not by the sampler.
      repetitionPenalty: processing ? 1 : g.repetition_penalty,
    };
    const rows = Array.from({ length: n }, async (_, row): Promise<GenerationResult> => {
      const decoder = new IncrementalDecoder((ids) => this.tokenizer.decode(ids, { skipSpecialTokens }));
      const filter = new StopStringFilter(opts.stop);
      let text = '';
      let stopped = false;
      const logprobs: TokenLogprob[] = [];
      const emit = (piece: string, tokenId?: number, logprob?: TokenLogprob) => {
        if (stopped) return;
        const check = filter.push(piece);
        if (check.stopped) stopped = true;
        text += check.text;
        if (logprob) logprobs.push(logprob);
        if (sink && (check.text || tokenId !== undefined)) {
          const out: StreamPiece = { text: check.text };
          if (tokenId !== undefined) out.tokenId = tokenId;
          if (logprob) out.logprob = logprob;
          sink(row, out);
        }
      };
      const result = await scheduler.submit({
        prompt: promptIds,
        maxNewTokens: maxNew,
        sampling,
        stop: stopIds,
        seed: (opts.seed ?? 0) + row,
        signal,
        ...(processing ? { processLogits: (logits: Float32Array) => processing.processRow(row, logits) } : {}),
        onToken: (token) => {
          if ((control ? Atomics.load(control, 0) : CONTROL_RUN) !== CONTROL_RUN) return false;
          const logprob = processing?.accept(token, row);
          emit(stopSet.has(token) ? '' : decoder.push(token), token, logprob);
          return stopped ? false : undefined;
        },
      });
      if (result.finishReason === 'abort' || signal.aborted) throw abortError();
      emit(decoder.flush());
      const tail = stopped ? '' : filter.flush();
      if (tail) {
        text += tail;
        sink?.(row, { text: tail });
      }
      const out: GenerationResult = {
        text,
        finishReason: result.finishReason === 'length' && !stopped ? 'length' : 'stop',
        promptTokens: promptIds.length,
        completionTokens: result.tokens.length,
      };
      if (opts.logprobs !== undefined) out.logprobs = logprobs;
      return out;
    });
    return Promise.all(rows);
  }

  /** Last hidden state (after the final norm) mean-pooled over each text's tokens; texts run one batch, left-padded. */
  async embed(texts: readonly string[]): Promise<EmbeddingResult> {
    const encoded = await this.tokenizer.encodeBatch([...texts], { addSpecialTokens: true });
    for (const [i, ids] of encoded.entries()) {
      if (ids.length === 0) throw new ChatModelError(`input ${i} is empty: embeddings need at least one token`);
      checkInputLength(ids.length, i, this.maxModelLen);
    }
    const batch = leftPadded(encoded, this.padId());
    const t = batch.shape[1];
    const c = this.model.config.hiddenSize;
    const hidden = noGrad(() => scope(() => this.model.hiddenStates(batch.input).toFloat32Array()));
    const vectors = encoded.map((ids, r) => {
      const v = new Float64Array(c);
      for (let j = t - ids.length; j < t; j++)
        for (let k = 0; k < c; k++) v[k] = (v[k] as number) + (hidden[(r * t + j) * c + k] as number);
      return Array.from(v, (x) => x / ids.length);
    });
    return { vectors, promptTokens: encoded.reduce((s, ids) => s + ids.length, 0) };
  }

  /**
   * For each conversation (ending with a user turn): the next-token logits of 'A', 'B', 'C', 'D' (the last token of
   * each letter's encoding, as LLaMA-Factory's evaluator) after the template's prompt for the assistant's answer.
   */
  async choiceLogits(prompts: readonly (readonly Message[])[], letters = ['A', 'B', 'C', 'D']): Promise<number[][]> {
    const choiceIds = await Promise.all(
      letters.map(async (l) => {
        const ids = await this.tokenizer.encode(l, { addSpecialTokens: false });
        const last = ids.at(-1);
        if (last === undefined) throw new ChatModelError(`the tokenizer encodes '${l}' as no token`);
        return last;
      }),
    );
    const encoded = await Promise.all(prompts.map((m) => this.chatPromptIds(m)));
    return this.lastPositionLogits(encoded, choiceIds);
  }

  /** Logits of `ids` at each prompt's last position (one left-padded batch, the LM head on that position only). */
  lastPositionLogits(prompts: readonly (readonly number[])[], ids: readonly number[]): number[][] {
    const batch = leftPadded(prompts, this.padId());
    const [b, t] = batch.shape;
    const c = this.model.config.hiddenSize;
    const v = this.model.config.vocabSize;
    const logits = noGrad(() =>
      scope(() => {
        const hidden = this.model.hiddenStates(batch.input).toFloat32Array();
        const last = new Float32Array(b * c);
        for (let r = 0; r < b; r++) last.set(hidden.subarray((r * t + t - 1) * c, (r * t + t) * c), r * c);
        return this.model.head(Tensor.from(last, [b, c])).toFloat32Array();
      }),
    );
    return prompts.map((_, r) => ids.map((id) => logits[r * v + id] as number));
  }

  extractToolCalls(text: string, tools?: readonly ToolDefinition[]): ToolCall[] | null {
    return extractToolCalls(this.template, text, tools);
  }

  async close(): Promise<void> {
    await this.scheduler?.close();
    await this.onDemand?.close();
    this.model.dispose();
  }

  dispose(): void {
    this.model.dispose();
  }

  private padId(): number {
    return this.tokenizer.padTokenId ?? this.tokenizer.eosTokenId ?? 0;
  }
}

/**
 * The tokenizer (from the model folder) and the template fixed onto it, as LLaMA-Factory's load_tokenizer does, and
 * the context limit (max_model_len checked against the config), so a bad value fails before the weights load.
 */
export function loadTokenizerAndTemplate(args: ChatModelArgs): {
  tokenizer: Tokenizer;
  template: Template;
  maxModelLen: number;
} {
  const dir = args.model_name_or_path;
  if (!dir || !isModelSource(dir))
    throw new ChatModelError(
      `model_name_or_path ${dir || '(not set)'} is not a local Hugging Face model folder (no config.json) or GGUF file; pass --model_name_or_path <folder or .gguf>`,
    );
  const positions = readSourceConfig(dir).maxPositionEmbeddings;
  let maxModelLen: number;
  try {
    maxModelLen = resolveMaxModelLen(args.max_model_len, positions);
  } catch (e) {
    throw new ChatModelError((e as Error).message);
  }
  const tokenizer = Tokenizer.fromDir(dir);
  if (args.add_tokens?.length) tokenizer.addTokens([...args.add_tokens], false);
  if (args.add_special_tokens?.length)
    tokenizer.addSpecialTokens({ additionalSpecialTokens: [...args.add_special_tokens] }, false);
  const template = getTemplate(args.template ?? undefined, tokenizer, {
    enableThinking: args.enable_thinking,
    defaultSystem: args.default_system,
    toolFormat: args.tool_format,
    log: (level, message) => {
      if (level === 'warning') console.error(`[lmforge] ${message}`);
    },
  });
  return { tokenizer, template, maxModelLen };
}

/** Calls in `text` as the template writes them; null for a plain answer (or calls to tools not offered). */
export function extractToolCalls(
  template: Template,
  text: string,
  tools?: readonly ToolDefinition[],
): ToolCall[] | null {
  const found = template.extractToolCalls(text);
  if (typeof found === 'string') return null;
  if (tools && tools.length > 0 && !found.every((c) => tools.some((t) => t.name === c.name))) return null;
  return found.map((c) => ({ name: c.name, arguments: c.arguments }));
}

type Ids = { data: Int32Array; shape: [number, number] };
export interface PaddedBatch {
  input: { inputIds: Ids; attentionMask: Ids; positionIds: Ids };
  /** [B, T] */
  shape: [number, number];
}

/** Rows left-padded to one length with position ids counting real tokens (what generation's prefill uses). */
export function leftPadded(rows: readonly (readonly number[])[], pad: number): PaddedBatch {
  const b = rows.length;
  const t = maxOf(rows.map((r) => r.length));
  const ids = new Int32Array(b * t).fill(pad);
  const mask = new Int32Array(b * t);
  const pos = new Int32Array(b * t);
  rows.forEach((row, r) => {
    const off = t - row.length;
    row.forEach((id, j) => {
      ids[r * t + off + j] = id;
      mask[r * t + off + j] = 1;
      pos[r * t + off + j] = j;
    });
  });
  const shape: [number, number] = [b, t];
  return {
    input: { inputIds: { data: ids, shape }, attentionMask: { data: mask, shape }, positionIds: { data: pos, shape } },
    shape,
  };
}
