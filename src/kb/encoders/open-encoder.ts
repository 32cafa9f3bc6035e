/**
 * The encoder a model folder gives: a BERT-family folder (config model_type bert / xlm-roberta / roberta: bge,
 * text2vec, bge-m3) runs as a sentence encoder; anything else is a causal LM, mean-pooled (LazyChatModel).
 */
import { resolve } from 'node:path';
import type { Encoder } from '../dense.js';
import { LazyChatModel } from '../lazy-model.js';
import { isBertFamilyFolder } from './bert-config.js';
import { CrossEncoderReranker, type Reranker } from './reranker.js';
import { SentenceEncoder } from './sentence-encoder.js';

export type ClosableEncoder = Encoder & { close(): Promise<void> };

export function openEncoder(dir: string): ClosableEncoder {
  const folder = resolve(dir);
  if (isBertFamilyFolder(folder)) return SentenceEncoder.load(folder);
  return new LazyChatModel({ model_name_or_path: folder, template: null, default_system: null });
}

export function openReranker(dir: string): Reranker {
  return CrossEncoderReranker.load(resolve(dir));
}
