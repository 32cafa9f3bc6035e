/**
 * PPO's per-sequence pieces (TRL 0.9's PPOTrainer helpers): generating and cutting the responses, the ids that stop
 * one, and the batched forward pass that gives each response token's log-prob and value.
 */
import type { Template } from '../data/template/index.js';
import { dropout, type Generator, linear, Tensor, takeRows, tokenLogProbs } from '../engine/index.js';
import type { SamplingOptions } from '../infer/sampling.js';
import type { CausalLM } from '../models/causal-lm.js';
import type { Tokenizer } from '../tokenizer/tokenizer.js';
import { pushAll } from '../util/arrays.js';
import { queryResponseBatch } from './ppo-reward.js';
import { predictGeneration } from './predict-generation.js';
import { VALUE_HEAD_DROPOUT, type ValueHead } from './rm.js';

/** One rollout sequence: the prompt and the generated response (never empty). */
export interface Sample {
  query: readonly number[];
  response: readonly number[];
}

/**
 * get_inputs' cut: keep the response up to its last non-pad token, plus one token when pad and eos are the same id
 * (so the eos that ended it stays); an all-pad response keeps its first token.
 */
export function trimResponse(tokens: readonly number[], padId: number, eosId: number | null): number[] {
  let last = -1;
  for (let i = tokens.length - 1; i >= 0; i--)
    if (tokens[i] !== padId) {
      last = i;
      break;
    }
  if (last < 0) return tokens.slice(0, 1);
  return tokens.slice(0, eosId === padId ? last + 2 : last + 1);
}

export interface RolloutOptions {
  /** New tokens at most, per mini-batch (max_new_tokens, or max_length - the mini-batch's longest query). */
  maxNewTokens: readonly number[];
  sampling: SamplingOptions;
  stop: readonly number[];
  padId: number;
  eosId: number | null;
  /** Queries per mini-batch (per_device_train_batch_size): the rows decoded together. */
  miniBatch: number;
  seed: number;
}

/**
 * Responses to a step's queries with the policy as it is now (eval mode, no tape; a LoRA adapter live), mini-batch
 * by mini-batch as TRL generates them, each cut as get_inputs does. A family with paged attention decodes through
 * the serving scheduler (predict-generation.ts; one made per call, so no KV of older weights is reused): greedy
 * responses are generate()'s, and query i samples with seed + i. Otherwise generate() runs each mini-batch
 * left-padded, mini-batch k sampling with seed + k * miniBatch (one generator for its rows, as before).
 */
export async function generateResponses(
  model: CausalLM,
  queries: readonly (readonly number[])[],
  o: RolloutOptions,
): Promise<number[][]> {
  const generation = predictGeneration(model, queries, {
    maxNewTokens: o.maxNewTokens,
    sampling: o.sampling,
    stop: o.stop,
    padTokenId: o.padId,
    batchSize: o.miniBatch,
    seed: o.seed,
    batchSeed: (k) => (o.seed + k * o.miniBatch) >>> 0,
  });
  try {
    const out: number[][] = [];
    for (let k = 0; k * o.miniBatch < queries.length; k++) {
      const tokens = await generation.batch(k);
      // predictGeneration returns null only when its signal aborts, and none is given.
      if (!tokens) throw new Error('the PPO rollout was aborted');
      pushAll(
        out,
        tokens.map((t) => trimResponse(t, o.padId, o.eosId)),
      );
    }
    return out;
  } finally {
    await generation.close();
  }
}

/** The ids that end a response: EOS, the additional special tokens (LLaMA-Factory's generation config) and the
 * template's stop words. */
export function ppoStopIds(tokenizer: Tokenizer, template: Template): number[] {
  const ids = new Set(template.stopIds(tokenizer));
  for (const t of tokenizer.additionalSpecialTokens) {
    const id = tokenizer.convertTokensToIds(t);
    if (id !== null) ids.add(id);
  }
  return [...ids].sort((a, b) => a - b);
}

export interface PassResult {
  /** [N] log-prob of every response token of the mini-batch, row after row. */
  logprobs: Tensor;
  /** [N] value of the state that chose each response token, when a head was given. */
  values: Tensor | null;
  /** Per row, the positions of its response tokens in those [N] vectors. */
  index: number[][];
}

/**
 * batched_forward_pass for one mini-batch: right-padded query + response rows through the model. Response token k
 * of a row is predicted at position len(query) - 1 + k, whose value is the value of the state that chose it. Only
 * those positions go through the LM head and the value head. `generator` applies the value head's training dropout.
 */
export function ppoForward(
  model: CausalLM,
  head: ValueHead | null,
  samples: readonly Sample[],
  padId: number,
  generator?: Generator,
): PassResult {
  const batch = queryResponseBatch(
    samples.map((s) => s.query),
    samples.map((s) => s.response),
    padId,
  );
  const [b, t] = batch.inputIds.shape;
  const hidden = model.hiddenStates({ inputIds: batch.inputIds, attentionMask: batch.attentionMask });
  const c = hidden.shape[2] as number;
  const positions = samples.flatMap((s, r) => s.response.map((_, k) => r * t + s.query.length - 1 + k));
  const chosen = takeRows(hidden.reshape([b * t, c]), positions); // [N, C]
  const targets = Tensor.from(Int32Array.from(samples.flatMap((s) => s.response)), [positions.length], 'i32');
  const logprobs = tokenLogProbs(model.head(chosen), targets);
  let values: Tensor | null = null;
  if (head) {
    const dropped = generator ? dropout(chosen, VALUE_HEAD_DROPOUT, { generator }) : chosen;
    values = linear(dropped, head.weight, head.bias).reshape([positions.length]);
  }
  let offset = 0;
  const index = samples.map((s) =>
    s.response.map(() => {
      offset++;
      return offset - 1;
    }),
  );
  return { logprobs, values, index };
}

export function gather(values: Float32Array, index: readonly number[][]): Float64Array[] {
  return index.map((row) => Float64Array.from(row, (i) => values[i] as number));
}

export function scatter(
  rows: readonly Float64Array[],
  index: readonly number[][],
  size: number,
  factor: number,
): Tensor {
  const out = new Float32Array(size);
  index.forEach((row, r) => {
    const g = rows[r] as Float64Array;
    row.forEach((i, k) => {
      out[i] = (g[k] as number) * factor;
    });
  });
  return Tensor.from(out, [size]);
}

/** Mean of a list of numbers (NaN for none). */
export function mean(xs: readonly number[]): number {
  return xs.length === 0 ? Number.NaN : xs.reduce((a, b) => a + b, 0) / xs.length;
}
