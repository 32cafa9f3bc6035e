/**
 * A random-weight HF checkpoint written one decoder layer at a time, for shapes whose full model does not fit beside
 * the benchmark (Llama-3-8B in bf16 is 16 GB; this machine has 24). Layer i's weights come from a one-layer model of
 * the same shape (tiny vocabulary, seed + i) renamed to `model.layers.{i}.`; the embeddings, final norm and LM head
 * from a one-layer model with the real vocabulary. Each layer is its own shard, listed in
 * `model.safetensors.index.json`, so peak memory while writing is one layer plus the embeddings.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Tensor } from '../../src/engine/index.js';
import { type ModelConfig, parseModelConfig, toHfConfigJson } from '../../src/io/model-config.js';
import { writeSafetensors } from '../../src/io/safetensors.js';
import { createModel } from '../../src/models/loading.js';

const LAYER_ZERO = 'model.layers.0.';

export function writeLayeredRandomCheckpoint(dir: string, raw: Record<string, unknown>, seed: number): ModelConfig {
  const config = parseModelConfig(raw);
  const layers = config.raw.num_hidden_layers as number;
  mkdirSync(dir, { recursive: true });
  const shards = layers + 1;
  const file = (k: number) =>
    `model-${String(k + 1).padStart(5, '0')}-of-${String(shards).padStart(5, '0')}.safetensors`;
  const weightMap: Record<string, string> = {};
  let totalSize = 0;
  // total_size counts tensor bytes, headers excluded, as transformers writes it.
  const write = (k: number, tensors: [string, Tensor][]) => {
    writeSafetensors(join(dir, file(k)), tensors);
    for (const [name, t] of tensors) {
      weightMap[name] = file(k);
      totalSize += t.numel * (t.dtype === 'f32' ? 4 : 2);
    }
  };
  const outer = createModel(parseModelConfig({ ...raw, num_hidden_layers: 1 }), { seed, dtype: 'bf16' });
  try {
    write(
      layers,
      outer.namedParameters().filter(([name]) => !name.startsWith('model.layers.')),
    );
  } finally {
    outer.dispose();
  }
  for (let i = 0; i < layers; i++) {
    const one = createModel(parseModelConfig({ ...raw, num_hidden_layers: 1, vocab_size: 256 }), {
      seed: seed + 1 + i,
      dtype: 'bf16',
    });
    try {
      write(
        i,
        one
          .namedParameters()
          .filter(([name]) => name.startsWith(LAYER_ZERO))
          .map(([name, t]) => [`model.layers.${i}.${name.slice(LAYER_ZERO.length)}`, t]),
      );
    } finally {
      one.dispose();
    }
  }
  writeFileSync(join(dir, 'config.json'), toHfConfigJson(config, { torchDtype: 'bf16' }));
  writeFileSync(
    join(dir, 'model.safetensors.index.json'),
    `${JSON.stringify({ metadata: { total_size: totalSize }, weight_map: weightMap }, null, 2)}\n`,
  );
  return config;
}
