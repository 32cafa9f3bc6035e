/**
 * Merging a LoRA into a quantized base is refused, as LLaMA-Factory's export_model refuses it ("Cannot merge
 * adapters to a quantized model."): W + s·B·A rounded back to 4 or 8 bits loses most of what the adapter learnt.
 * A base is quantized when the run asks for on-the-fly quantization (`quantization_bit`) or when its config.json
 * carries a `quantization_config` (GPTQ, AWQ, bitsandbytes checkpoints; lmforge trains on the last and on on-the-fly
 * bases, and its adapters export from the float base they were quantized from). This is the one place the export asks.
 */
import type { ModelConfig } from '../io/model-config.js';

export class QuantizedMergeError extends Error {
  readonly userFacing = true;
  override name = 'QuantizedMergeError';
}

/** How the base is quantized, or null for a float base. */
export function baseQuantization(config: ModelConfig, quantizationBit: number | null): string | null {
  const q = config.raw.quantization_config as { quant_method?: unknown } | undefined;
  if (q && typeof q === 'object') return typeof q.quant_method === 'string' ? q.quant_method : 'quantized';
  if (quantizationBit !== null) return `${quantizationBit}-bit on-the-fly`;
  return null;
}

export function refuseQuantizedMerge(
  config: ModelConfig,
  modelDir: string,
  quantizationBit: number | null,
  adapters: readonly string[] | null,
): void {
  const method = baseQuantization(config, quantizationBit);
  if (method === null || !adapters?.length) return;
  throw new QuantizedMergeError(
    `cannot merge adapters into a quantized model (${method} base ${modelDir}): export from the float base the ` +
      'adapter was trained on (e.g. the original bfloat16 checkpoint)' +
      (quantizationBit !== null ? ', without quantization_bit' : ''),
  );
}
