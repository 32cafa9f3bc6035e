/**
 * Stage rm: LLaMA-Factory's PairwiseTrainer on TRL's AutoModelForCausalLMWithValueHead. A value head (dropout 0.1,
 * then Linear hidden -> 1, named `v_head.summary.weight` [1, C] / `v_head.summary.bias` [1] as TRL names it) reads
 * the causal LM's final hidden states; a sequence's score is the value at its last non-padding token; the loss is
 * -logsigmoid(score_chosen - score_rejected) averaged over the pairs. Evaluation reports accuracy (chosen scored
 * above rejected). The head is saved as `value_head.safetensors` beside the adapter or model, as LLaMA-Factory's
 * fix_valuehead_checkpoint does, and loaded from there when training or scoring resumes from a folder.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { type CollatedBatch, type CollatorOptions, collatePairwise } from '../data/collator.js';
import type { PairwiseRecord } from '../data/processors/types.js';
import {
  axpy_,
  dropout,
  fill_,
  Generator,
  keep,
  linear,
  logSigmoid,
  meanAll,
  noGrad,
  scale,
  scope,
  sub,
  Tensor,
  takeRows,
  uniform_,
} from '../engine/index.js';
import { SafetensorsFile, writeSafetensors } from '../io/safetensors.js';
import type { CausalLM } from '../models/causal-lm.js';
import { countNonZero } from './sft.js';
import { backwardMeanShare, type Objective } from './stage.js';

export const VALUE_HEAD_FILE = 'value_head.safetensors';
export const VALUE_HEAD_WEIGHT = 'v_head.summary.weight';
export const VALUE_HEAD_BIAS = 'v_head.summary.bias';
/** TRL's ValueHead summary_dropout_prob default. */
export const VALUE_HEAD_DROPOUT = 0.1;

/** TRL's ValueHead: dropout, then a [1, C] linear map of each hidden state to a scalar value. */
export class ValueHead {
  readonly weight: Tensor;
  readonly bias: Tensor;

  private constructor(weight: Tensor, bias: Tensor) {
    this.weight = keep(weight);
    this.bias = keep(bias);
    this.weight.name = VALUE_HEAD_WEIGHT;
    this.bias.name = VALUE_HEAD_BIAS;
    // trained with the model (rm, ppo's policy); a scoring head is frozen with freeze()
    this.weight.requiresGrad = true;
    this.bias.requiresGrad = true;
  }

  /** Scoring only (a reward model): no gradient reaches the head. */
  freeze(): this {
    this.weight.requiresGrad = false;
    this.bias.requiresGrad = false;
    return this;
  }

  /** nn.Linear's default init: weight and bias ~ U(-1/sqrt(C), 1/sqrt(C)). */
  static init(hiddenSize: number, seed: number): ValueHead {
    const gen = new Generator(seed);
    const bound = 1 / Math.sqrt(hiddenSize);
    return new ValueHead(
      uniform_(Tensor.empty([1, hiddenSize]), gen, -bound, bound),
      uniform_(Tensor.empty([1]), gen, -bound, bound),
    );
  }

  /** Reads `value_head.safetensors` in dir; checks the shapes against the model's hidden size. */
  static load(dir: string, hiddenSize: number): ValueHead {
    const path = join(dir, VALUE_HEAD_FILE);
    const file = SafetensorsFile.open(path);
    try {
      const w = file.load(VALUE_HEAD_WEIGHT, { dtype: 'f32' });
      const b = file.load(VALUE_HEAD_BIAS, { dtype: 'f32' });
      if (w.shape.length !== 2 || w.shape[0] !== 1 || w.shape[1] !== hiddenSize || b.numel !== 1)
        throw new Error(
          `${path}: the value head is [${w.shape}] + [${b.shape}], expected [1, ${hiddenSize}] + [1] for this model's hidden size`,
        );
      return new ValueHead(w, b.reshape([1]));
    } finally {
      file.close();
    }
  }

  /** The head in the first of dirs that holds value_head.safetensors, else a new one. */
  static loadOrInit(dirs: readonly string[], hiddenSize: number, seed: number): { head: ValueHead; from?: string } {
    const dir = dirs.find((d) => existsSync(join(d, VALUE_HEAD_FILE)));
    return dir ? { head: ValueHead.load(dir, hiddenSize), from: dir } : { head: ValueHead.init(hiddenSize, seed) };
  }

  parameters(): [string, Tensor][] {
    return [
      [VALUE_HEAD_WEIGHT, this.weight],
      [VALUE_HEAD_BIAS, this.bias],
    ];
  }

  /** Copies values in place (resume): the optimizer keeps pointing at the same tensors. */
  copyFrom(other: ValueHead): void {
    for (const [dst, src] of [
      [this.weight, other.weight],
      [this.bias, other.bias],
    ] as const)
      axpy_(1, src, fill_(dst, 0));
  }

  save(dir: string): void {
    writeSafetensors(
      join(dir, VALUE_HEAD_FILE),
      new Map([
        [VALUE_HEAD_WEIGHT, this.weight],
        [VALUE_HEAD_BIAS, this.bias],
      ]),
      { metadata: { format: 'pt' } },
    );
  }

  dispose(): void {
    this.weight.dispose();
    this.bias.dispose();
  }
}

/** Row index (into B * T) of each row's last non-padding token: sum(attention_mask) - 1, as LLaMA-Factory gathers. */
export function lastTokenRows(mask: { data: Int32Array; shape: readonly [number, number] }): number[] {
  const [b, t] = mask.shape;
  return Array.from(
    { length: b },
    (_, r) => r * t + Math.max(countNonZero(mask.data.subarray(r * t, (r + 1) * t)) - 1, 0),
  );
}

/**
 * Scores [R] of a batch's rows: the value head on the final hidden states, at each row's last non-padding token.
 * `generator` enables the head's training dropout.
 */
export function sequenceScores(model: CausalLM, head: ValueHead, batch: CollatedBatch, generator?: Generator): Tensor {
  const [rows, t] = batch.inputIds.shape;
  const hidden = model.hiddenStates({ inputIds: batch.inputIds, attentionMask: batch.attentionMask });
  const c = hidden.shape[2] as number;
  const dropped = generator ? dropout(hidden, VALUE_HEAD_DROPOUT, { generator }) : hidden;
  const values = linear(dropped.reshape([rows * t, c]), head.weight, head.bias); // [R * T, 1]
  return takeRows(values, lastTokenRows(batch.attentionMask)).reshape([rows]);
}

export interface RewardModelObjectiveOptions {
  collateOptions: CollatorOptions;
  head: ValueHead;
}

/** The pairwise ranking loss and accuracy; batches hold B chosen rows, then their B rejected rows. */
export function rewardModelObjective(
  model: CausalLM,
  o: RewardModelObjectiveOptions,
): Objective<PairwiseRecord, CollatedBatch> {
  const { head } = o;
  const pairScores = (batch: CollatedBatch, generator?: Generator) => {
    const scores = sequenceScores(model, head, batch, generator);
    const pairs = batch.inputIds.shape[0] / 2;
    const idx = Array.from({ length: pairs }, (_, i) => i);
    return {
      chosen: takeRows(scores, idx),
      rejected: takeRows(
        scores,
        idx.map((i) => i + pairs),
      ),
      pairs,
    };
  };
  const lossOf = (s: { chosen: Tensor; rejected: Tensor }) => scale(meanAll(logSigmoid(sub(s.chosen, s.rejected))), -1);
  return {
    collate: (records) => collatePairwise(records, o.collateOptions),
    inputTokens: (b) => countNonZero(b.attentionMask.data),
    step(batch, update) {
      return scope(() => {
        const generator = model.module.model.rng;
        const loss = lossOf(pairScores(batch, generator));
        return { loss: backwardMeanShare(loss, update.length), metrics: {} };
      });
    },
    evaluate(batch) {
      return scope(() =>
        noGrad(() => {
          const s = pairScores(batch);
          const c = s.chosen.toFloat32Array();
          const r = s.rejected.toFloat32Array();
          const wins = Array.from(c).filter((v, i) => v > (r[i] as number)).length;
          return { loss: lossOf(s).item(), count: s.pairs, metrics: { accuracy: wins / s.pairs } };
        }),
      );
    },
    extraParameters: () => head.parameters(),
    saveExtra: (dir) => head.save(dir),
    loadExtra(dir) {
      const saved = ValueHead.load(dir, head.weight.shape[1] as number);
      head.copyFrom(saved);
      saved.dispose();
    },
    plotKeys: ['eval_accuracy'],
    dispose: () => head.dispose(),
  };
}
