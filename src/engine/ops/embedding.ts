/** Token embedding lookup (HF `nn.Embedding`) and its scatter-add backward. */
import { record } from '../autograd.js';
import { DTYPE_CODE } from '../dtype.js';
import { native } from '../native.js';
import { formatShape, Tensor } from '../tensor.js';

/**
 * out[..., :] = weight[ids[...], :]
 *
 * @param weight [V, C] f32 | bf16 | f16 (bf16/f16 rows are widened to f32 as they are copied)
 * @param ids    i32 [...] token ids, each in [0, V); an id out of range throws, naming the id and V
 * @returns      f32 [...ids.shape, C]
 *
 * @param options.paddingIdx as PyTorch's `nn.Embedding(padding_idx)` (HF Llama/Qwen2 pass config.pad_token_id):
 *   that row's gradient is always zero. Negative values count from V, like PyTorch's. Omit or null for none.
 *
 * Backward: dWeight [V, C] f32, a deterministic scatter-add over the tokens, computed only when
 * weight.requiresGrad (a frozen embedding costs nothing). ids get no gradient.
 */
export function embedding(weight: Tensor, ids: Tensor, options: { paddingIdx?: number | null } = {}): Tensor {
  if (weight.ndim !== 2 || weight.dtype === 'i32')
    throw new Error(`embedding: weight must be [V, C] f32/bf16/f16, got ${formatShape(weight.shape)} ${weight.dtype}`);
  if (ids.dtype !== 'i32')
    throw new Error(`embedding: ids must be i32 token ids, got ${ids.dtype} ${formatShape(ids.shape)}`);
  const [V, C] = weight.shape as [number, number];
  const N = ids.numel;
  const paddingIdx = resolvePaddingIdx(options.paddingIdx ?? null, V);
  const out = Tensor.empty([...ids.shape, C]);
  try {
    native.embeddingForward(weight.handle, DTYPE_CODE[weight.dtype], ids.handle, out.handle, N, V, C);
  } catch (e) {
    out.dispose();
    throw e;
  }
  record(out, 'embedding', [weight], (g) => {
    const dWeight = Tensor.empty([V, C]); // every row is written (zero where no token used it)
    native.embeddingBackward(g.handle, ids.handle, dWeight.handle, N, V, C, paddingIdx);
    return [dWeight];
  });
  return out;
}

function resolvePaddingIdx(p: number | null, V: number): number {
  if (p === null) return -1;
  if (!Number.isInteger(p) || p < -V || p >= V)
    throw new Error(`embedding: paddingIdx ${p} must be an integer in [-${V}, ${V}) for a vocabulary of ${V} rows`);
  return p < 0 ? p + V : p;
}
