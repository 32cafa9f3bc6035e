/**
 * Where rotary frequencies come from: the one place that turns a model's rope settings into inv_freq, the way
 * HF transformers' modeling_rope_utils does (`_compute_default_rope_parameters`, `_compute_linear_scaling_rope_
 * parameters`, `_compute_dynamic_ntk_parameters`, `_compute_llama3_parameters`). HF computes them in float32; every
 * step below rounds to float32 where PyTorch's float32 tensors do, so the tables match HF's to the last bit except
 * where float32 pow/div themselves differ by an ulp between libraries.
 */

/** `rope_scaling` of a HF config, in our names. */
export type RopeScaling =
  | { type: 'linear'; factor: number }
  | {
      type: 'llama3';
      factor: number;
      lowFreqFactor: number;
      highFreqFactor: number;
      originalMaxPositionEmbeddings: number;
    }
  /** `originalMaxPositionEmbeddings`: HF uses config.max_position_embeddings here. */
  | { type: 'dynamic'; factor: number; originalMaxPositionEmbeddings: number }
  /**
   * LongRoPE (Phi-3 / Phi-4, `su` is its old name): inv_freq divided per dimension by shortFactor, or by longFactor
   * once the sequence (max position + 1) exceeds originalMaxPositionEmbeddings; cos and sin times attentionFactor.
   * `factor` is HF's max_position_embeddings / original_max_position_embeddings.
   */
  | {
      type: 'longrope';
      factor: number;
      shortFactor: readonly number[];
      longFactor: readonly number[];
      originalMaxPositionEmbeddings: number;
      attentionFactor: number;
    };

export interface RopeConfig {
  /** config.rope_theta */
  theta: number;
  /** config.rope_scaling; absent or null = default RoPE */
  scaling?: RopeScaling | null;
}

/** What the rope kernel takes: inv_freq [headDim / 2] and the factor HF multiplies cos and sin by. */
export interface RopeFrequencies {
  invFreq: Float32Array;
  /** HF's `attention_scaling`: 1 for default, linear, dynamic and llama3 (longrope's attention factor). */
  attentionFactor: number;
}

const f32 = Math.fround;

/**
 * inv_freq for head_dim = headDim, as HF computes it for `cfg`.
 *
 * @param seqLen only for dynamic NTK: the current length, max(position_ids) + 1 (HF recomputes inv_freq once it
 *   exceeds originalMaxPositionEmbeddings and uses the original table below it). Ignored by the other types.
 */
export function ropeInvFreq(cfg: RopeConfig, headDim: number, seqLen?: number): RopeFrequencies {
  if (!Number.isInteger(headDim) || headDim < 2 || headDim % 2 !== 0)
    throw new Error(`ropeInvFreq: head_dim must be an even integer >= 2, got ${headDim}`);
  if (!(cfg.theta > 0)) throw new Error(`ropeInvFreq: rope_theta must be > 0, got ${cfg.theta}`);
  const s = cfg.scaling ?? null;
  if (s === null) return { invFreq: defaultInvFreq(cfg.theta, headDim), attentionFactor: 1 };
  if (!(s.factor > 0)) throw new Error(`ropeInvFreq: rope_scaling.factor must be > 0, got ${s.factor}`);
  switch (s.type) {
    case 'linear': {
      // scaling positions by 1/factor is the same as scaling the frequencies
      const inv = defaultInvFreq(cfg.theta, headDim);
      const factor = f32(s.factor);
      for (let i = 0; i < inv.length; i++) inv[i] = (inv[i] as number) / factor;
      return { invFreq: inv, attentionFactor: 1 };
    }
    case 'dynamic': {
      const maxPos = s.originalMaxPositionEmbeddings;
      const len = seqLen !== undefined && seqLen > maxPos ? seqLen : maxPos;
      // NTK-aware: grow the base (in float64, as Python does) with the length beyond the trained one
      const base = cfg.theta * ((s.factor * len) / maxPos - (s.factor - 1)) ** (headDim / (headDim - 2));
      return { invFreq: defaultInvFreq(base, headDim), attentionFactor: 1 };
    }
    case 'llama3':
      return { invFreq: llama3InvFreq(cfg.theta, headDim, s), attentionFactor: 1 };
    case 'longrope': {
      const long = seqLen !== undefined && seqLen > s.originalMaxPositionEmbeddings;
      const ext = long ? s.longFactor : s.shortFactor;
      if (ext.length !== headDim / 2)
        throw new Error(
          `ropeInvFreq: rope_scaling.${long ? 'long' : 'short'}_factor has ${ext.length} values, the rotary dim ${headDim} needs ${headDim / 2}`,
        );
      // HF: 1 / (ext_factors * base ** (arange(0, dim, 2) / dim)), every step in float32
      const b = f32(cfg.theta);
      const inv = new Float32Array(headDim / 2);
      for (let i = 0; i < inv.length; i++) inv[i] = 1 / f32(f32(ext[i] as number) * f32(b ** f32((2 * i) / headDim)));
      return { invFreq: inv, attentionFactor: s.attentionFactor };
    }
    default:
      throw new Error(
        `ropeInvFreq: unsupported rope_scaling type ${(s as { type: string }).type} (supported: linear, dynamic, llama3, longrope)`,
      );
  }
}

// 1 / base^(2i / dim) for i < dim / 2, each step rounded to float32 as torch does
function defaultInvFreq(base: number, dim: number): Float32Array {
  const inv = new Float32Array(dim / 2);
  const b = f32(base);
  for (let i = 0; i < inv.length; i++) inv[i] = 1 / f32(b ** f32((2 * i) / dim));
  return inv;
}

// Llama 3.1: long wavelengths divided by factor, short ones kept, a smooth blend in between
function llama3InvFreq(theta: number, dim: number, s: Extract<RopeScaling, { type: 'llama3' }>): Float32Array {
  const inv = defaultInvFreq(theta, dim);
  const factor = f32(s.factor);
  const old = s.originalMaxPositionEmbeddings;
  const lowWavelen = f32(old / s.lowFreqFactor);
  const highWavelen = f32(old / s.highFreqFactor);
  const twoPi = f32(2 * Math.PI);
  const out = new Float32Array(inv.length);
  for (let i = 0; i < inv.length; i++) {
    const f = inv[i] as number;
    const wavelen = f32(twoPi / f);
    const scaled = wavelen > lowWavelen ? f32(f / factor) : f;
    const isMedium = !(wavelen < highWavelen) && !(wavelen > lowWavelen);
    if (!isMedium) {
      out[i] = scaled;
      continue;
    }
    const smooth = f32(f32(f32(f32(old) / wavelen) - f32(s.lowFreqFactor)) / f32(s.highFreqFactor - s.lowFreqFactor));
    out[i] = f32(f32(f32(f32(1 - smooth) * scaled) / factor) + f32(smooth * scaled));
  }
  return out;
}
