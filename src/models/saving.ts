/**
 * Saving a plain (adapter-free or merged) model as an HF checkpoint folder: config.json, generation_config.json,
 * safetensors (sharded by size), and the tokenizer files of the folder the model was loaded from, so the saved
 * folder is a model `lmforge chat` and transformers open as they are.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { DType } from '../engine/index.js';
import { writeFileAtomic } from '../io/atomic.js';
import { saveCheckpoint } from '../io/checkpoint.js';
import type { ModelConfig } from '../io/model-config.js';
import type { WritableTensor } from '../io/safetensors.js';

export interface SaveModelOptions {
  /** Store floating weights in this dtype (recorded as torch_dtype). Default: as held. */
  dtype?: DType;
  /** transformers' max_shard_size: bytes or "5GB", "500MB". Default "5GB". */
  maxShardSize?: number | string;
  /** Copy the tokenizer files of the folder the model was loaded from (default true; none for createModel). */
  tokenizer?: boolean;
}

/** What a tokenizer's save_pretrained writes (fast and slow tokenizers, chat templates). */
export const TOKENIZER_FILES = [
  'tokenizer.json',
  'tokenizer_config.json',
  'special_tokens_map.json',
  'added_tokens.json',
  'chat_template.jinja',
  'chat_template.json',
  'tokenizer.model',
  'vocab.json',
  'merges.txt',
] as const;

/** What a saved folder holds besides the weights. */
export interface SavedModelFiles {
  readonly config: ModelConfig;
  readonly generationConfig: Readonly<Record<string, unknown>>;
  /** The folder the model was loaded from (tokenizer files), or null. */
  readonly sourceDir: string | null;
}

export function saveModel(
  dir: string,
  parameters: [string, WritableTensor][],
  model: SavedModelFiles,
  options: SaveModelOptions = {},
): void {
  const { tokenizer = true, ...checkpoint } = options;
  const generation = model.generationConfig;
  saveCheckpoint(dir, parameters, {
    ...checkpoint,
    config: model.config,
    generationConfig: Object.keys(generation).length ? (generation as never) : undefined,
  });
  if (tokenizer && model.sourceDir !== null) copyTokenizerFiles(model.sourceDir, dir);
}

/** Copies the tokenizer files `from` has into `to` (each written atomically); returns their names. */
export function copyTokenizerFiles(from: string, to: string): string[] {
  if (resolve(from) === resolve(to)) return [];
  const copied: string[] = [];
  for (const name of TOKENIZER_FILES) {
    const source = join(from, name);
    if (!existsSync(source) || !statSync(source).isFile()) continue;
    writeFileAtomic(join(to, name), readFileSync(source));
    copied.push(name);
  }
  return copied;
}
