/**
 * Stage ppo: LLaMA-Factory's CustomPPOTrainer.ppo_train on TRL 0.9's PPOTrainer.step. Each PPO step takes
 * per_device_train_batch_size x gradient_accumulation_steps x ppo_buffer_size prompts and
 * 1. generates a response per prompt with the policy (eval mode, no tape, the generating arguments), mini-batch by
 *    mini-batch, cut after the last non-pad token (get_inputs), and scores query + response (ppo-reward.ts);
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
import { join } from 'node:path';
import type { SupervisedRecord } from '../data/processors/types.js';
import type { Template } from '../data/template/index.js';
import {
  add,
  clipGradNorm_,
  dropout,
  type Generator,
  gradNorm,
  linear,
  mul,
  noGrad,
  scope,
  sumAll,
  Tensor,
  takeRows,
  tokenLogProbs,
} from '../engine/index.js';
import { samplingOptions, type TrainArgs, writeTrainingArgsYaml } from '../hparams/index.js';
import type { CausalLM } from '../models/causal-lm.js';
import type { Tokenizer } from '../tokenizer/tokenizer.js';
import { maxOf, pushAll } from '../util/arrays.js';
import { rotateCheckpoints, saveTrainingCheckpoint } from './checkpoints.js';
import { DataOrder } from './data-order.js';
import type { Reference } from './dpo.js';
import { plotLoss } from './plot.js';
import {
  AdaptiveKLController,
  computeAdvantages,
  klPenaltyRewards,
  PPO_DEFAULTS,
  ppoLoss,
  RunningMoments,
  scaleScores,
} from './ppo-math.js';
import { createRewardSource, queryResponseBatch } from './ppo-reward.js';
import { Progress } from './progress.js';
import { pyRound } from './py-format.js';
import { saveMetrics, speedMetrics } from './results.js';
import { VALUE_HEAD_DROPOUT, ValueHead } from './rm.js';
import { createOptimizer, createScheduler, TrainError } from './run-setup.js';
import { createReference } from './stages.js';
import type { TrainOptions, TrainResult } from './trainer.js';
import { TrainerLogWriter } from './trainer-log.js';
import { type LogEntry, TrainerState } from './trainer-state.js';

export interface PpoRun {
  args: TrainArgs;
  /** The policy, its training mode set up (LoRA, freeze or full). */
  model: CausalLM;
  tokenizer: Tokenizer;
  template: Template;
  /** Prompts from the unsupervised processor (input_ids end with the assistant header). */
  prompts: readonly SupervisedRecord[];
  storage: 'f32' | 'bf16' | 'f16';
  options: TrainOptions;
  log: (message: string) => void;
}

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

interface PassResult {
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

function gather(values: Float32Array, index: readonly number[][]): Float64Array[] {
  return index.map((row) => Float64Array.from(row, (i) => values[i] as number));
}

function scatter(rows: readonly Float64Array[], index: readonly number[][], size: number, factor: number): Tensor {
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
function mean(xs: readonly number[]): number {
  return xs.length === 0 ? Number.NaN : xs.reduce((a, b) => a + b, 0) / xs.length;
}

export async function trainPpo(run: PpoRun): Promise<TrainResult> {
  const { args, model, tokenizer, template, prompts, options, log } = run;
  const { model: ma, finetuning: fa, training: ta, generating: g } = args;
  const outputDir = ta.output_dir;
  if (g.num_beams > 1) throw new TrainError('num_beams > 1 (beam search) is not implemented; use num_beams: 1');
  const mini = ta.per_device_train_batch_size;
  const accumulation = ta.gradient_accumulation_steps;
  const batchSize = mini * accumulation * fa.ppo_buffer_size;
  const stepsPerEpoch = Math.floor(prompts.length / batchSize);
  if (stepsPerEpoch === 0)
    throw new TrainError(
      `a PPO step takes per_device_train_batch_size x gradient_accumulation_steps x ppo_buffer_size = ${batchSize} prompts, but the training set has ${prompts.length}; lower them or add data`,
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
  const trainable = [...model.trainableParameters(), ...head.parameters()];
  const optimizer = createOptimizer(trainable, ta);
  const dispose = () => {
    reward?.dispose();
    if (reference?.kind === 'model') reference.model.dispose();
    optimizer.dispose();
    head.dispose();
  };
  try {
    reference = await createReference(args, { storage: run.storage, log });
    reward = await createRewardSource(args, model, tokenizer, {
      storage: run.storage,
      padTokenId: padId,
      log,
      ...(options.signal ? { signal: options.signal } : {}),
    });
  } catch (e) {
    dispose();
    throw e;
  }
  const scheduler = createScheduler(scheduleSteps, ta);
  // The policy's own dropout stream (its LoRA layers hold it), so the checkpoint records the stream they read.
  const rng = model.rng.manualSeed(ta.seed);
  const kl = new AdaptiveKLController(PPO_DEFAULTS.initKlCoef, fa.ppo_target, PPO_DEFAULTS.horizon);
  const moments = new RunningMoments();
  const order = new DataOrder(prompts.length, batchSize, 1, ta.seed, !fa.disable_shuffling);
  const parts = {
    model,
    optimizer,
    scheduler,
    rng,
    tokenizer,
    extra: { saveExtra: (dir: string) => head.save(dir) },
  };

  const state = TrainerState.begin({
    maxSteps,
    numTrainEpochs: ta.max_steps > 0 ? Math.ceil(maxSteps / stepsPerEpoch) : Math.ceil(ta.num_train_epochs),
    trainBatchSize: mini,
    loggingSteps: ta.logging_steps,
    evalSteps: ta.eval_steps,
    saveSteps: ta.save_steps,
  });
  const logWriter = new TrainerLogWriter(outputDir, { overwrite: ta.overwrite_output_dir });
  logWriter.reset(maxSteps);
  writeTrainingArgsYaml(join(outputDir, 'training_args.yaml'), args);
  log(
    `***** Running PPO ***** prompts ${prompts.length}, ${batchSize} per step (batch ${mini} x accumulation ${accumulation} x buffer ${fa.ppo_buffer_size}), ppo_epochs ${fa.ppo_epochs}, steps ${maxSteps}, trainable params ${trainable.reduce((a, [, t]) => a + t.numel, 0).toLocaleString('en-US')}`,
  );
  const progress = options.progress === false ? null : new Progress({ stream: options.progress ?? process.stderr });
  progress?.start(0, maxSteps);
  const save = (): string => {
    const dir = saveTrainingCheckpoint(outputDir, state, parts);
    rotateCheckpoints(outputDir, ta.save_total_limit);
    options.events?.onSave?.(dir);
    return dir;
  };

  const started = performance.now();
  const sinceLog: { loss: number[]; reward: number[]; kl: number[]; policy: number[]; value: number[] } = {
    loss: [],
    reward: [],
    kl: [],
    policy: [],
    value: [],
  };
  const stepLosses: number[] = [];
  let interrupted = false;
  let lastSaved = -1;
  let permutationEpoch = -1;
  let permutation: Int32Array = new Int32Array(0);
  try {
    for (let step = 0; step < maxSteps; step++) {
      const epoch = Math.floor(step / stepsPerEpoch);
      if (permutationEpoch !== epoch) {
        permutation = order.permutation(epoch);
        permutationEpoch = epoch;
      }
      const first = (step % stepsPerEpoch) * batchSize;
      const records = Array.from(permutation.subarray(first, first + batchSize), (i) => prompts[i] as SupervisedRecord);

      // 1. Rollout and scores, mini-batch by mini-batch.
      const samples: Sample[] = [];
      const scores: number[] = [];
      for (let m = 0; m < batchSize; m += mini) {
        const chunk = records.slice(m, m + mini);
        const queries = chunk.map((r) => r.input_ids);
        const { tokens } = model.generateDetailed(queries, {
          maxNewTokens: Math.max(1, maxNewTokens(chunk)),
          ...sampling,
          stop,
          padTokenId: padId,
          // one seed per generation call, so each step's draws differ and the run is reproducible
          seed: (ta.seed * 1_000_003 + step * batchSize + m) >>> 0,
        });
        const responses = tokens.map((t) => trimResponse(t, padId, eosId));
        pushAll(scores, await reward.score(queries, responses));
        chunk.forEach((r, i) => {
          samples.push({ query: r.input_ids, response: responses[i] as number[] });
        });
      }

      // 2. Old log-probs and values (train mode, as TRL runs them), reference log-probs, rewards, advantages.
      model.train();
      const oldLogprobs: Float64Array[] = [];
      const oldValues: Float64Array[] = [];
      const refLogprobs: Float64Array[] = [];
      for (let m = 0; m < batchSize; m += mini) {
        const chunk = samples.slice(m, m + mini);
        scope(() =>
          noGrad(() => {
            const pass = ppoForward(model, head, chunk, padId, rng);
            pushAll(oldLogprobs, gather(pass.logprobs.toFloat32Array(), pass.index));
            pushAll(oldValues, gather((pass.values as Tensor).toFloat32Array(), pass.index));
            const ref = reference as Reference;
            const refPass =
              ref.kind === 'model'
                ? ppoForward(ref.model, null, chunk, padId)
                : model.withAdapterDisabled(() => ppoForward(model, null, chunk, padId));
            pushAll(refLogprobs, gather(refPass.logprobs.toFloat32Array(), refPass.index));
          }),
        );
      }
      const usedScores = fa.ppo_score_norm ? scaleScores(scores, moments, true) : scores;
      const rewards = klPenaltyRewards(usedScores, oldLogprobs, refLogprobs, kl.value);
      const { advantages, returns } = computeAdvantages(oldValues, rewards.rewards, {
        gamma: PPO_DEFAULTS.gamma,
        lam: PPO_DEFAULTS.lam,
        whitenRewards: fa.ppo_whiten_rewards,
      });

      // 3. PPO epochs over shuffled mini-batches; gradient_accumulation_steps mini-batches per optimizer update.
      const lr = scheduler.lr;
      for (const group of optimizer.paramGroups) group.lr = lr;
      const miniStats: { loss: number; policy: number; value: number }[] = [];
      let norm = 0;
      const shuffler = new DataOrder(batchSize, mini, 1, (ta.seed + 7919 * (step + 1)) >>> 0, true);
      for (let e = 0; e < fa.ppo_epochs; e++) {
        const perm = shuffler.permutation(e);
        for (let start = 0; start < batchSize; start += mini * accumulation) {
          for (let m = start; m < start + mini * accumulation; m += mini) {
            const ids = Array.from(perm.subarray(m, m + mini));
            const pick = <T>(xs: readonly T[]) => ids.map((i) => xs[i] as T);
            const chunk = pick(samples);
            scope(() => {
              const pass = ppoForward(model, head, chunk, padId, rng);
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
                PPO_DEFAULTS,
              );
              miniStats.push({ loss: result.loss, policy: result.policyLoss, value: result.valueLoss });
              // The loss's gradient reaches the graph through a surrogate sum(g * x) with g = dloss/dx held
              // constant; accelerate divides each mini-batch's loss by the accumulation steps.
              const size = pass.logprobs.numel;
              const surrogate = add(
                sumAll(mul(pass.logprobs, scatter(result.gradLogprobs, pass.index, size, 1 / accumulation))),
                sumAll(mul(values, scatter(result.gradValues, pass.index, size, 1 / accumulation))),
              );
              surrogate.backward();
            });
          }
          const grads = trainable.map(([, t]) => t.grad);
          norm = ta.max_grad_norm > 0 ? clipGradNorm_(grads, ta.max_grad_norm) : gradNorm(grads);
          const lastLoss = miniStats.at(-1)?.loss ?? 0;
          if (!Number.isFinite(norm) || !Number.isFinite(lastLoss)) {
            optimizer.zeroGrad();
            state.global_step = step;
            const dir = save();
            throw new TrainError(
              `the PPO ${Number.isFinite(lastLoss) ? 'gradient norm' : 'loss'} became non-finite at step ${step + 1}; the weights before this update are saved in ${dir}. Lower learning_rate, set max_grad_norm (e.g. 1.0) and check the reward scale (ppo_score_norm: true normalises it)`,
            );
          }
          optimizer.step();
          optimizer.zeroGrad();
        }
      }

      // 4. Statistics, the KL controller and the schedule (once per PPO step).
      const meanKl = mean(rewards.kl);
      kl.update(meanKl, batchSize);
      scheduler.step();
      const stepLoss = mean(miniStats.map((s) => s.loss));
      stepLosses.push(stepLoss);
      sinceLog.loss.push(stepLoss);
      sinceLog.reward.push(mean(scores));
      sinceLog.kl.push(meanKl);
      sinceLog.policy.push(mean(miniStats.map((s) => s.policy)));
      sinceLog.value.push(mean(miniStats.map((s) => s.value)));
      state.global_step = step + 1;
      // LLaMA-Factory's PPO epoch: the 0-based step over the steps in an epoch, to 2 digits.
      state.epoch = pyRound(step / stepsInEpoch, 2);
      options.events?.onStep?.({ step: step + 1, maxSteps, loss: stepLoss, lr, epoch: state.epoch, gradNorm: norm });
      progress?.update({ step: step + 1, total: maxSteps, loss: stepLoss, lr, epoch: state.epoch });

      const last = step + 1 === maxSteps;
      if (
        ta.logging_strategy !== 'no' &&
        ((step + 1) % state.logging_steps === 0 || (last && sinceLog.loss.length > 0))
      ) {
        const entry: LogEntry = state.log({
          loss: pyRound(mean(sinceLog.loss), 4),
          reward: pyRound(mean(sinceLog.reward), 4),
          learning_rate: lr,
          kl: mean(sinceLog.kl),
          kl_coef: kl.value,
          policy_loss: mean(sinceLog.policy),
          value_loss: mean(sinceLog.value),
        });
        const line = logWriter.onLog(state);
        options.events?.onLog?.(entry, line);
        for (const k of Object.keys(sinceLog)) sinceLog[k as keyof typeof sinceLog] = [];
      }
      if (ta.save_strategy !== 'no' && (step + 1) % state.save_steps === 0) {
        save();
        lastSaved = state.global_step;
      }
      await new Promise((r) => setImmediate(r));
      if (options.signal?.aborted && !last) {
        interrupted = true;
        if (lastSaved !== state.global_step) save();
        log(
          `interrupted at step ${state.global_step}/${maxSteps}; the adapter/model and value head are in ${join(outputDir, `checkpoint-${state.global_step}`)} (PPO cannot resume: start a new run from them with adapter_name_or_path)`,
        );
        break;
      }
    }
    progress?.done();
    if (!interrupted) {
      // The results at the top of output_dir: weights + value head, tokenizer, state, metrics, plots.
      if (model.adapterConfig) model.saveAdapter(outputDir);
      else model.save(outputDir);
      head.save(outputDir);
      tokenizer.save(outputDir);
      state.save(outputDir);
      saveMetrics(outputDir, 'train', {
        epoch: state.epoch ?? 0,
        train_loss: mean(stepLosses),
        ...speedMetrics('train', (performance.now() - started) / 1000, {
          samples: state.global_step * batchSize,
          steps: state.global_step,
        }),
      });
      if (fa.plot_loss) {
        const { written } = plotLoss(outputDir, ['loss', 'reward']);
        for (const f of written) log(`wrote ${f}`);
      }
    }
  } finally {
    progress?.done();
    dispose();
  }
  const trainLoss = mean(stepLosses);
  return {
    outputDir,
    globalStep: state.global_step,
    maxSteps,
    trainLoss,
    interrupted,
    logHistory: state.log_history,
  };
}
