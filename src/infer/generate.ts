/**
 * Autoregressive generation with a KV cache: batched prompts are left-padded to one length (position ids count
 * real tokens only, as HF does), the prompt is run once (prefill), then one token per step. Only the last
 * position's hidden state goes through the LM head. Cache memory is released when generation ends, however it ends.
 */
import { native, noGrad, scope, Tensor } from '../engine/index.js';
import type { CausalLMModule } from '../models/family.js';
import { KVCache } from '../models/kv-cache.js';
import { maxOf } from '../util/arrays.js';
import { appendToken, type DecodeRow, pickTokens } from './decode-step.js';
import { type SamplingOptions, validateSampling } from './sampling.js';

const PREFILL_CHUNK = 512;

export interface GenerateOptions extends Partial<SamplingOptions> {
  /** New tokens per row at most (HF's max_new_tokens). Default 128. */
  maxNewTokens?: number;
  /** Token ids that end a row (included in its output, as HF does). */
  stop?: readonly number[];
  /** Id used to left-pad shorter prompts (any id: padded keys are masked). */
  padTokenId?: number;
  /** Seed of the sampling generator (reproducible sampling). */
  seed?: number;
  /** Called for every new token as soon as it is chosen. Return false to stop that row (any other result goes on). */
  onToken?: (token: number, row: number) => unknown;
  /** Called after every decoding step with that step's next-token logits [B, V] (tests, scoring). */
  onStepLogits?: (logits: Float32Array, step: number) => void;
  /**
   * Rewrites each step's next-token logits [B, V] (a copy) in place before sampling: per-request penalties and
   * grammar masks (logit-processors.ts). onToken then sees that step's tokens chosen from the rewritten logits.
   */
  processLogits?: (logits: Float32Array, step: number) => void;
  /**
   * Stops all rows when aborted (API clients that disconnect); read before every prefill chunk and decoding step.
   * Anything with `aborted` works, e.g. a view of a control word shared with another thread.
   */
  signal?: { readonly aborted: boolean };
  /** Prompt positions per prefill forward, at least (default 512): how soon an abort stops the prefill. */
  prefillChunk?: number;
}

export interface GenerateResult {
  /** Per row: the new tokens (stop token included when one ended the row). */
  tokens: number[][];
  /** Per row: 'stop' (a stop id or onToken returned false), 'length' (maxNewTokens), 'abort'. */
  finishReasons: ('stop' | 'length' | 'abort')[];
}

/** A small seeded generator for sampling draws (mulberry32); one draw per row per step. */
export class DrawSource {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0;
  }
  next(): number {
    this.s = (this.s + 0x6d2b79f5) >>> 0;
    let t = this.s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
}

export function generate(
  model: CausalLMModule,
  prompts: readonly (readonly number[])[],
  options: GenerateOptions = {},
): GenerateResult {
  const sampling: SamplingOptions = {
    doSample: options.doSample ?? false,
    temperature: options.temperature ?? 1,
    topK: options.topK ?? 0,
    topP: options.topP ?? 1,
    repetitionPenalty: options.repetitionPenalty ?? 1,
  };
  validateSampling(sampling);
  const maxNew = options.maxNewTokens ?? 128;
  if (!Number.isInteger(maxNew) || maxNew < 0) throw new Error(`maxNewTokens must be an integer >= 0, got ${maxNew}`);
  if (prompts.length === 0) return { tokens: [], finishReasons: [] };
  const cfg = model.cfg;
  for (const [r, p] of prompts.entries()) {
    if (p.length === 0) throw new Error(`prompt ${r} is empty: generation needs at least one token (e.g. BOS)`);
    for (const id of p)
      if (!Number.isInteger(id) || id < 0 || id >= cfg.vocabSize)
        throw new Error(`prompt ${r} has token id ${id} outside the vocabulary [0, ${cfg.vocabSize})`);
  }
  const b = prompts.length;
  const promptLen = maxOf(prompts.map((p) => p.length));
  const stop = new Set(options.stop ?? []);
  const pad = options.padTokenId ?? 0;
  const draws = new DrawSource(options.seed ?? 0);
  const rows: DecodeRow[] = prompts.map((p) => ({ history: [...p], tokens: [] }));
  const history = rows.map((row) => row.history);
  const finish: ('stop' | 'length' | 'abort' | null)[] = prompts.map(() => null);
  const capacity = promptLen + Math.max(maxNew, 1);
  const cache = new KVCache(b, capacity, cfg.numHiddenLayers, cfg.numKeyValueHeads, cfg.headDim);
  const ropeFreqs = model.model.ropeFrequencies(capacity - 1);
  try {
    // Prefill: left padding, positions count real tokens (padded slots get position 1, as HF's generate does).
    const ids = new Int32Array(b * promptLen).fill(pad);
    const mask = new Int32Array(b * promptLen);
    const pos = new Int32Array(b * promptLen).fill(1);
    const nextPos = new Int32Array(b);
    prompts.forEach((p, r) => {
      const off = promptLen - p.length;
      p.forEach((id, j) => {
        ids[r * promptLen + off + j] = id;
        mask[r * promptLen + off + j] = 1;
        pos[r * promptLen + off + j] = j;
      });
      nextPos[r] = p.length;
    });
    let stepIds = ids;
    let stepMask = mask;
    let stepPos = pos;
    let t = promptLen;
    const aborted = () => options.signal?.aborted === true;
    const runForward = (withHead: boolean): Tensor | null =>
      noGrad(() =>
        scope(() => {
          cache.extendMask(stepMask, t);
          const hidden = model.model.forward(Tensor.from(stepIds, [b, t], 'i32'), {
            positionIds: Tensor.from(stepPos, [b, t], 'i32'),
            cache,
            rope: ropeFreqs,
          });
          cache.advance(t);
          return withHead ? model.head(lastPositions(hidden)) : null;
        }),
      );
    // The prompt runs in chunks of at least `prefillChunk` positions through the cache (the last one takes the
    // remainder), so an abort is seen between chunks instead of only after the whole prompt. No chunk is short:
    // products of a few rows take other GEMM kernels, and the logits must stay those of one whole-prompt forward.
    const chunk = options.prefillChunk ?? PREFILL_CHUNK;
    if (!Number.isInteger(chunk) || chunk < 1) throw new Error(`prefillChunk must be an integer >= 1, got ${chunk}`);
    const prefill = (): Tensor | null => {
      const count = Math.max(1, Math.floor(promptLen / chunk));
      for (let k = 0; k < count; k++) {
        if (k > 0 && aborted()) return null;
        const start = k * chunk;
        const end = k === count - 1 ? promptLen : start + chunk;
        t = end - start;
        stepIds = columns(ids, b, promptLen, start, end);
        stepMask = columns(mask, b, promptLen, start, end);
        stepPos = columns(pos, b, promptLen, start, end);
        const logits = runForward(end === promptLen);
        if (logits) return logits;
      }
      throw new Error('unreachable: the last prefill chunk returns logits');
    };
    for (let step = 0; step < maxNew; step++) {
      const logits = aborted() ? null : step === 0 ? prefill() : runForward(true);
      if (!logits) {
        for (let r = 0; r < b; r++) finish[r] = finish[r] ?? 'abort';
        break;
      }
      if (options.onStepLogits) options.onStepLogits(logits.toFloat32Array(), step);
      const uniforms = Float32Array.from({ length: b }, () => draws.next());
      const process = options.processLogits;
      const next = pickTokens(logits, history, uniforms, sampling, process && ((data) => process(data, step)));
      const onToken = options.onToken;
      for (let r = 0; r < b; r++) {
        if (finish[r]) continue;
        finish[r] = appendToken(
          rows[r] as DecodeRow,
          next[r] as number,
          stop,
          maxNew,
          onToken && ((id) => onToken(id, r)),
        );
      }
      if (finish.every((f) => f)) break;
      // Next step: one token per row (finished rows keep decoding a filler that is discarded, as in HF).
      t = 1;
      stepIds = Int32Array.from(next, (id, r) => (finish[r] ? pad : id));
      stepMask = new Int32Array(b).fill(1);
      stepPos = Int32Array.from(nextPos);
      for (let r = 0; r < b; r++) nextPos[r] = (nextPos[r] as number) + 1;
    }
  } finally {
    cache.dispose();
  }
  return { tokens: rows.map((row) => row.tokens), finishReasons: finish.map((f) => f ?? 'length') };
}

/** Columns [start, end) of a row-major [rows, width] block, as a new [rows, end - start] block. */
function columns(
  block: Int32Array<ArrayBuffer>,
  rows: number,
  width: number,
  start: number,
  end: number,
): Int32Array<ArrayBuffer> {
  if (start === 0 && end === width) return block;
  const out = new Int32Array(rows * (end - start));
  for (let r = 0; r < rows; r++) out.set(block.subarray(r * width + start, r * width + end), r * (end - start));
  return out;
}

/** hidden [B, T, C] -> [B, C] of the last position (a copy per row; no autograd: generation only). */
function lastPositions(hidden: Tensor): Tensor {
  const [b, t, c] = hidden.shape as [number, number, number];
  if (t === 1) return hidden.reshape([b, c]);
  const out = Tensor.empty([b, c]);
  for (let r = 0; r < b; r++) native.copy(hidden.handle, (r * t + t - 1) * c * 4, out.handle, r * c * 4, c * 4);
  return out;
}
