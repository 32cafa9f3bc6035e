/**
 * How a sentence-transformers folder turns token states into one vector: modules.json lists the modules
 * (Transformer, Pooling, optional Normalize), the Pooling module's config.json (1_Pooling/config.json) picks CLS or
 * mean, sentence_bert_config.json caps the input length. A folder without modules.json is pooled by mean, as
 * sentence-transformers wraps a plain transformer. Vectors are always L2-normalised (retrieval compares cosines).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { KbError } from '../errors.js';

export type PoolingMode = 'cls' | 'mean';

export interface PoolingSettings {
  mode: PoolingMode;
  /** max_seq_length from sentence_bert_config.json, or null. */
  maxSeqLength: number | null;
}

function readJson(path: string): Record<string, unknown> {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
  } catch (e) {
    throw new KbError(`${path} is not valid JSON: ${(e as Error).message}`);
  }
}

const UNSUPPORTED_MODES = [
  'pooling_mode_max_tokens',
  'pooling_mode_mean_sqrt_len_tokens',
  'pooling_mode_weightedmean_tokens',
  'pooling_mode_lasttoken',
];

function poolingModeOf(path: string): PoolingMode {
  const cfg = readJson(path);
  const on = (key: string) => cfg[key] === true;
  const other = UNSUPPORTED_MODES.filter(on);
  if (other.length > 0) throw new KbError(`${path}: ${other.join(', ')} is not supported (CLS or mean pooling are)`);
  if (on('pooling_mode_cls_token') && on('pooling_mode_mean_tokens'))
    throw new KbError(`${path}: CLS and mean pooling together (concatenated) are not supported; choose one`);
  if (on('pooling_mode_cls_token')) return 'cls';
  if (on('pooling_mode_mean_tokens')) return 'mean';
  const mode = cfg.pooling_mode;
  if (mode === 'cls' || mode === 'mean') return mode;
  throw new KbError(`${path}: no pooling mode is set (pooling_mode_cls_token or pooling_mode_mean_tokens)`);
}

export function readPoolingSettings(dir: string): PoolingSettings {
  const bertConfig = join(dir, 'sentence_bert_config.json');
  const max = existsSync(bertConfig) ? readJson(bertConfig).max_seq_length : null;
  const maxSeqLength = typeof max === 'number' && Number.isInteger(max) && max > 0 ? max : null;
  const modulesPath = join(dir, 'modules.json');
  if (!existsSync(modulesPath)) return { mode: 'mean', maxSeqLength };
  const modules = JSON.parse(readFileSync(modulesPath, 'utf8')) as Array<{ type?: string; path?: string }>;
  if (!Array.isArray(modules)) throw new KbError(`${modulesPath}: expected a list of modules`);
  let mode: PoolingMode = 'mean';
  for (const m of modules) {
    const type = String(m.type ?? '');
    if (type.endsWith('.Pooling')) mode = poolingModeOf(join(dir, m.path ?? '', 'config.json'));
    else if (!type.endsWith('.Transformer') && !type.endsWith('.Normalize'))
      throw new KbError(`${modulesPath}: module ${type} is not supported (Transformer, Pooling and Normalize are)`);
  }
  return { mode, maxSeqLength };
}
