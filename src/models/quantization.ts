/**
 * A quantized base (LLaMA-Factory's quantization_bit): the options, the format each becomes, the quantized
 * projections of a module tree, and the rules a quantized base keeps (it trains only through LoRA).
 */
import { QuantizedMatrix, type QuantizeOptions, type Tensor } from '../engine/index.js';
import { Embedding } from '../nn/embedding.js';
import { Linear } from '../nn/linear.js';
import { LoraLinear } from '../nn/lora-linear.js';
import type { Module } from '../nn/module.js';
import type { WeightSource } from './family.js';

/** LLaMA-Factory's quantization_bit / quantization_type / double_quantization. */
export interface QuantizationOptions {
  bits: 4 | 8;
  /** 4-bit code book (default nf4). */
  type?: 'nf4' | 'fp4';
  /** Double quantization of the 4-bit block scales (default true). */
  doubleQuant?: boolean;
}

/** The matrix format of a quantization setting: bitsandbytes' 64-value blocks for 4 bits, LLM.int8() rows for 8. */
export function quantizeOptionsOf(q: QuantizationOptions): QuantizeOptions {
  if (q.bits !== 4 && q.bits !== 8) throw new Error(`quantization bits must be 4 or 8, got ${q.bits}`);
  return q.bits === 8 ? { type: 'int8' } : { type: q.type ?? 'nf4', blocksize: 64, doubleQuant: q.doubleQuant ?? true };
}

/**
 * Makes `weights` quantize the decoder's projections: each is read (in its stored dtype) by `read` and quantized
 * before the next is read, so loading never holds the full-precision model.
 */
export function quantizeProjections(
  weights: WeightSource,
  read: (name: string) => Tensor,
  q: QuantizationOptions,
  source: string,
): void {
  const format = quantizeOptionsOf(q);
  weights.projection = (name, shape) => {
    const t = read(name);
    try {
      if (t.shape[0] !== shape[0] || t.shape[1] !== shape[1])
        throw new Error(`${source}: ${name} is [${t.shape}], expected [${shape}]`);
      return QuantizedMatrix.quantize(t, format);
    } finally {
      t.dispose();
    }
  };
}

/** [path, matrix] of every quantized projection (LoRA-wrapped ones included), then a GGUF file's quantized
 * embedding; a tied head shares the embedding's matrix and is listed once, as the embedding. */
export function quantizedWeights(module: Module): [string, QuantizedMatrix][] {
  const out: [string, QuantizedMatrix][] = [];
  const tables: [string, QuantizedMatrix][] = [];
  for (const [path, m] of module.namedModules()) {
    if (m instanceof Embedding && m.quantized) tables.push([`${path}.weight`, m.quantized]);
    const base = m instanceof LoraLinear ? m.base : m instanceof Linear ? m : null;
    if (base?.quantized) out.push([`${path}.weight`, base.quantized]);
  }
  const seen = new Set(tables.map(([, q]) => q));
  return [...out.filter(([, q]) => !seen.has(q)), ...tables];
}

/** One line on the quantized base: format, projections, bytes and bytes per quantized weight. */
export function quantizationSummary(weights: readonly [string, QuantizedMatrix][]): string {
  const first = weights[0]?.[1];
  if (!first) return 'the base is not quantized';
  const values = weights.reduce((a, [, q]) => a + q.rows * q.cols, 0);
  const bytes = weights.reduce((a, [, q]) => a + q.bytes, 0);
  const format =
    first.type === 'int8'
      ? 'int8 (LLM.int8() rows)'
      : `${first.type}${first.doubleQuantized ? ' + double quantization' : ''}`;
  return `quantized base: ${format}, ${weights.length} projections, ${(bytes / 2 ** 20).toFixed(1)} MiB (${(bytes / values).toFixed(3)} bytes per weight); norms, embeddings and the LM head keep their dtype`;
}
