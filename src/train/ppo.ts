/**
 * Stage ppo: LLaMA-Factory's CustomPPOTrainer.ppo_train on TRL 0.9's PPOTrainer.step. Each PPO step takes
 * per_device_train_batch_size x gradient_accumulation_steps x ppo_buffer_size prompts and
 * 1. generates a response per prompt with the policy (eval mode, no tape, the generating arguments), mini-batch by
 *    mini-batch (through the serving scheduler when the family has paged attention: predict-generation.ts), cut
 *    after the last non-pad token (get_inputs), and scores query + response (ppo-reward.ts);
 * 2. computes, with the tape off, the policy's log-probs and values and the reference's log-probs of the response
 *    tokens; per-token rewards -kl_coef * (logp - ref_logp) with the (optionally normalised) score added on the last
 *    token; GAE advantages, whitened (ppo-math.ts);
 * 3. runs ppo_epochs passes over a shuffled order of the rollout: mini-batches of per_device_train_batch_size
 *    accumulate over gradient_accumulation_steps into one optimizer update each (clipped policy + value loss,
 *    gradient clipping at max_grad_norm);
 * 4. updates the adaptive KL coefficient and steps the LR schedule once.
 * The policy carries a value head (TRL's ValueHead on the last hidden state) trained with it and saved as
 * value_head.safetensors beside the adapter or model. The reference follows create_ref_model (LoRA: the adapter
 * disabled). Resuming is not supported, as in LLaMA-Factory.
 */
import type { SupervisedRecord } from '../data/processors/types.js';
import type { Template } from '../data/template/index.js';
import { currentWorld } from '../dist/world.js';
import { add, mul, noGrad, scope, sumAll, type Tensor } from '../engine/index.js';
import { samplingOptions, type TrainArgs } from '../hparams/index.js';
import type { CausalLM } from '../models/causal-lm.js';
import type { Tokenizer } from '../tokenizer/tokenizer.js';
import { maxOf, pushAll } from '../util/arrays.js';
import { DataOrder } from './data-order.js';
import type { Reference } from './dpo.js';
import {
  AdaptiveKLController,
  computeAdvantages,
  klPenaltyRewards,
  PPO_DEFAULTS,
  ppoLoss,
  RunningMoments,
  scaleScores,
} from './ppo-math.js';
import { exchangeRows, rankShare, rowsGenerator } from './ppo-ranks.js';
import { createRewardSource } from './ppo-reward.js';
import { gather, generateResponses, mean, ppoForward, ppoStopIds, type Sample, scatter } from './ppo-rollout.js';
import { pyRound } from './py-format.js';
import { createReference } from './reference.js';
import { ValueHead } from './rm.js';
import { TrainError } from './run-setup.js';
import type { Metrics, Stage, StepOutcome } from './stage.js';

export interface PpoContext {
  /** The policy, its training mode set up (LoRA, freeze or full); its generator drives the value head's dropout. */
  model: CausalLM;
  tokenizer: Tokenizer;
  template: Template;
  /** Prompts from the unsupervised processor (input_ids end with the assistant header). */
  prompts: readonly SupervisedRecord[];
  storage: 'f32' | 'bf16' | 'f16';
  log: (message: string) => void;
  signal?: AbortSignal;
}

/** Per-step values PPO logs beside the loss (means over the logging interval). */
interface PpoMetrics extends Metrics {
  reward: number;
  kl: number;
  policy_loss: number;
  value_loss: number;
}

export async function ppoStage(args: TrainArgs, ctx: PpoContext): Promise<Stage> {
  const { model, tokenizer, template, prompts, log } = ctx;
  const { model: ma, finetuning: fa, training: ta, generating: g } = args;
  if (g.num_beams > 1) throw new TrainError('num_beams > 1 (beam search) is not implemented; use num_beams: 1');
  const world = currentWorld();
  const mini = ta.per_device_train_batch_size;
  // A global mini-batch: every rank's per-device batch (one process: its own).
  const width = mini * world.size;
  const hidden = model.config.hiddenSize;
  const accumulation = ta.gradient_accumulation_steps;
  const batchSize = width * accumulation * fa.ppo_buffer_size;
  const stepsPerEpoch = Math.floor(prompts.length / batchSize);
  if (stepsPerEpoch === 0)
    throw new TrainError(
      `a PPO step takes per_device_train_batch_size x${world.size > 1 ? ` ${world.size} ranks x` : ''} gradient_accumulation_steps x ppo_buffer_size = ${batchSize} prompts, but the training set has ${prompts.length}; lower them or add data`,
    );
  const maxSteps = ta.max_steps > 0 ? ta.max_steps : Math.ceil(ta.num_train_epochs * stepsPerEpoch);
  const stepsInEpoch = ta.max_steps > 0 ? ta.max_steps : stepsPerEpoch;
  // LLaMA-Factory sizes the schedule with ceil(examples / batch) steps per epoch (its loop drops the last partial batch)
  const scheduleSteps = ta.max_steps > 0 ? ta.max_steps : ta.num_train_epochs * Math.ceil(prompts.length / batchSize);

  const eosId = tokenizer.eosTokenId;
  const padId = tokenizer.padTokenId ?? eosId ?? 0;
  const stop = ppoStopIds(tokenizer, template);
  const sampling = samplingOptions(g);
  const promptLimit = (rows: readonly SupervisedRecord[]) => maxOf(rows.map((r) => r.input_ids.length));
  const maxNewTokens = (rows: readonly SupervisedRecord[]) =>
    g.max_new_tokens > 0 ? g.max_new_tokens : g.max_length - promptLimit(rows);

  const headDirs = [...(ma.adapter_name_or_path ?? [])].reverse().concat([ma.model_name_or_path as string]);
  const { head, from } = ValueHead.loadOrInit(headDirs, model.config.hiddenSize, ta.seed);
  if (from) log(`loaded the value head from ${from}`);
  let reference: Reference | null = null;
  let reward: Awaited<ReturnType<typeof createRewardSource>> | null = null;
  const dispose = () => {
    reward?.dispose();
    if (reference?.kind === 'model') reference.model.dispose();
    head.dispose();
  };
  try {
    reference = await createReference(args, { storage: ctx.storage, log });
    reward = await createRewardSource(args, model, tokenizer, {
      storage: ctx.storage,
      padTokenId: padId,
      log,
      ...(ctx.signal ? { signal: ctx.signal } : {}),
    });
  } catch (e) {
    dispose();
    throw e;
  }
  const ref = reference;
  const scorer = reward;
  const kl = new AdaptiveKLController(PPO_DEFAULTS.initKlCoef, fa.ppo_target, PPO_DEFAULTS.horizon);
  const moments = new RunningMoments();
  const order = new DataOrder(prompts.length, batchSize, 1, ta.seed, !fa.disable_shuffling);
  let permutationEpoch = -1;
  let permutation: Int32Array = new Int32Array(0);
  const trainableCount = () =>
    [...model.trainableParameters(), ...head.parameters()].reduce((a, [, t]) => a + t.numel, 0);

  /** One PPO step: rollout and scores, old log-probs/values and rewards, then ppo_epochs of mini-batch updates. */
  async function trainStep(step: number, optimize: (loss: number) => number): Promise<StepOutcome> {
    const rng = model.rng;
    const epoch = Math.floor(step / stepsPerEpoch);
    if (permutationEpoch !== epoch) {
      permutation = order.permutation(epoch);
      permutationEpoch = epoch;
    }
    const first = (step % stepsPerEpoch) * batchSize;
    const records = Array.from(permutation.subarray(first, first + batchSize), (i) => prompts[i] as SupervisedRecord);
    // Under mpirun this rank takes its slice of each global mini-batch (ppo-ranks.ts); one process takes them all.
    const mine = rankShare(records, world, mini);

    // 1. Rollout (through the scheduler when the family has paged attention), then scores mini-batch by mini-batch.
    const chunks = Array.from({ length: batchSize / width }, (_, k) => records.slice(k * width, (k + 1) * width));
    const myResponses = await generateResponses(
      model,
      mine.map((r) => r.input_ids),
      {
        maxNewTokens: chunks.map((chunk) => Math.max(1, maxNewTokens(chunk))),
        sampling,
        stop,
        padId,
        eosId,
        miniBatch: mini,
        seed: (ta.seed * 1_000_003 + step * batchSize + world.rank * mine.length) >>> 0,
      },
    );
    const myScores: number[] = [];
    for (let m = 0; m < mine.length; m += mini)
      pushAll(
        myScores,
        await scorer.score(
          mine.slice(m, m + mini).map((r) => r.input_ids),
          myResponses.slice(m, m + mini),
        ),
      );
    const responses = exchangeRows(world, myResponses, mini).map((r) => Array.from(r));
    const scores = exchangeRows(
      world,
      myScores.map((x) => [x]),
      mini,
    ).map((r) => r[0] as number);
    const samples: Sample[] = records.map((r, i) => ({ query: r.input_ids, response: responses[i] as number[] }));
    const tokensOf = (ids: readonly number[]) => ids.map((i) => (samples[i] as Sample).response.length);

    // 2. Old log-probs and values (train mode, as TRL runs them), reference log-probs, rewards, advantages.
    model.train();
    const myOld: { logprobs: Float64Array[]; values: Float64Array[]; ref: Float64Array[] } = {
      logprobs: [],
      values: [],
      ref: [],
    };
    for (let m = 0; m < batchSize; m += width) {
      const ids = Array.from({ length: width }, (_, j) => m + j);
      const chunk = ids.slice(world.rank * mini, (world.rank + 1) * mini).map((i) => samples[i] as Sample);
      const dropoutRng = rowsGenerator(rng, tokensOf(ids), world.rank * mini, hidden);
      scope(() =>
        noGrad(() => {
          const pass = ppoForward(model, head, chunk, padId, dropoutRng);
          pushAll(myOld.logprobs, gather(pass.logprobs.toFloat32Array(), pass.index));
          pushAll(myOld.values, gather((pass.values as Tensor).toFloat32Array(), pass.index));
          const refPass =
            ref.kind === 'model'
              ? ppoForward(ref.model, null, chunk, padId)
              : model.withAdapterDisabled(() => ppoForward(model, null, chunk, padId));
          pushAll(myOld.ref, gather(refPass.logprobs.toFloat32Array(), refPass.index));
        }),
      );
    }
    const oldLogprobs = exchangeRows(world, myOld.logprobs, mini);
    const oldValues = exchangeRows(world, myOld.values, mini);
    const refLogprobs = exchangeRows(world, myOld.ref, mini);
    const usedScores = fa.ppo_score_norm ? scaleScores(scores, moments, true) : scores;
    const rewards = klPenaltyRewards(usedScores, oldLogprobs, refLogprobs, kl.value);
    const { advantages, returns } = computeAdvantages(oldValues, rewards.rewards, {
      gamma: PPO_DEFAULTS.gamma,
      lam: PPO_DEFAULTS.lam,
      whitenRewards: fa.ppo_whiten_rewards,
    });

    // 3. PPO epochs over shuffled global mini-batches (this rank: its slice of each); gradient_accumulation_steps
    // mini-batches per optimizer update, the ranks' gradients summed by `optimize`.
    const miniStats: { loss: number; policy: number; value: number }[] = [];
    let norm = 0;
    const shuffler = new DataOrder(batchSize, width, 1, (ta.seed + 7919 * (step + 1)) >>> 0, true);
    for (let e = 0; e < fa.ppo_epochs; e++) {
      const perm = shuffler.permutation(e);
      for (let start = 0; start < batchSize; start += width * accumulation) {
        for (let m = start; m < start + width * accumulation; m += width) {
          const globalIds = Array.from(perm.subarray(m, m + width));
          const tokens = tokensOf(globalIds);
          const ids = globalIds.slice(world.rank * mini, (world.rank + 1) * mini);
          const pick = <T>(xs: readonly T[]) => ids.map((i) => xs[i] as T);
          const chunk = pick(samples);
          const dropoutRng = rowsGenerator(rng, tokens, world.rank * mini, hidden);
          scope(() => {
            const pass = ppoForward(model, head, chunk, padId, dropoutRng);
            const values = pass.values as Tensor;
            const result = ppoLoss(
              {
                oldLogprobs: pick(oldLogprobs),
                oldValues: pick(oldValues),
                logprobs: gather(pass.logprobs.toFloat32Array(), pass.index),
                values: gather(values.toFloat32Array(), pass.index),
                advantages: pick(advantages),
                returns: pick(returns),
              },
              { ...PPO_DEFAULTS, ratioThreshold: Number.POSITIVE_INFINITY },
              tokens.reduce((a, b) => a + b, 0),
            );
            // The global mini-batch's means are the sums of the ranks' shares; it is skipped on its mean ratio.
            const [policy, value, ratioMean] = world.sumValues([result.policyLoss, result.valueLoss, result.ratioMean]);
            const skipped = (ratioMean as number) > PPO_DEFAULTS.ratioThreshold;
            miniStats.push(
              skipped
                ? { loss: 0, policy: 0, value: 0 }
                : {
                    loss: (policy as number) + PPO_DEFAULTS.vfCoef * (value as number),
                    policy: policy as number,
                    value: value as number,
                  },
            );
            // The loss's gradient reaches the graph through a surrogate sum(g * x) with g = dloss/dx held
            // constant; accelerate divides each mini-batch's loss by the accumulation steps.
            const size = pass.logprobs.numel;
            const factor = skipped ? 0 : 1 / accumulation;
            const surrogate = add(
              sumAll(mul(pass.logprobs, scatter(result.gradLogprobs, pass.index, size, factor))),
              sumAll(mul(values, scatter(result.gradValues, pass.index, size, factor))),
            );
            surrogate.backward();
          });
        }
        norm = optimize(miniStats.at(-1)?.loss ?? 0);
      }
    }

    // 4. The KL controller (once per PPO step; the loop steps the schedule) and the step's statistics.
    const meanKl = mean(rewards.kl);
    kl.update(meanKl, batchSize);
    const metrics: PpoMetrics = {
      reward: mean(scores),
      kl: meanKl,
      policy_loss: mean(miniStats.map((s) => s.policy)),
      value_loss: mean(miniStats.map((s) => s.value)),
    };
    return { loss: mean(miniStats.map((s) => s.loss)), gradNorm: norm, metrics: [metrics], inputTokens: 0 };
  }

  return {
    plan: {
      maxSteps,
      numTrainEpochs: ta.max_steps > 0 ? Math.ceil(maxSteps / stepsPerEpoch) : Math.ceil(ta.num_train_epochs),
      scheduleSteps,
      // LLaMA-Factory's PPO epoch: the 0-based step over the steps in an epoch, to 2 digits.
      epochAfter: (step) => pyRound(step / stepsInEpoch, 2),
      endsEpoch: (step) => (step + 1) % stepsPerEpoch === 0,
      samples: maxSteps * batchSize,
      get banner() {
        return `***** Running PPO ***** prompts ${prompts.length}, ${batchSize} per step (batch ${mini}${world.size > 1 ? ` x ${world.size} ranks` : ''} x accumulation ${accumulation} x buffer ${fa.ppo_buffer_size}), ppo_epochs ${fa.ppo_epochs}, steps ${maxSteps}, trainable params ${trainableCount().toLocaleString('en-US')}`;
      },
    },
    trainStep,
    // CustomPPOTrainer's log: the interval's means, the lr this step used and the KL coefficient now.
    logMetrics(interval, lr) {
      const of = (k: 'reward' | 'kl' | 'policy_loss' | 'value_loss') =>
        interval.map((o) => (o.metrics[0] as PpoMetrics)[k]);
      return {
        loss: pyRound(mean(interval.map((o) => o.loss)), 4),
        reward: pyRound(mean(of('reward')), 4),
        learning_rate: lr,
        kl: mean(of('kl')),
        kl_coef: kl.value,
        policy_loss: mean(of('policy_loss')),
        value_loss: mean(of('value_loss')),
      };
    },
    reportsLr: 'used',
    resumable: false,
    nonFiniteAdvice: () =>
      'Lower learning_rate, set max_grad_norm (e.g. 1.0) and check the reward scale (ppo_score_norm: true normalises it)',
    extraParameters: () => head.parameters(),
    saveExtra: (dir) => head.save(dir),
    plotKeys: ['reward'],
    dispose,
  };
}
