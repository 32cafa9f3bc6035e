/**
 * The Llama family's float64 reference forward (tests only), as tests/util/decoder-reference.ts computes it:
 * embeddings, RMSNorm, RoPE (rotate-half, inv_freq given), GQA causal attention with a key mask and an optional
 * sliding window (HF's: query i sees key j when i - j < size, in layers >= fromLayer), optional q/k/v/o biases,
 * Qwen3's q/k norm, SwiGLU MLP, tied or separate head; `gemma`: (1 + w) RMSNorm, GeGLU with the tanh GELU,
 * embeddings times sqrt(hidden_size). It takes the weights by HF name and returns logits [B * T * V].
 */
import { ropeInvFreq } from '../../src/engine/index.js';
import { type ModelConfig, ropeConfigOf } from '../../src/io/model-config.js';
import { decoderReferenceLogits } from './decoder-reference.js';

export interface ReferenceConfig {
  vocabSize: number;
  hiddenSize: number;
  intermediateSize: number;
  numLayers: number;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  eps: number;
  invFreq: Float32Array;
  qkNorm: boolean;
  tied: boolean;
  slidingWindow?: { size: number; fromLayer: number };
  gemma?: boolean;
  /** Layer l's MLP instead of the dense one (x [N * C] -> [N * C]), or null for the dense one (MoE references). */
  mlp?: (layer: number, x: Float64Array, n: number) => Float64Array | null;
}

/** A parsed Llama-family config as the reference reads it, with the RoPE table of sequences of t positions. */
export function llamaReferenceConfig(cfg: ModelConfig, t: number): ReferenceConfig {
  return {
    vocabSize: cfg.vocabSize,
    hiddenSize: cfg.hiddenSize,
    intermediateSize: cfg.intermediateSize,
    numLayers: cfg.numHiddenLayers,
    numHeads: cfg.numAttentionHeads,
    numKvHeads: cfg.numKeyValueHeads,
    headDim: cfg.headDim,
    eps: cfg.rmsNormEps,
    invFreq: ropeInvFreq(ropeConfigOf(cfg), cfg.headDim, t).invFreq,
    qkNorm: cfg.qkNorm,
    tied: cfg.tieWordEmbeddings,
    gemma: cfg.architecture === 'GemmaForCausalLM',
  };
}

export function referenceLogits(
  cfg: ReferenceConfig,
  w: (name: string) => Float64Array | undefined,
  ids: Int32Array,
  b: number,
  t: number,
  keyMask?: Int32Array,
): Float64Array {
  const gemma = cfg.gemma ?? false;
  const window = cfg.slidingWindow;
  const table = { invFreq: cfg.invFreq, attentionFactor: 1 };
  return decoderReferenceLogits(
    {
      vocabSize: cfg.vocabSize,
      hiddenSize: cfg.hiddenSize,
      intermediateSize: cfg.intermediateSize,
      numLayers: cfg.numLayers,
      numHeads: cfg.numHeads,
      numKvHeads: cfg.numKvHeads,
      headDim: cfg.headDim,
      eps: cfg.eps,
      qkNorm: cfg.qkNorm,
      tied: cfg.tied,
      layerRope: () => table,
      ...(window ? { layerWindow: (l: number) => (l >= window.fromLayer ? window.size : Infinity) } : {}),
      ...(gemma ? { plusOneNorm: true, embedScale: Math.fround(Math.sqrt(cfg.hiddenSize)) } : {}),
      activation: gemma ? 'gelu_tanh' : 'silu',
      ...(cfg.mlp ? { mlp: cfg.mlp } : {}),
    },
    w,
    ids,
    b,
    t,
    keyMask,
  );
}
