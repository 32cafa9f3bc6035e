/**
 * Baichuan 2 (BaichuanForCausalLM, the checkpoints' remote modeling_baichuan.py): the Llama decoder with q, k and v
 * fused in `self_attn.W_pack` ([q | k | v] rows, multi-head), no biases, and NormHead (norm-head.ts: logits from the
 * head's L2-normalised rows, in training and inference). Baichuan 2 7B rotates q and k (RoPE, base 10000);
 * Baichuan 2 13B uses ALiBi instead, with Baichuan's slopes (_get_interleave: the ALiBi paper's geometric slopes,
 * interleaved for a head count that is not a power of two). Both share one architecture name; as vLLM does, a
 * hidden_size of 4096 means the 7B (RoPE), any other the 13B layout (ALiBi). A z_loss_weight above 0 (an extra
 * training loss no released checkpoint enables) is refused.
 */
import { FormatError } from '../io/errors.js';
import type { ModelConfig } from '../io/model-config.js';
import type { ModelFamily } from './family.js';
import { FusedDecoderForCausalLM, type FusedLayout, type FusedOptions } from './fused-decoder.js';
import { phi3Parameters } from './phi3.js';

export const BAICHUAN_LAYOUT: FusedLayout = {
  embed: 'model.embed_tokens',
  attention: 'self_attn',
  qkv: 'W_pack',
  out: 'o_proj',
  qkvPacking: 'blocks',
  inputNorm: 'input_layernorm',
  postAttentionNorm: 'post_attention_layernorm',
  mlp: 'mlp',
  mlpProjections: { gate: 'gate_proj', up: 'up_proj', down: 'down_proj' },
  head: 'lm_head',
};

/** Baichuan's ALiBi slopes for n heads (modeling_baichuan.py's _get_interleave). */
export function baichuanAlibiSlopes(n: number): number[] {
  const powerOf2 = (m: number) => {
    const start = 2 ** -(2 ** -(Math.log2(m) - 3));
    return Array.from({ length: m }, (_, i) => start * start ** i);
  };
  if (Number.isInteger(Math.log2(n))) return powerOf2(n);
  const closest = 2 ** Math.floor(Math.log2(n));
  return [
    ...powerOf2(closest),
    ...baichuanAlibiSlopes(2 * closest)
      .filter((_, i) => i % 2 === 0)
      .slice(0, n - closest),
  ];
}

/** RoPE for the 7B (hidden_size 4096), ALiBi otherwise; NormHead always. */
export function baichuanUsesAlibi(cfg: ModelConfig): boolean {
  return cfg.hiddenSize !== 4096;
}

function baichuanOptions(cfg: ModelConfig): FusedOptions {
  const z = cfg.raw.z_loss_weight;
  if (typeof z === 'number' && z > 0)
    throw new FormatError(
      'config.json',
      'z_loss_weight',
      `${z} is not supported (lmforge trains Baichuan with z_loss_weight 0)`,
    );
  if (cfg.numKeyValueHeads !== cfg.numAttentionHeads)
    throw new FormatError(
      'config.json',
      'num_key_value_heads',
      'Baichuan 2 is multi-head: W_pack holds H heads each of q, k, v',
    );
  return {
    rotaryDim: cfg.headDim,
    alibiSlopes: baichuanUsesAlibi(cfg) ? baichuanAlibiSlopes(cfg.numAttentionHeads) : null,
    normHead: true,
  };
}

/** Every parameter of a Baichuan 2 checkpoint: Phi-3's shapes with W_pack for qkv_proj and three MLP projections. */
export function baichuanParameters(cfg: ModelConfig): Map<string, number[]> {
  const out = new Map<string, number[]>();
  const { hiddenSize: c, intermediateSize: f } = cfg;
  for (const [name, shape] of phi3Parameters(cfg)) {
    if (name.endsWith('.mlp.gate_up_proj.weight')) {
      const p = name.slice(0, -'gate_up_proj.weight'.length);
      out.set(`${p}gate_proj.weight`, [f, c]);
      out.set(`${p}up_proj.weight`, [f, c]);
    } else out.set(name.replace('.self_attn.qkv_proj.', '.self_attn.W_pack.'), shape);
  }
  return out;
}

export const baichuanFamily: ModelFamily = {
  name: 'baichuan',
  architectures: ['BaichuanForCausalLM'],
  build: (config, weights) => new FusedDecoderForCausalLM(config, BAICHUAN_LAYOUT, baichuanOptions(config), weights),
  expectedParameters: baichuanParameters,
};
