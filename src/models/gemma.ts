/**
 * The Gemma family (GemmaForCausalLM): the Llama decoder (llama.ts) with Gemma's parts, from transformers'
 * modeling_gemma: RMSNorm scaled by (1 + w) instead of w, a GeGLU MLP (tanh-approximated GELU on gate_proj, times
 * up_proj), and embeddings multiplied by sqrt(hidden_size) (rounded to the activations' f32, as HF's normalizer
 * tensor is). Module and parameter paths are Llama's, so LoRA targets, saving and adapters are unchanged.
 * Shapes: B batch, T tokens, C hidden, F intermediate.
 */
import { add, addScalar, mul, rmsNorm, scale, sigmoid, type Tensor } from '../engine/index.js';
import type { ModelConfig } from '../io/model-config.js';
import { Module } from '../nn/module.js';
import { RMSNorm } from '../nn/rms-norm.js';
import { type ModelFamily, projectionLayer, type WeightSource } from './family.js';
import { type DecoderParts, LlamaForCausalLM } from './llama.js';

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

interface Projection {
  forward(x: Tensor): Tensor;
}

class GemmaMlp extends Module {
  constructor(cfg: ModelConfig, w: WeightSource, prefix: string) {
    super();
    const { hiddenSize: c, intermediateSize: f, mlpBias } = cfg;
    const lin = (name: string, out: number, inp: number) => projectionLayer(w, prefix, name, out, inp, mlpBias);
    this.registerModule('gate_proj', lin('gate_proj', f, c));
    this.registerModule('up_proj', lin('up_proj', f, c));
    this.registerModule('down_proj', lin('down_proj', c, f));
  }

  /** x [B, T, C] -> down(gelu_tanh(gate(x)) * up(x)) [B, T, C] */
  forward(x: Tensor): Tensor {
    const part = (name: string) => this.child(name) as unknown as Projection;
    const gate = part('gate_proj').forward(x);
    const up = part('up_proj').forward(x);
    return part('down_proj').forward(mul(geluTanh(gate), up));
  }
}

export const GEMMA_PARTS: DecoderParts = {
  norm: (weight, eps) => new GemmaRMSNorm(weight, eps),
  mlp: (cfg, w, prefix) => new GemmaMlp(cfg, w, prefix),
  embedScale: (cfg) => Math.fround(Math.sqrt(cfg.hiddenSize)),
};

export const gemmaFamily: ModelFamily = {
  name: 'gemma',
  architectures: ['GemmaForCausalLM'],
  build: (config, weights) => new LlamaForCausalLM(config, weights, GEMMA_PARTS),
};
