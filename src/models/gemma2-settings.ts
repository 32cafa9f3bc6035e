/**
 * The config.json keys of Gemma 2 and Gemma 3 (text) that the shared ModelConfig does not carry, as transformers'
 * Gemma2Config / Gemma3TextConfig read them:
 * - `query_pre_attn_scalar` (default 256): scores are scaled by query_pre_attn_scalar^-0.5, not head_dim^-0.5.
 * - `attn_logit_softcapping` (Gemma 2: 50, Gemma 3: null) and `final_logit_softcapping` (30 / null): cap * tanh(x / cap).
 * - Which layers use the `sliding_window` (default 4096; Gemma 3: 4096 too, 512 in released checkpoints): the explicit
 *   `layer_types` list when the file has one, else Gemma 2's rule (even layers local, odd global) or Gemma 3's
 *   `sliding_window_pattern` (default 6: every sixth layer global).
 * - Gemma 3: per-head (1 + w) q/k norms, and local layers rotate with `rope_local_base_freq` (default 10000) and no
 *   scaling, while global layers use rope_theta with rope_scaling.
 */
import { FormatError } from '../io/errors.js';
import type { ModelConfig } from '../io/model-config.js';

export interface GemmaTwoSettings {
  /** Multiplies q . k: query_pre_attn_scalar^-0.5. */
  readonly attentionScale: number;
  readonly attnLogitSoftcapping: number | null;
  readonly finalLogitSoftcapping: number | null;
  /** Per layer: the sliding window in keys (itself included), or null for a global layer. */
  readonly layerWindows: readonly (number | null)[];
  /** Gemma 3: q_norm and k_norm over head_dim. */
  readonly qkNorm: boolean;
  /** Gemma 3: the RoPE base of the local (sliding) layers; null = every layer uses rope_theta. */
  readonly localRopeTheta: number | null;
}

const FILE = 'config.json';

function optionalPositive(raw: Readonly<Record<string, unknown>>, key: string, fallback: number | null): number | null {
  const v = raw[key];
  if (v === undefined) return fallback;
  if (v === null) return null;
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0)
    throw new FormatError(FILE, key, `must be a number > 0 or null, got ${JSON.stringify(v)}`);
  return v;
}

function positiveInt(raw: Readonly<Record<string, unknown>>, key: string, fallback: number): number {
  const v = raw[key];
  if (v === undefined || v === null) return fallback;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1)
    throw new FormatError(FILE, key, `must be an integer >= 1, got ${JSON.stringify(v)}`);
  return v;
}

/** layer i is local (windowed) or global, from `layer_types` or the family's pattern. */
function slidingLayers(cfg: ModelConfig, gemma3: boolean): boolean[] {
  const types = cfg.raw.layer_types;
  const n = cfg.numHiddenLayers;
  if (types !== undefined && types !== null) {
    if (!Array.isArray(types) || types.length !== n)
      throw new FormatError(FILE, 'layer_types', `must list one type per layer (${n}), got ${JSON.stringify(types)}`);
    return types.map((t, i) => {
      if (t !== 'sliding_attention' && t !== 'full_attention')
        throw new FormatError(
          FILE,
          `layer_types[${i}]`,
          `must be "sliding_attention" or "full_attention", got ${JSON.stringify(t)}`,
        );
      return t === 'sliding_attention';
    });
  }
  if (!gemma3) return Array.from({ length: n }, (_, i) => i % 2 === 0);
  const key = cfg.raw.sliding_window_pattern !== undefined ? 'sliding_window_pattern' : '_sliding_window_pattern';
  const pattern = positiveInt(cfg.raw, key, 6);
  return Array.from({ length: n }, (_, i) => (i + 1) % pattern !== 0);
}

/** Gemma 2's (gemma3 = false) or Gemma 3 text's settings from cfg.raw, with HF's defaults. */
export function gemmaTwoSettings(cfg: ModelConfig, gemma3: boolean): GemmaTwoSettings {
  const raw = cfg.raw;
  const scalar = optionalPositive(raw, 'query_pre_attn_scalar', 256) ?? 256;
  const window = optionalPositive(raw, 'sliding_window', 4096);
  if (window !== null && !Number.isSafeInteger(window))
    throw new FormatError(FILE, 'sliding_window', `must be an integer number of keys, got ${window}`);
  const sliding = slidingLayers(cfg, gemma3);
  return {
    attentionScale: scalar ** -0.5,
    attnLogitSoftcapping: optionalPositive(raw, 'attn_logit_softcapping', gemma3 ? null : 50),
    finalLogitSoftcapping: optionalPositive(raw, 'final_logit_softcapping', gemma3 ? null : 30),
    layerWindows: sliding.map((s) => (s ? window : null)),
    qkNorm: gemma3,
    localRopeTheta: gemma3 ? (optionalPositive(raw, 'rope_local_base_freq', 10000) ?? 10000) : null,
  };
}
