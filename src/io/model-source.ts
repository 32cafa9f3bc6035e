/**
 * Where a model comes from: a Hugging Face folder (config.json + safetensors) or a GGUF file. The commands ask here
 * before their long work, so a .gguf path is as welcome as a folder.
 */
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { GgufFile } from './gguf-file.js';
import { ggufModelConfig } from './gguf-model.js';
import { type ModelConfig, readModelConfig } from './model-config.js';

/** `path` is an existing file named *.gguf. */
export function isGgufFile(path: string): boolean {
  return path.toLowerCase().endsWith('.gguf') && existsSync(path) && statSync(path).isFile();
}

/** `path` is a model lmforge loads: a folder with config.json, or a GGUF file. */
export function isModelSource(path: string): boolean {
  return isGgufFile(path) || existsSync(join(path, 'config.json'));
}

/** The model config of a folder (config.json) or of a GGUF file (its metadata). */
export function readSourceConfig(path: string): ModelConfig {
  return isGgufFile(path) ? ggufModelConfig(GgufFile.open(path)) : readModelConfig(path);
}
