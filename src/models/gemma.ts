/**
 * The Gemma family (GemmaForCausalLM): the Llama decoder (llama.ts) with Gemma's parts, from transformers'
 * modeling_gemma: RMSNorm scaled by (1 + w) instead of w, a GeGLU MLP (tanh-approximated GELU on gate_proj, times
 * up_proj), and embeddings multiplied by sqrt(hidden_size) (rounded to the activations' f32, as HF's normalizer
 * tensor is). Module and parameter paths are Llama's, so LoRA targets, saving and adapters are unchanged.
 * Shapes: B batch, T tokens, C hidden, F intermediate.
 */
import { add, addScalar, mul, rmsNorm, scale, sigmoid, type Tensor } from '../engine/index.js';
import { RMSNorm } from '../nn/rms-norm.js';
import type { ModelFamily } from './family.js';
import { type DecoderParts, LlamaForCausalLM, Mlp } from './llama.js';

/** GemmaRMSNorm: y = (1 + w) * x / sqrt(mean(x^2) + eps), in f32. */
export class GemmaRMSNorm extends RMSNorm {
  override forward(x: Tensor): Tensor {
    return rmsNorm(x, addScalar(this.weight, 1), this.eps);
  }
}

/** gelu_pytorch_tanh(x) = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) = x * sigmoid(2 sqrt(2/pi) (x + 0.044715 x^3)) */
export function geluTanh(x: Tensor): Tensor {
  const cubic = mul(mul(x, x), x);
  const inner = add(x, scale(cubic, 0.044715));
  return mul(x, sigmoid(scale(inner, 2 * Math.sqrt(2 / Math.PI))));
}

export const GEMMA_PARTS: DecoderParts = {
  norm: (weight, eps) => new GemmaRMSNorm(weight, eps),
  // GeGLU: gelu_tanh(gate) * up
  mlp: (cfg, w, prefix) => new Mlp(cfg, w, prefix, (gate, up) => mul(geluTanh(gate), up)),
  embedScale: (cfg) => Math.fround(Math.sqrt(cfg.hiddenSize)),
};

export const gemmaFamily: ModelFamily = {
  name: 'gemma',
  architectures: ['GemmaForCausalLM'],
  build: (config, weights) => new LlamaForCausalLM(config, weights, GEMMA_PARTS),
};
