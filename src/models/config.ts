/** The settings a Llama-family decoder needs, resolved from HF's config.json (see src/io/model-config.ts). */
import type { RopeConfig } from '../engine/index.js';

export interface DecoderConfig {
  architecture: string;
  vocabSize: number;
  hiddenSize: number;
  intermediateSize: number;
  numLayers: number;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  rmsNormEps: number;
  rope: RopeConfig;
  maxPositionEmbeddings: number;
  /** q/k/v projections carry biases (Qwen2; Llama with attention_bias). o_proj follows attention_bias only. */
  qkvBias: boolean;
  oBias: boolean;
  mlpBias: boolean;
  /** Qwen3: RMSNorm over head_dim on q and k before RoPE. */
  qkNorm: boolean;
  tieWordEmbeddings: boolean;
}
