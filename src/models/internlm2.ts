/**
 * InternLM2 / InternLM2.5 (InternLM2ForCausalLM, the checkpoints' remote modeling_internlm2.py): a Llama decoder
 * under its own names — model.tok_embeddings, model.layers.{i}.{attention_norm, attention.{wqkv, wo}, ffn_norm,
 * feed_forward.{w1, w3, w2}}, model.norm, output — with q, k and v fused in `wqkv` grouped per KV head: for each of
 * the KVH heads, its H / KVH query heads, then its key, then its value (rearrange "(h gs d)", gs = H / KVH + 2).
 * The MLP is w2(silu(w1(x)) * w3(x)); `bias` puts biases on wqkv and wo. LoRA `all` finds wqkv, wo, w1, w3, w2,
 * and never `output` (as LLaMA-Factory excludes it).
 */
import type { ModelConfig } from '../io/model-config.js';
import type { ModelFamily } from './family.js';
import { FusedDecoderForCausalLM, type FusedLayout } from './fused-decoder.js';

export const INTERNLM2_LAYOUT: FusedLayout = {
  embed: 'model.tok_embeddings',
  attention: 'attention',
  qkv: 'wqkv',
  out: 'wo',
  qkvPacking: 'grouped',
  inputNorm: 'attention_norm',
  postAttentionNorm: 'ffn_norm',
  mlp: 'feed_forward',
  mlpProjections: { gate: 'w1', up: 'w3', down: 'w2' },
  head: 'output',
};

/** Every parameter of an InternLM2 checkpoint, name -> shape. */
export function internlm2Parameters(cfg: ModelConfig): Map<string, number[]> {
  const { hiddenSize: c, vocabSize: v, intermediateSize: f, headDim: d } = cfg;
  const out = new Map<string, number[]>([['model.tok_embeddings.weight', [v, c]]]);
  const linear = (name: string, outF: number, inF: number, bias: boolean) => {
    out.set(`${name}.weight`, [outF, inF]);
    if (bias) out.set(`${name}.bias`, [outF]);
  };
  for (let i = 0; i < cfg.numHiddenLayers; i++) {
    const p = `model.layers.${i}`;
    linear(`${p}.attention.wqkv`, (cfg.numAttentionHeads + 2 * cfg.numKeyValueHeads) * d, c, cfg.qkvBias);
    linear(`${p}.attention.wo`, c, cfg.numAttentionHeads * d, cfg.oBias);
    linear(`${p}.feed_forward.w1`, f, c, false);
    linear(`${p}.feed_forward.w3`, f, c, false);
    linear(`${p}.feed_forward.w2`, c, f, false);
    out.set(`${p}.attention_norm.weight`, [c]);
    out.set(`${p}.ffn_norm.weight`, [c]);
  }
  out.set('model.norm.weight', [c]);
  if (!cfg.tieWordEmbeddings) out.set('output.weight', [v, c]);
  return out;
}

export const internlm2Family: ModelFamily = {
  name: 'internlm2',
  architectures: ['InternLM2ForCausalLM'],
  build: (config, weights) =>
    new FusedDecoderForCausalLM(
      config,
      INTERNLM2_LAYOUT,
      { rotaryDim: config.headDim, alibiSlopes: null, normHead: false },
      weights,
    ),
  expectedParameters: internlm2Parameters,
};
