/**
 * The forward and loss paths over a family's module tree: logits with HF's shifted causal-LM loss, the loss alone
 * through the fused linear cross-entropy, per-token log-probs for preference losses, and the last hidden state.
 */
import {
  add,
  crossEntropy,
  linearCrossEntropy,
  matmul,
  noGrad,
  scale,
  scope,
  shiftLabels,
  sumLastDim,
  Tensor,
  tokenLogProbs,
} from '../engine/index.js';
import { Linear } from '../nn/linear.js';
import { LoraLinear } from '../nn/lora-linear.js';
import { type CausalLMModule, type ForwardContext, headPathOf } from './family.js';
import { moduleAt as moduleAtPath } from './parameters.js';
import { type TokenBatch, toTokenTensor } from './token-batch.js';

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

/** The inputs that shape a pass (no labels or loss settings). */
export type PassInput = Omit<ForwardInput, 'labels' | 'lossReduction' | 'returnLogits'>;

/** logits (and the loss with labels), or with `returnLogits: false` the loss alone. */
export function forward(module: CausalLMModule, input: ForwardInput | LossOnlyInput): ForwardOutput | LossOutput {
  if (input.returnLogits === false) return { loss: fusedLoss(module, input) };
  const { ids, ctx, b, t } = prepare(module, input);
  const logits = module.forward(ids, ctx);
  if (input.labels === undefined) return { logits };
  const shifted = shiftedLabels(input.labels, b, t);
  const reduction = input.lossReduction ?? 'mean';
  const loss = crossEntropy(logits.reshape([b * t, module.cfg.vocabSize]), shifted, { reduction });
  return { logits, loss: withRouterAuxLoss(module, loss, logits, shifted, reduction) };
}

/** The loss of LossOnlyInput: the last hidden state [B*T, C] and the head weight [V, C] into linearCrossEntropy. */
function fusedLoss(module: CausalLMModule, input: LossOnlyInput): Tensor {
  const weight = fusableHeadWeight(module);
  const reduction = input.lossReduction ?? 'mean';
  if (!weight) {
    const { loss } = forward(module, { ...input, returnLogits: true }) as ForwardOutput;
    return loss as Tensor;
  }
  const { ids, ctx, b, t } = prepare(module, input);
  const shifted = shiftedLabels(input.labels, b, t);
  const hidden = module.model.forward(ids, ctx);
  // A tied head's weight is the embedding matrix itself: autograd adds this gradient to the lookup's.
  const loss = linearCrossEntropy(hidden.reshape([b * t, module.cfg.hiddenSize]), weight, shifted, { reduction });
  return withRouterAuxLoss(module, loss, hidden, shifted, reduction);
}

/**
 * The loss plus an MoE model's router_aux_loss_coef x load-balancing loss, as HF's MoE causal LMs add it when
 * output_router_logits. A summed loss gets the aux term times its counted tokens, so once the trainer divides by the
 * accumulated batch's tokens the aux term is the token-weighted mean over the micro-batches.
 */
function withRouterAuxLoss(
  module: CausalLMModule,
  loss: Tensor,
  anchor: Tensor,
  shifted: Tensor,
  reduction: 'mean' | 'sum',
): Tensor {
  if (!module.routerAuxLoss) return loss;
  let weight = 1;
  if (reduction === 'sum') weight = shifted.toInt32Array().reduce((n, y) => (y === -100 ? n : n + 1), 0);
  const aux = module.routerAuxLoss(anchor, weight);
  return aux ? add(loss, aux) : loss;
}

/**
 * Log-probs [B, T] of each next token (labels[:, t + 1]; 0 where that label is -100), recorded when the tape is on,
 * and each position's sum of logits over the vocabulary [B * T] (LLaMA-Factory's logits/* metrics), without
 * [B, T, V] logits when the head is a plain projection: the fused linear cross-entropy gives the log-probs, and
 * sum_v h . W[v] = h . (sum_v W[v]) gives the sums. DPO, KTO and the like need nothing else from the logits.
 */
export function labelLogProbs(
  module: CausalLMModule,
  input: ForwardInput & { labels: TokenBatch },
): { logProbs: Tensor; logitSums: Float32Array } {
  const weight = fusableHeadWeight(module);
  const { ids, ctx, b, t } = prepare(module, input);
  const shifted = shiftedLabels(input.labels, b, t);
  const { hiddenSize: c, vocabSize: v } = module.cfg;
  if (!weight) {
    const logits = module.forward(ids, ctx).reshape([b * t, v]);
    const logitSums = noGrad(() => scope(() => sumLastDim(logits.detach()).toFloat32Array()));
    return { logProbs: tokenLogProbs(logits, shifted).reshape([b, t]), logitSums };
  }
  const hidden = module.model.forward(ids, ctx).reshape([b * t, c]);
  const logitSums = noGrad(() =>
    scope(() => {
      const weightSum = matmul(Tensor.from(new Float32Array(v).fill(1), [1, v]), weight); // [1, C]
      return matmul(hidden.detach(), weightSum, { transB: true }).toFloat32Array(); // [B * T, 1]
    }),
  );
  const nll = linearCrossEntropy(hidden, weight, shifted, { reduction: 'none' });
  return { logProbs: scale(nll, -1).reshape([b, t]), logitSums };
}

/** The last hidden state [B, T, C] (after the final norm, before the LM head). */
export function hiddenStates(module: CausalLMModule, input: PassInput): Tensor {
  const { ids, ctx } = prepare(module, input);
  return module.model.forward(ids, ctx);
}

/** The head's weight when the head is a plain bias-free projection (a live LoRA head needs the logits path). */
function fusableHeadWeight(module: CausalLMModule): Tensor | null {
  const own = module.fusedHeadWeight?.();
  if (own !== undefined) return own;
  const head = moduleAtPath(module, headPathOf(module));
  const linear = head instanceof LoraLinear ? (head.enabled ? null : head.base) : head;
  return linear instanceof Linear && !linear.bias && !linear.quantized ? linear.weight : null;
}

/** labels [B, T] -> HF's shifted labels [B*T] (labels[:, t + 1]; -100 at each row's end). */
function shiftedLabels(labels: TokenBatch, b: number, t: number): Tensor {
  const y = toTokenTensor(labels, 'labels');
  if (y.shape[0] !== b || y.shape[1] !== t) throw new Error(`labels is [${y.shape}], inputIds is [${b}, ${t}]`);
  return shiftLabels(y).reshape([b * t]);
}

/** Token tensors and the forward context shared by every layer (checked shapes, default positions, RoPE). */
function prepare(
  module: CausalLMModule,
  input: PassInput,
): {
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
  const rope = module.model.ropeFrequencies(maxPosition);
  const ctx: ForwardContext = { positionIds, rope };
  if (keyMask) ctx.keyMask = keyMask;
  if (segmentIds) ctx.segmentIds = segmentIds;
  return { ids, ctx, b, t };
}
