/**
 * Stage ppo's scores: LLaMA-Factory's create_reward_model + CustomPPOTrainer.get_rewards. `reward_model_type`:
 * - lora: `reward_model` is a reward adapter folder (a LoRA adapter + value_head.safetensors, what stage rm writes);
 *   its factors are attached to the policy as a second, frozen adapter named 'reward' and switched in to score
 *   (replace_model 'reward' / 'default'), so no second copy of the base weights exists;
 * - full: `reward_model` is a model folder (+ `reward_model_adapters`) with value_head.safetensors, loaded frozen;
 * - api: `reward_model` is a URL; the texts query + response (special tokens kept) are POSTed as
 *   {"model": "model", "messages": [...]} and the answer's "scores" array is read (get_rewards_from_server).
 * A score is the value head's output at the last token of query + response, the model in eval mode.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { CollatedBatch } from '../data/collator.js';
import { noGrad, scope } from '../engine/index.js';
import type { TrainArgs } from '../hparams/index.js';
import type { CausalLM } from '../models/causal-lm.js';
import type { Tokenizer } from '../tokenizer/tokenizer.js';
import { maxOf } from '../util/arrays.js';
import { sequenceScores, VALUE_HEAD_FILE, ValueHead } from './rm.js';
import { commaList, loadFrozenModel, TrainError } from './run-setup.js';

/** The name of the reward adapter attached to the policy for reward_model_type lora. */
export const REWARD_ADAPTER = 'reward';

export interface RewardSource {
  readonly kind: 'lora' | 'full' | 'api';
  /** One score per sequence query + response. */
  score(queries: readonly (readonly number[])[], responses: readonly (readonly number[])[]): Promise<number[]>;
  dispose(): void;
}

/**
 * query + response per row, right-padded with padId (TRL's prepare_model_inputs with right padding): attention 1 on
 * every real token; labels hold the response tokens only (-100 elsewhere), so shifted labels select the positions
 * whose next-token log-prob is a response token's.
 */
export function queryResponseBatch(
  queries: readonly (readonly number[])[],
  responses: readonly (readonly number[])[],
  padId: number,
): CollatedBatch {
  const b = queries.length;
  const t = maxOf(queries.map((q, i) => q.length + (responses[i] as readonly number[]).length));
  const ids = new Int32Array(b * t).fill(padId);
  const mask = new Int32Array(b * t);
  const labels = new Int32Array(b * t).fill(-100);
  queries.forEach((q, r) => {
    const resp = responses[r] as readonly number[];
    ids.set(q, r * t);
    ids.set(resp, r * t + q.length);
    mask.fill(1, r * t, r * t + q.length + resp.length);
    labels.set(resp, r * t + q.length);
  });
  return {
    inputIds: { data: ids, shape: [b, t] },
    attentionMask: { data: mask, shape: [b, t] },
    labels: { data: labels, shape: [b, t] },
  };
}

/** How long a reward server may take to answer one rollout's texts before the run stops with advice. */
export const REWARD_SERVER_TIMEOUT_MS = 10 * 60 * 1000;

/**
 * get_rewards_from_server: POST the texts, read `scores` (one number per text). Unlike upstream's request without
 * a timeout, a server that never answers stops the run after `timeoutMs` instead of hanging it.
 */
export async function fetchRewards(
  url: string,
  messages: readonly string[],
  signal?: AbortSignal,
  timeoutMs = REWARD_SERVER_TIMEOUT_MS,
): Promise<number[]> {
  const timeout = AbortSignal.timeout(timeoutMs);
  const both = signal ? AbortSignal.any([signal, timeout]) : timeout;
  const timedOut = () =>
    new TrainError(
      `the reward server at ${url} did not answer within ${timeoutMs / 1000} s; check that it is scoring, or use a smaller batch`,
    );
  let response: Response;
  let body: string;
  try {
    response = await fetch(url, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ model: 'model', messages }),
      signal: both,
    });
    body = await response.text();
  } catch (e) {
    if (timeout.aborted && !signal?.aborted) throw timedOut();
    throw new TrainError(
      `could not reach the reward server at ${url} (${(e as Error).message}); start it or fix reward_model`,
    );
  }
  if (!response.ok)
    throw new TrainError(`the reward server at ${url} answered HTTP ${response.status}: ${body.slice(0, 200)}`);
  let scores: unknown;
  try {
    scores = (JSON.parse(body) as { scores?: unknown }).scores;
  } catch {
    throw new TrainError(`the reward server at ${url} did not answer JSON: ${body.slice(0, 200)}`);
  }
  if (
    !Array.isArray(scores) ||
    scores.length !== messages.length ||
    !scores.every((s) => typeof s === 'number' && Number.isFinite(s))
  )
    throw new TrainError(
      `the reward server at ${url} must answer {"scores": [...]} with ${messages.length} finite numbers, got ${body.slice(0, 200)}`,
    );
  return scores as number[];
}

function valueHeadDir(dirs: readonly string[], what: string, hiddenSize: number): ValueHead {
  const dir = dirs.find((d) => existsSync(join(d, VALUE_HEAD_FILE)));
  if (!dir)
    throw new TrainError(
      `${what}: no ${VALUE_HEAD_FILE} in ${dirs.join(' or ')}; train the reward model with stage: rm (it writes one)`,
    );
  return ValueHead.load(dir, hiddenSize).freeze();
}

/** Scores [R] of right-padded query + response rows, with the model in eval mode and no tape. */
function scoreRows(model: CausalLM, head: ValueHead, batch: CollatedBatch): number[] {
  const wasTraining = model.module.training;
  model.eval();
  try {
    return Array.from(scope(() => noGrad(() => sequenceScores(model, head, batch).toFloat32Array())));
  } finally {
    model.train(wasTraining);
  }
}

export async function createRewardSource(
  args: TrainArgs,
  policy: CausalLM,
  tokenizer: Tokenizer,
  ctx: { storage: 'f32' | 'bf16' | 'f16'; padTokenId: number; log: (m: string) => void; signal?: AbortSignal },
): Promise<RewardSource> {
  const fa = args.finetuning;
  const target = fa.reward_model as string;
  const kind = fa.reward_model_type;
  if (kind === 'api') {
    if (!/^https?:\/\//.test(target))
      throw new TrainError(`reward_model_type api needs reward_model to be an http(s) URL, got ${target}`);
    ctx.log(`reward model: the server at ${target}`);
    return {
      kind,
      score: (queries, responses) =>
        fetchRewards(
          target,
          queries.map((q, i) =>
            tokenizer.decode([...q, ...(responses[i] as readonly number[])], { skipSpecialTokens: false }),
          ),
          ctx.signal,
        ),
      dispose() {},
    };
  }
  if (!existsSync(target)) throw new TrainError(`reward_model ${target} does not exist`);
  if (kind === 'lora') {
    if (!policy.adapterConfig) throw new TrainError('reward_model_type lora needs finetuning_type: lora');
    const head = valueHeadDir([target], `reward_model ${target}`, policy.config.hiddenSize);
    try {
      policy.attachAdapter(REWARD_ADAPTER, target);
    } catch (e) {
      head.dispose();
      throw new TrainError(`reward_model: ${(e as Error).message}`);
    }
    ctx.log(`reward model: the adapter ${target} beside the policy's (switched in to score)`);
    return {
      kind,
      score: async (queries, responses) =>
        policy.withAdapter(REWARD_ADAPTER, () =>
          scoreRows(policy, head, queryResponseBatch(queries, responses, ctx.padTokenId)),
        ),
      dispose: () => head.dispose(),
    };
  }
  const adapters = commaList(fa.reward_model_adapters);
  const model = await loadFrozenModel(target, adapters, ctx.storage);
  if (model.config.vocabSize < tokenizer.size) {
    model.dispose();
    throw new TrainError(
      `reward_model ${target} has a vocabulary of ${model.config.vocabSize} ids, the policy's tokenizer ${tokenizer.size}: the reward model must share the policy's tokenizer`,
    );
  }
  let head: ValueHead;
  try {
    head = valueHeadDir([...adapters].reverse().concat([target]), `reward_model ${target}`, model.config.hiddenSize);
  } catch (e) {
    model.dispose();
    throw e;
  }
  ctx.log(`reward model: ${target}${adapters.length > 0 ? ` + ${adapters.join(', ')}` : ''} (frozen)`);
  return {
    kind: 'full',
    score: async (queries, responses) => scoreRows(model, head, queryResponseBatch(queries, responses, ctx.padTokenId)),
    dispose() {
      head.dispose();
      model.dispose();
    },
  };
}
