/** Rotary position embedding, HF rotate-half layout, forward and backward side by side. */
import { record } from '../autograd.js';
import { native } from '../native.js';
import { formatShape, Tensor } from '../tensor.js';
import { expectF32 } from './check.js';
import { type RopeConfig, type RopeFrequencies, ropeInvFreq } from './rope-config.js';

/**
 * out = x * cos + rotate_half(x) * sin, with dims i and i + D/2 forming a pair (HF `apply_rotary_pos_emb`);
 * cos/sin = cos/sin(inv_freq[i] * position) computed in f32 as HF does, times the attention factor.
 *
 * @param x           f32 [B, T, H, D] (q or k after the projection, reshaped per head; D even)
 * @param positionIds i32 [B, T] (per token: packed sequences and left padding give any positions)
 * @param freqs       RopeFrequencies from ropeInvFreq (compute once per forward), or a RopeConfig (then the
 *                    frequencies are computed here; dynamic NTK reads max(positionIds) + 1 as HF does)
 * @returns           f32 [B, T, H, D]
 *
 * Backward: dx = the transposed rotation of g (the same kernel with sin negated).
 */
export function rope(x: Tensor, positionIds: Tensor, freqs: RopeFrequencies | RopeConfig): Tensor {
  expectF32('rope', 'x', x);
  if (x.ndim !== 4) throw new Error(`rope: x must be [B, T, H, D], got ${formatShape(x.shape)}`);
  const [B, T, H, D] = x.shape as [number, number, number, number];
  if (D % 2 !== 0) throw new Error(`rope: head_dim must be even, got ${D}`);
  if (positionIds.dtype !== 'i32' || positionIds.ndim !== 2 || positionIds.shape[0] !== B || positionIds.shape[1] !== T)
    throw new Error(
      `rope: positionIds must be i32 [B, T] = [${B}, ${T}], got ${positionIds.dtype} ${formatShape(positionIds.shape)}`,
    );
  const f = 'invFreq' in freqs ? freqs : ropeInvFreq(freqs, D, dynamicSeqLen(freqs, positionIds));
  // Fewer than D / 2 frequencies: partial rotary (Phi's partial_rotary_factor), the first 2 * length dims rotate.
  if (f.invFreq.length < 1 || f.invFreq.length > D / 2)
    throw new Error(`rope: invFreq has ${f.invFreq.length} values, head_dim ${D} takes 1 to ${D / 2}`);
  const out = Tensor.empty(x.shape);
  native.ropeApply(x.handle, positionIds.handle, f.invFreq, out.handle, B * T, H, D, f.attentionFactor, false);
  record(out, 'rope', [x], (g) => {
    const dx = Tensor.empty(x.shape);
    native.ropeApply(g.handle, positionIds.handle, f.invFreq, dx.handle, B * T, H, D, f.attentionFactor, true);
    return [dx];
  });
  return out;
}

// max(position_ids) + 1, read only when a dynamic NTK config needs it
function dynamicSeqLen(cfg: RopeConfig, positionIds: Tensor): number | undefined {
  const type = cfg.scaling?.type;
  if ((type !== 'dynamic' && type !== 'longrope') || positionIds.numel === 0) return undefined;
  let max = Number.NEGATIVE_INFINITY;
  for (const p of positionIds.toInt32Array()) if (p > max) max = p;
  return max + 1;
}
