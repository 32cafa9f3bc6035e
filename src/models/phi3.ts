/**
 * Phi-3 / Phi-3.5 / Phi-4 (Phi3ForCausalLM), from transformers' modeling_phi3: the Llama decoder with q, k and v in
 * one `self_attn.qkv_proj` ([q heads | k heads | v heads] rows) and gate and up in one `mlp.gate_up_proj` (gate rows
 * first), no biases, LongRoPE (rope-config.ts), partial rotary embeddings (Phi-4-mini's partial_rotary_factor) and
 * a sliding window on every layer when the config sets one. LoRA targets are PEFT's names for these modules:
 * qkv_proj, o_proj, gate_up_proj, down_proj.
 */
import { FormatError } from '../io/errors.js';
import type { ModelConfig } from '../io/model-config.js';
import type { ModelFamily } from './family.js';
import { FusedDecoderForCausalLM, type FusedLayout, type FusedOptions } from './fused-decoder.js';

export const PHI3_LAYOUT: FusedLayout = {
  embed: 'model.embed_tokens',
  attention: 'self_attn',
  qkv: 'qkv_proj',
  out: 'o_proj',
  qkvPacking: 'blocks',
  inputNorm: 'input_layernorm',
  postAttentionNorm: 'post_attention_layernorm',
  mlp: 'mlp',
  mlpProjections: { gateUp: 'gate_up_proj', down: 'down_proj' },
  head: 'lm_head',
};

/** int(head_dim * partial_rotary_factor), as HF's Phi3; it must be even and, with LongRoPE, match its factors. */
export function phi3Options(cfg: ModelConfig): FusedOptions {
  const factor = cfg.raw.partial_rotary_factor;
  const rotaryDim = typeof factor === 'number' ? Math.floor(cfg.headDim * factor) : cfg.headDim;
  if (rotaryDim < 2 || rotaryDim % 2 !== 0)
    throw new FormatError(
      'config.json',
      'partial_rotary_factor',
      `gives a rotary dim of ${rotaryDim} (head_dim ${cfg.headDim} x ${factor}); it must be even and >= 2`,
    );
  const s = cfg.ropeScaling;
  if (s?.type === 'longrope' && s.shortFactor.length !== rotaryDim / 2)
    throw new FormatError(
      'config.json',
      'rope_scaling.short_factor',
      `has ${s.shortFactor.length} values; the rotary dim ${rotaryDim} needs ${rotaryDim / 2} (one per frequency)`,
    );
  return { rotaryDim, alibiSlopes: null, normHead: false };
}

/** Every parameter of a Phi-3 checkpoint, HF name -> shape. */
export function phi3Parameters(cfg: ModelConfig): Map<string, number[]> {
  const { hiddenSize: c, vocabSize: v, intermediateSize: f, headDim: d } = cfg;
  const out = new Map<string, number[]>([['model.embed_tokens.weight', [v, c]]]);
  for (let i = 0; i < cfg.numHiddenLayers; i++) {
    const p = `model.layers.${i}`;
    out.set(`${p}.self_attn.qkv_proj.weight`, [(cfg.numAttentionHeads + 2 * cfg.numKeyValueHeads) * d, c]);
    out.set(`${p}.self_attn.o_proj.weight`, [c, cfg.numAttentionHeads * d]);
    out.set(`${p}.mlp.gate_up_proj.weight`, [2 * f, c]);
    out.set(`${p}.mlp.down_proj.weight`, [c, f]);
    out.set(`${p}.input_layernorm.weight`, [c]);
    out.set(`${p}.post_attention_layernorm.weight`, [c]);
  }
  out.set('model.norm.weight', [c]);
  if (!cfg.tieWordEmbeddings) out.set('lm_head.weight', [v, c]);
  return out;
}

export const phi3Family: ModelFamily = {
  name: 'phi3',
  architectures: ['Phi3ForCausalLM'],
  build: (config, weights) => new FusedDecoderForCausalLM(config, PHI3_LAYOUT, phi3Options(config), weights),
  expectedParameters: phi3Parameters,
};
