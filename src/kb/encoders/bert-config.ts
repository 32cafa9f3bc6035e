/**
 * config.json of a BERT-family encoder as HF's BertConfig / XLMRobertaConfig read it: BertModel (bge-*-en/zh,
 * text2vec), XLMRobertaModel (bge-m3) and their *ForSequenceClassification heads (bge-reranker). RoBERTa-style
 * models number positions from padding_idx + 1 (HF create_position_ids_from_input_ids); BERT from 0.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { KbError } from '../errors.js';

export type EncoderFamily = 'bert' | 'xlm-roberta';

export interface BertConfig {
  family: EncoderFamily;
  /** The first architecture named, e.g. BertModel or XLMRobertaForSequenceClassification. */
  architecture: string;
  vocabSize: number;
  hiddenSize: number;
  numLayers: number;
  numHeads: number;
  intermediateSize: number;
  maxPositions: number;
  typeVocabSize: number;
  layerNormEps: number;
  padTokenId: number;
  /** Position id of the first token: padding_idx + 1 for XLM-R/RoBERTa, 0 for BERT. */
  positionOffset: number;
  /** Classifier outputs (rerankers: 1). */
  numLabels: number;
}

const FAMILIES: Record<string, EncoderFamily> = { bert: 'bert', 'xlm-roberta': 'xlm-roberta', roberta: 'xlm-roberta' };

/** Whether a model folder holds a BERT-family encoder (else it is a causal LM, embedded by mean pooling). */
export function isBertFamilyFolder(dir: string): boolean {
  const path = join(dir, 'config.json');
  if (!existsSync(path)) return false;
  try {
    const type = (JSON.parse(readFileSync(path, 'utf8')) as { model_type?: unknown }).model_type;
    return typeof type === 'string' && type in FAMILIES;
  } catch {
    return false;
  }
}

export function readBertConfig(dir: string): BertConfig {
  const path = join(dir, 'config.json');
  if (!existsSync(path)) throw new KbError(`${path} not found: an encoder folder needs its config.json`);
  const raw = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
  const family = FAMILIES[String(raw.model_type)];
  if (!family)
    throw new KbError(`${path}: model_type ${String(raw.model_type)} is not a BERT-family encoder (bert, xlm-roberta)`);
  const int = (key: string, fallback?: number): number => {
    const v = raw[key] ?? fallback;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0)
      throw new KbError(`${path}: "${key}" must be a non-negative integer, got ${JSON.stringify(v)}`);
    return v;
  };
  const act = raw.hidden_act ?? 'gelu';
  if (act !== 'gelu')
    throw new KbError(`${path}: hidden_act ${JSON.stringify(act)} is not supported (BERT encoders use "gelu")`);
  const posType = raw.position_embedding_type ?? 'absolute';
  if (posType !== 'absolute')
    throw new KbError(`${path}: position_embedding_type ${JSON.stringify(posType)} is not supported (only absolute)`);
  const hiddenSize = int('hidden_size');
  const numHeads = int('num_attention_heads');
  if (numHeads === 0 || hiddenSize % numHeads !== 0)
    throw new KbError(`${path}: hidden_size ${hiddenSize} is not a multiple of num_attention_heads ${numHeads}`);
  const padTokenId = int('pad_token_id', family === 'bert' ? 0 : 1);
  const architectures = Array.isArray(raw.architectures) ? raw.architectures : [];
  const labels = raw.id2label && typeof raw.id2label === 'object' ? Object.keys(raw.id2label).length : 0;
  return {
    family,
    architecture:
      typeof architectures[0] === 'string' ? architectures[0] : family === 'bert' ? 'BertModel' : 'XLMRobertaModel',
    vocabSize: int('vocab_size'),
    hiddenSize,
    numLayers: int('num_hidden_layers'),
    numHeads,
    intermediateSize: int('intermediate_size'),
    maxPositions: int('max_position_embeddings'),
    typeVocabSize: int('type_vocab_size', 2),
    layerNormEps: typeof raw.layer_norm_eps === 'number' ? raw.layer_norm_eps : 1e-12,
    padTokenId,
    positionOffset: family === 'bert' ? 0 : padTokenId + 1,
    numLabels: int('num_labels', labels || 2),
  };
}
