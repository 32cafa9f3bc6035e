/**
 * LLaMA Pro (LLaMA-Factory's scripts/llama_pro.py and use_llama_pro): block expansion and which layers then train.
 *
 * expandModel: after every `num_layers / num_expand` layers a copy of the last one is inserted with its o_proj and
 * down_proj zeroed. A zeroed block adds nothing to the residual stream (its attention and MLP outputs are 0), so the
 * expanded model starts with the base model's logits; training only the new blocks keeps the old ones intact.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Tensor } from '../engine/index.js';
import { writeFileAtomic } from '../io/atomic.js';
import { CheckpointReader, DEFAULT_MAX_SHARD_SIZE, GENERATION_CONFIG_FILE, saveCheckpoint } from '../io/checkpoint.js';
import { parseModelConfig, readModelConfig } from '../io/model-config.js';
import { copyTokenizerFiles } from './saving.js';

export interface ExpandOptions {
  numExpand: number;
  /** transformers' max_shard_size (default 5GB). */
  shardSize?: string;
  log?: (message: string) => void;
}

/** Writes the expanded checkpoint (config, weights, tokenizer files) of `sourceDir` to `outputDir`. */
export function expandModel(sourceDir: string, outputDir: string, o: ExpandOptions): { numLayers: number } {
  const config = readModelConfig(sourceDir);
  const n = config.numHiddenLayers;
  const k = o.numExpand;
  if (!(Number.isInteger(k) && k > 0)) throw new Error(`num_expand must be a positive integer, got ${k}`);
  if (n % k !== 0) throw new Error(`num_layers ${n} should be divisible by num_expand ${k}.`);
  const split = n / k;
  const reader = CheckpointReader.open(sourceDir);
  try {
    const layerOf = (name: string) => /^model\.layers\.(\d+)\./.exec(name);
    const out: [string, Tensor][] = [];
    const sourceOf: number[] = [];
    let next = 0;
    for (let i = 0; i < n; i++) {
      const names = reader.names.filter((name) => Number(layerOf(name)?.[1]) === i);
      const rename = (name: string, to: number) => name.replace(`model.layers.${i}.`, `model.layers.${to}.`);
      for (const name of names) out.push([rename(name, next), reader.load(name)]);
      sourceOf.push(i);
      o.log?.(`Add layer ${next} copied from layer ${i}.`);
      next++;
      if ((i + 1) % split !== 0) continue;
      for (const name of names) {
        const t = reader.load(name);
        const zero = /\.(o_proj|down_proj)\./.test(name);
        out.push([rename(name, next), zero ? Tensor.zeros(t.shape, t.dtype) : t]);
        if (zero) t.dispose();
      }
      sourceOf.push(i);
      o.log?.(`Add layer ${next} expanded from layer ${i}.`);
      next++;
    }
    for (const name of reader.names) if (!layerOf(name)) out.push([name, reader.load(name)]);
    const raw: Record<string, unknown> = { ...config.raw, num_hidden_layers: n + k };
    // per-layer lists (layer_types: sliding / full attention) follow their source layers
    const types = config.raw.layer_types;
    if (Array.isArray(types)) raw.layer_types = sourceOf.map((i) => types[i]);
    saveCheckpoint(outputDir, out, {
      config: parseModelConfig(raw),
      maxShardSize: o.shardSize ?? DEFAULT_MAX_SHARD_SIZE,
    });
    for (const [, t] of out) t.dispose();
  } finally {
    reader.close();
  }
  copyTokenizerFiles(sourceDir, outputDir);
  const generation = join(sourceDir, GENERATION_CONFIG_FILE);
  if (existsSync(generation)) writeFileAtomic(join(outputDir, GENERATION_CONFIG_FILE), readFileSync(generation));
  return { numLayers: n + k };
}

/**
 * The expanded blocks of an expanded model (LLaMA-Factory's use_llama_pro): with `trainable` of them, every
 * `num_layers / trainable`-th layer, ending with the last: range(stride - 1, num_layers + stride - 1, stride).
 */
export function expandedLayerIds(numLayers: number, trainable: number): number[] {
  if (!(Number.isInteger(trainable) && trainable > 0) || numLayers % trainable !== 0)
    throw new Error(
      `use_llama_pro: num_layers ${numLayers} should be divisible by freeze_trainable_layers ${trainable}.`,
    );
  const stride = numLayers / trainable;
  return Array.from({ length: trainable }, (_, j) => stride - 1 + j * stride);
}
