/** Which weights train: all (full fine-tuning), none (inference), or LLaMA-Factory's freeze tuning. LoRA: adapters.ts. */
import type { ModelConfig } from '../io/model-config.js';
import type { Module } from '../nn/module.js';
import { namedParameters } from './parameters.js';

/** LLaMA-Factory's freeze tuning: the last n (or, negative, the first n) layers' chosen modules train. */
export interface FreezeOptions {
  trainableLayers: number;
  /** 'all' or names of modules inside a layer (self_attn, mlp, ...). */
  trainableModules?: readonly string[] | 'all';
  /** Modules outside the layers that also train (embed_tokens, norm, lm_head). */
  extraModules?: readonly string[];
  /** These layers instead of the first/last trainableLayers (LLaMA Pro's expanded blocks). */
  layerIds?: readonly number[];
}

/** Trains every weight (full fine-tuning). Trainable weights must be f32. */
export function setFullTraining(module: Module): void {
  for (const [name, t] of namedParameters(module)) {
    if (t.dtype !== 'f32')
      throw new Error(`${name} is stored as ${t.dtype}; full fine-tuning needs f32 weights (load with dtype 'f32')`);
    t.requiresGrad = true;
  }
}

/** Freezes every weight (inference). */
export function freezeAll(module: Module): void {
  for (const [, t] of namedParameters(module)) t.requiresGrad = false;
}

/**
 * The name patterns of the parameters freeze tuning trains (a parameter trains when its name contains one), from the
 * layer count alone: the loader keeps those f32 (masters) before the model exists.
 */
export function freezePatterns(numHiddenLayers: number, o: FreezeOptions): string[] {
  const n = numHiddenLayers;
  const k = o.trainableLayers;
  const ids = o.layerIds ?? (k > 0 ? range(Math.max(0, n - k), n) : range(0, Math.min(-k, n)));
  const modules = o.trainableModules === undefined || o.trainableModules === 'all' ? ['all'] : o.trainableModules;
  const patterns = modules.flatMap((m) => ids.map((i) => `.${i}.${m === 'all' ? '' : m}`));
  return [...patterns, ...(o.extraModules ?? [])];
}

/** LLaMA-Factory's freeze tuning. Returns the trainable name patterns. */
export function setFreezeTraining(module: Module, config: ModelConfig, o: FreezeOptions): string[] {
  const names = namedParameters(module).map(([name]) => name);
  const hidden = new Set(
    names.filter((s) => s.includes('.0.')).map((s) => (s.split('.0.')[1] as string).split('.')[0] as string),
  );
  const nonHidden = new Set(names.filter((s) => !/\.\d+\./.test(s)).map((s) => s.split('.').at(-2) as string));
  const modules = o.trainableModules === undefined || o.trainableModules === 'all' ? [] : o.trainableModules;
  for (const m of modules)
    if (m !== 'all' && !hidden.has(m))
      throw new Error(`freeze_trainable_modules: module '${m}' is not found; choose from ${[...hidden].join(', ')}`);
  for (const m of o.extraModules ?? [])
    if (!nonHidden.has(m))
      throw new Error(`freeze_extra_modules: module '${m}' is not found; choose from ${[...nonHidden].join(', ')}`);
  const patterns = freezePatterns(config.numHiddenLayers, o);
  for (const [name, t] of namedParameters(module)) {
    const on = patterns.some((p) => name.includes(p));
    if (on && t.dtype !== 'f32') throw new Error(`${name} is stored as ${t.dtype}; trainable weights must be f32`);
    t.requiresGrad = on;
  }
  return patterns;
}

function range(a: number, b: number): number[] {
  return Array.from({ length: Math.max(0, b - a) }, (_, i) => a + i);
}
