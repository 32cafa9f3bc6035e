/**
 * The dtype an export is written in, as LLaMA-Factory's export_model picks it: `infer_dtype` when given, else the
 * base's `torch_dtype` with float32 raised to bfloat16 (its infer_optim_dtype(bfloat16) on hardware with bf16).
 * A config without torch_dtype loads as float32 in transformers, so it is raised the same way.
 */
import type { DType } from '../engine/dtype.js';
import type { InferDtype } from './export-args.js';

export type FloatDType = Exclude<DType, 'i32'>;

const NAMED: Record<Exclude<InferDtype, 'auto'>, FloatDType> = { float32: 'f32', bfloat16: 'bf16', float16: 'f16' };

export function exportDtype(inferDtype: InferDtype, configDtype: DType | null): FloatDType {
  if (inferDtype !== 'auto') return NAMED[inferDtype];
  if (configDtype === null || configDtype === 'f32' || configDtype === 'i32') return 'bf16';
  return configDtype;
}

export const TORCH_NAME: Record<FloatDType, string> = { f32: 'float32', bf16: 'bfloat16', f16: 'float16' };
