/**
 * Gives the tiny base model random starting weights (HF's Llama init: matrices ~ N(0, initializer_range),
 * norms 1) so that `lmforge train examples/tiny/pretrain.yaml` can pre-train it from scratch.
 *
 *   npx tsx examples/tiny/init-model.ts [--seed 42]
 *
 * Only model.safetensors is written into examples/tiny/base: config.json, generation_config.json and
 * the tokenizer files there are the recipe's sources and stay as written.
 */
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseModelConfig } from '../../src/io/model-config.js';
import { createModel } from '../../src/models/causal-lm.js';

const baseDir = resolve(dirname(fileURLToPath(import.meta.url)), 'base');
const seedIndex = process.argv.indexOf('--seed');
const seed = seedIndex >= 0 ? Number(process.argv[seedIndex + 1]) : 42;
if (!Number.isInteger(seed) || seed < 0) throw new Error(`--seed must be a non-negative integer, got ${seed}`);

const configFile = join(baseDir, 'config.json');
const config = parseModelConfig(JSON.parse(readFileSync(configFile, 'utf8')), configFile);
const model = createModel(config, { seed });
const staging = mkdtempSync(join(tmpdir(), 'lmforge-tiny-init-'));
try {
  model.save(staging);
  const weightFiles = readdirSync(staging).filter((f) => f.endsWith('.safetensors') || f.endsWith('.index.json'));
  if (weightFiles.length === 0) throw new Error(`model.save wrote no safetensors into ${staging}`);
  for (const f of weightFiles) copyFileSync(join(staging, f), join(baseDir, f));
  const params = model.namedParameters().reduce((n, [, t]) => n + t.shape.reduce((a, b) => a * b, 1), 0);
  console.log(`wrote ${weightFiles.join(', ')} into ${baseDir}: ${params} parameters, seed ${seed}`);
} finally {
  rmSync(staging, { recursive: true, force: true });
}
