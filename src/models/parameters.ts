/**
 * A model's parameters by name: HF names for model weights and PEFT's saved keys for LoRA factors, copying values in
 * (resume), and storing frozen matrices in a narrower dtype.
 */
import { keep, native, type Tensor } from '../engine/index.js';
import type { ModelConfig } from '../io/model-config.js';
import { PEFT_PREFIX } from '../io/peft.js';
import { Linear } from '../nn/linear.js';
import type { Module } from '../nn/module.js';
import type { CausalLMModule } from './family.js';

/** [name, tensor]: HF names for model weights, PEFT's saved keys (base_model.model.…lora_A.weight) for LoRA. */
export function namedParameters(module: Module): [string, Tensor][] {
  return [...module.namedParameters()].map(([name, t]) => [
    /\.(lora_[AB]\.weight|lora_magnitude_vector)$/.test(name) ? `${PEFT_PREFIX}${name}` : name,
    t,
  ]);
}

/** The parameter at an HF path (model.layers.0.mlp.up_proj.weight), LoRA-wrapped modules included. */
export function findParameter(module: Module, name: string): Tensor | undefined {
  for (const [n, t] of module.namedParameters()) if (n === name) return t;
  return undefined;
}

/** The module at a dotted path ('' = the root). */
export function moduleAt(module: Module, path: string): Module {
  if (path === '') return module;
  for (const [p, m] of module.namedModules()) if (p === path) return m;
  throw new Error(`no module at ${path}`);
}

/** 'a.b.c' -> ['a.b', 'c']. */
export function parentAndName(path: string): [string, string] {
  const dot = path.lastIndexOf('.');
  return dot < 0 ? ['', path] : [path.slice(0, dot), path.slice(dot + 1)];
}

/** Copies src's values into dst's storage (same number of values; converted to dst's dtype). */
export function copyInto(src: Tensor, dst: Tensor): void {
  const converted = src.dtype === dst.dtype ? src : src.to(dst.dtype);
  native.copy(converted.handle, 0, dst.handle, 0, dst.byteLength);
  if (converted !== src) converted.dispose();
}

/**
 * Copies tensors by name (namedParameters() names) into the model's parameters, converting dtypes: resuming from a
 * checkpoint. Names not in the model are an error; parameters not given are left alone.
 */
export function loadParameters(module: Module, tensors: Iterable<[string, Tensor]>, source: string): number {
  const params = new Map(namedParameters(module));
  let count = 0;
  for (const [name, t] of tensors) {
    const target = params.get(name);
    if (!target) throw new Error(`${source}: ${name} is not a parameter of this model`);
    if (target.numel !== t.numel)
      throw new Error(`${source}: ${name} is [${t.shape}], the model's is [${target.shape}]`);
    copyInto(t, target);
    count++;
  }
  return count;
}

/**
 * Stores every frozen weight matrix as `dtype` (bf16/f16 halve the memory of the weights LoRA and freeze tuning do
 * not train; kernels widen them to f32 as they read). Trainable tensors stay f32.
 */
export function castFrozen(module: CausalLMModule, config: ModelConfig, dtype: 'bf16' | 'f16' | 'f32'): void {
  for (const [path, m] of module.namedModules()) {
    if (!(m instanceof Linear) || m.quantized || m.weight.requiresGrad || m.weight.dtype === dtype) continue;
    // A tied head shares the embedding matrix: the embedding converts it (below).
    if (path === 'lm_head' && config.tieWordEmbeddings) continue;
    const converted = keep(m.weight.to(dtype));
    converted.name = m.weight.name;
    m.weight.dispose();
    m.replaceWeight(converted);
  }
  const emb = module.model.embedTokens;
  if (emb.quantized) return;
  if (!emb.weight.requiresGrad && emb.weight.dtype !== dtype) {
    const converted = keep(emb.weight.to(dtype));
    converted.name = emb.weight.name;
    emb.weight.dispose();
    emb.replaceWeight(converted);
    if (config.tieWordEmbeddings) (module.child('lm_head') as Linear).replaceWeight(converted);
  }
}
