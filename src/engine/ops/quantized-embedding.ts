/**
 * Embedding lookup from a frozen matrix kept in ggml blocks (a GGUF file's token_embd): ids i32 [...] -> [..., C],
 * each looked-up row dequantized as ggml_blocks.cc decodes it, so no f32 copy of the [V, C] table exists. The table is
 * frozen (no gradient), as a GGUF base's projections are.
 */
import { native } from '../native.js';
import type { QuantizedMatrix } from '../quant/quantized-matrix.js';
import { formatShape, Tensor } from '../tensor.js';

export function quantizedEmbedding(weight: QuantizedMatrix, ids: Tensor): Tensor {
  if (!weight.ggml)
    throw new Error(`quantizedEmbedding: a ${weight.type} table has no row lookup (only ggml blocks from a GGUF file)`);
  if (ids.dtype !== 'i32')
    throw new Error(`quantizedEmbedding: ids must be i32 token ids, got ${ids.dtype} ${formatShape(ids.shape)}`);
  const out = Tensor.empty([...ids.shape, weight.cols]);
  try {
    native.ggmlEmbedding(weight.descriptor(), ids.handle, ids.numel, out.handle);
  } catch (e) {
    out.dispose();
    throw e;
  }
  return out;
}
