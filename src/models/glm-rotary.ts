/**
 * GLM's rotary position embedding (ChatGLM3's modeling_chatglm `apply_rotary_pos_emb`, transformers' models/glm):
 * only the first R = rotary_dim dims of each head rotate (ChatGLM3: half of kv_channels; GLM-4:
 * head_dim * partial_rotary_factor), in interleaved pairs (2i, 2i + 1) with inv_freq[i] = 1 / base^(2i / R); the
 * other D - R dims pass through unchanged.
 *
 * The engine's rope kernel rotates Llama's pairs (i, i + D/2) over the whole head. q and k are first reordered by one
 * fixed permutation of the head dim that puts every GLM pair (2i, 2i + 1) at (i, i + D/2) and the pass-through dims
 * on the remaining slots, whose frequency is 0 (cos 1, sin 0: unchanged). Attention only reads q . k, which the same
 * permutation of both leaves equal, so the permuted q and k go to attention (and the KV cache) as they are and no
 * inverse is needed. The permutation is an exact one-hot GEMM in f32 (whatever the matmul precision).
 * Shapes: B batch, T tokens, H heads, D head dim.
 */
import {
  keep,
  matmul,
  noGrad,
  type RopeFrequencies,
  record,
  rope,
  ropeInvFreq,
  Tensor,
  withMatmulPrecision,
} from '../engine/index.js';
import { type ModelConfig, ropeConfigOf } from '../io/model-config.js';
import type { ForwardContext } from './family.js';

/** How many dims of a head rotate (all of them outside GLM). */
export function rotaryDimOf(cfg: ModelConfig): number {
  return cfg.rotaryDim ?? cfg.headDim;
}

/**
 * The kernel's inv_freq [D/2] for the permuted layout: GLM's R/2 frequencies, then zeros for the pass-through slots.
 * maxPosition only matters for dynamic NTK scaling.
 */
export function glmRopeFrequencies(cfg: ModelConfig, maxPosition: number): RopeFrequencies {
  const rotary = ropeInvFreq(ropeConfigOf(cfg), rotaryDimOf(cfg), maxPosition + 1);
  if (rotary.attentionFactor !== 1)
    throw new Error(`GLM rotary: rope attention factor ${rotary.attentionFactor} would scale the pass-through dims`);
  const invFreq = new Float32Array(cfg.headDim / 2);
  invFreq.set(rotary.invFreq);
  return { invFreq, attentionFactor: 1 };
}

/**
 * The source dim of each permuted slot: slot i <- 2i and slot D/2 + i <- 2i + 1 for i < R/2; the pass-through dims
 * R..D-1 fill slots [R/2, D/2) and then [D/2 + R/2, D) in order.
 */
export function glmRotaryOrder(headDim: number, rotaryDim: number): number[] {
  if (rotaryDim % 2 !== 0 || rotaryDim < 2 || rotaryDim > headDim || headDim % 2 !== 0)
    throw new Error(`GLM rotary: rotary dim ${rotaryDim} must be even and at most the (even) head dim ${headDim}`);
  const half = headDim / 2;
  const pairs = rotaryDim / 2;
  const order = new Array<number>(headDim);
  for (let i = 0; i < pairs; i++) {
    order[i] = 2 * i;
    order[half + i] = 2 * i + 1;
  }
  const passPerHalf = half - pairs;
  for (let j = 0; j < passPerHalf; j++) {
    order[pairs + j] = rotaryDim + j;
    order[half + pairs + j] = rotaryDim + passPerHalf + j;
  }
  return order;
}

const permutations = new Map<string, Tensor>();

// P [D, D] with P[order[c], c] = 1: x @ P reorders x's last dim into the kernel's layout (kept for the process).
function permutationMatrix(headDim: number, rotaryDim: number): Tensor {
  const key = `${headDim}/${rotaryDim}`;
  let p = permutations.get(key);
  if (!p) {
    const data = new Float32Array(headDim * headDim);
    glmRotaryOrder(headDim, rotaryDim).forEach((src, c) => {
      data[src * headDim + c] = 1;
    });
    p = keep(Tensor.from(data, [headDim, headDim]));
    permutations.set(key, p);
  }
  return p;
}

/** x [B, T, H, D] -> x with its last dim reordered by P (exact; backward: g @ P^T). */
function permuteHeadDim(x: Tensor, p: Tensor): Tensor {
  const d = x.shape.at(-1) as number;
  const rows = x.numel / d;
  const out = noGrad(() => withMatmulPrecision('f32', () => matmul(x.reshape([rows, d]), p))).reshape(x.shape);
  record(out, 'glmRotaryPermute', [x], (g) => [
    withMatmulPrecision('f32', () => matmul(g.reshape([rows, d]), p, { transB: true })).reshape(x.shape),
  ]);
  return out;
}

/** GLM's rotary on q or k [B, T, H, D], returned in the permuted head layout (see above) -> [B, T, H, D]. */
export function glmRotary(cfg: ModelConfig, x: Tensor, ctx: ForwardContext): Tensor {
  return rope(permuteHeadDim(x, permutationMatrix(cfg.headDim, rotaryDimOf(cfg))), ctx.positionIds, ctx.rope);
}
