/**
 * LLaMA-Factory's lora_target `all` (its find_all_linear_modules): the names of every Linear below the top level of
 * a causal LM, the output head (`headPath`) excluded, in module order. Llama gives q_proj ... down_proj; Phi-3
 * qkv_proj, o_proj, gate_up_proj, down_proj; InternLM2 wqkv, wo, w1, w3, w2; Baichuan W_pack, o_proj, gate_proj,
 * up_proj, down_proj; the MoE families also their router `gate`, Mixtral's expert w1/w2/w3 and Qwen2-MoE's
 * shared_expert_gate.
 */
import type { QuantizedMatrix } from '../engine/index.js';
import { isModuleToSave, LLAMA_LINEAR_MODULES } from '../io/peft.js';
import { Linear } from '../nn/linear.js';
import { LoraLinear } from '../nn/lora-linear.js';
import type { Module } from '../nn/module.js';

/** [path, layer] of every Linear LoRA may wrap: below the top level, not the head, not a LoRA factor; module order. */
export function loraCandidates(module: Module, headPath = 'lm_head'): [string, Linear][] {
  return [...module.namedModules()].filter(
    (e): e is [string, Linear] =>
      e[1] instanceof Linear && e[0].includes('.') && e[0] !== headPath && !/\.lora_[AB]$/.test(e[0]),
  );
}

export function allLinearModuleNames(module: Module, headPath = 'lm_head'): string[] {
  const names = new Set(loraCandidates(module, headPath).map(([path]) => path.slice(path.lastIndexOf('.') + 1)));
  return names.size > 0 ? [...names] : [...LLAMA_LINEAR_MODULES];
}

/**
 * modules_to_save (additional_target) train in full: a module stored quantized has no float weight to train or save,
 * and dropping it would train less than was asked, so it is an error that names it.
 */
export function refuseQuantizedModulesToSave(module: Module, modulesToSave: readonly string[]): void {
  for (const [path, m] of module.namedModules()) {
    const blocks = m instanceof LoraLinear ? m.base.quantized : (m as { quantized?: QuantizedMatrix | null }).quantized;
    if (blocks && isModuleToSave(modulesToSave, `${path}.weight`))
      throw Object.assign(
        new Error(
          `additional_target ${path}: the module is stored quantized (${blocks.type}), so it cannot train in full. Under quantization_bit only norms, embeddings and the LM head stay in float: remove it from additional_target or train an unquantized base (loadModel's fullPrecisionModules decodes it from a GGUF file)`,
        ),
        { userFacing: true },
      );
  }
}
