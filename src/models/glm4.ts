/**
 * GLM-4 in transformers' layout (GlmForCausalLM, models/glm: THUDM/glm-4-9b-chat-hf): the Llama decoder (llama.ts)
 * with q/k/v biases (attention_bias) and none on o_proj, the gate and up projections fused in `mlp.gate_up_proj`
 * (fused-gated-mlp.ts), and GLM's rotary embedding over head_dim * partial_rotary_factor dims in interleaved pairs
 * (glm-rotary.ts). Module and parameter paths are HF's (`model.layers.{i}.self_attn.q_proj`, ...).
 */
import { RMSNorm } from '../nn/rms-norm.js';
import type { ModelFamily } from './family.js';
import { FusedGatedMlp } from './fused-gated-mlp.js';
import { glmRopeFrequencies, glmRotary } from './glm-rotary.js';
import { type DecoderParts, LlamaForCausalLM } from './llama.js';

export const GLM4_PARTS: DecoderParts = {
  norm: (weight, eps) => new RMSNorm(weight, eps),
  mlp: (cfg, w, prefix) => new FusedGatedMlp(cfg, w, prefix, { gateUp: 'gate_up_proj', down: 'down_proj' }),
  embedScale: () => 1,
  rotary: glmRotary,
  ropeFrequencies: glmRopeFrequencies,
};

/** LoRA's `all`: every Linear of a GLM-4 layer (LLaMA-Factory's find_all_linear_modules; lm_head excluded). */
export const GLM4_LINEAR_MODULES = ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_up_proj', 'down_proj'];

export const glm4Family: ModelFamily = {
  name: 'glm4',
  architectures: ['GlmForCausalLM'],
  build: (config, weights) =>
    Object.assign(new LlamaForCausalLM(config, weights, GLM4_PARTS), {
      linearModuleNames: GLM4_LINEAR_MODULES,
    }),
};
