// Tiny random BERT / XLM-R checkpoints the encoder tests write (config.json, model.safetensors, tokenizer.json with
// a WordPiece or Unigram model, optional sentence-transformers modules), and the weights as float64 for references.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Tensor } from '../../src/engine/index.js';
import { writeSafetensors } from '../../src/io/safetensors.js';
import { Rng } from '../util/random.js';
import { tempDir } from '../util/tokenizers.js';

export type Family = 'bert' | 'xlm-roberta';

export interface TinyEncoder {
  dir: string;
  weights: Map<string, { data: Float64Array; shape: number[] }>;
  hidden: number;
  heads: number;
  layers: number;
  eps: number;
  positionOffset: number;
  prefix: string;
}

const BERT_WORDS = [
  '[PAD]',
  '[UNK]',
  '[CLS]',
  '[SEP]',
  '[MASK]',
  'hello',
  'world',
  'the',
  'cat',
  'sat',
  'un',
  '##believ',
  '##able',
  'on',
  'mat',
  '.',
  '猫',
  '坐',
  'a',
  '##s',
];
const XLMR_PIECES = [
  '<s>',
  '<pad>',
  '</s>',
  '<unk>',
  '▁hello',
  '▁world',
  '▁the',
  '▁cat',
  '▁sat',
  '▁on',
  '▁mat',
  '.',
  '▁',
  's',
  'a',
  't',
];

export const VOCAB: Record<Family, string[]> = { bert: BERT_WORDS, 'xlm-roberta': XLMR_PIECES };

function special(id: number, content: string) {
  return { id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true };
}

function bertTokenizer(): object {
  const seq = (id: string, type: number) => ({ Sequence: { id, type_id: type } });
  const tok = (id: string, type: number) => ({ SpecialToken: { id, type_id: type } });
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: BERT_WORDS.slice(0, 5).map((w, i) => special(i, w)),
    normalizer: {
      type: 'BertNormalizer',
      clean_text: true,
      handle_chinese_chars: true,
      strip_accents: null,
      lowercase: true,
    },
    pre_tokenizer: { type: 'BertPreTokenizer' },
    post_processor: {
      type: 'TemplateProcessing',
      single: [tok('[CLS]', 0), seq('A', 0), tok('[SEP]', 0)],
      pair: [tok('[CLS]', 0), seq('A', 0), tok('[SEP]', 0), seq('B', 1), tok('[SEP]', 1)],
      special_tokens: {
        '[CLS]': { id: '[CLS]', ids: [2], tokens: ['[CLS]'] },
        '[SEP]': { id: '[SEP]', ids: [3], tokens: ['[SEP]'] },
      },
    },
    decoder: { type: 'WordPiece', prefix: '##', cleanup: true },
    model: {
      type: 'WordPiece',
      unk_token: '[UNK]',
      continuing_subword_prefix: '##',
      max_input_chars_per_word: 100,
      vocab: Object.fromEntries(BERT_WORDS.map((w, i) => [w, i])),
    },
  };
}

function xlmrTokenizer(): object {
  const seq = (id: string) => ({ Sequence: { id, type_id: 0 } });
  const tok = (id: string) => ({ SpecialToken: { id, type_id: 0 } });
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: XLMR_PIECES.slice(0, 4).map((w, i) => special(i, w)),
    normalizer: null,
    pre_tokenizer: { type: 'Metaspace', replacement: '▁', prepend_scheme: 'always', split: true },
    post_processor: {
      type: 'TemplateProcessing',
      single: [tok('<s>'), seq('A'), tok('</s>')],
      pair: [tok('<s>'), seq('A'), tok('</s>'), tok('</s>'), seq('B'), tok('</s>')],
      special_tokens: {
        '<s>': { id: '<s>', ids: [0], tokens: ['<s>'] },
        '</s>': { id: '</s>', ids: [2], tokens: ['</s>'] },
      },
    },
    decoder: { type: 'Metaspace', replacement: '▁', prepend_scheme: 'always', split: true },
    model: {
      type: 'Unigram',
      unk_id: 3,
      byte_fallback: false,
      vocab: XLMR_PIECES.map((p, i) => [p, i < 4 ? 0 : -1 - i / 10]),
    },
  };
}

export interface TinyOptions {
  family: Family;
  /** sentence-transformers pooling written to modules.json + 1_Pooling (none: no modules.json). */
  pooling?: 'cls' | 'mean';
  /** Adds a *ForSequenceClassification head with one label (a reranker). */
  classifier?: boolean;
  seed?: number;
  /** Sizes (default hidden 8, 2 heads, 2 layers, intermediate 12, 24 positions): larger ones time the forward. */
  dims?: { hidden: number; heads: number; layers: number; intermediate: number; positions: number };
}

export function writeTinyEncoder(options: TinyOptions): TinyEncoder {
  const { family } = options;
  const dir = tempDir(`tiny-${family}`);
  const rng = new Rng(options.seed ?? 7);
  const hidden = options.dims?.hidden ?? 8;
  const heads = options.dims?.heads ?? 2;
  const layers = options.dims?.layers ?? 2;
  const inter = options.dims?.intermediate ?? 12;
  const vocab = VOCAB[family].length;
  const eps = 1e-12;
  const pad = family === 'bert' ? 0 : 1;
  const positionOffset = family === 'bert' ? 0 : pad + 1;
  const maxPositions = (options.dims?.positions ?? 24) + positionOffset;
  const prefix = options.classifier ? (family === 'bert' ? 'bert.' : 'roberta.') : '';
  const weights = new Map<string, { data: Float64Array; shape: number[] }>();
  const tensors: Record<string, Tensor> = {};
  const put = (name: string, shape: number[], lo = -0.5, hi = 0.5) => {
    const { f32, f64 } = rng.floats(
      shape.reduce((a, b) => a * b, 1),
      lo,
      hi,
    );
    weights.set(name, { data: f64, shape });
    tensors[name] = Tensor.from(f32, shape);
  };
  const linear = (name: string, out: number, inp: number) => {
    put(`${name}.weight`, [out, inp]);
    put(`${name}.bias`, [out], -0.1, 0.1);
  };
  const norm = (name: string) => {
    put(`${name}.weight`, [hidden], 0.5, 1.5);
    put(`${name}.bias`, [hidden], -0.1, 0.1);
  };
  put(`${prefix}embeddings.word_embeddings.weight`, [vocab, hidden], -1, 1);
  put(`${prefix}embeddings.position_embeddings.weight`, [maxPositions, hidden], -1, 1);
  put(`${prefix}embeddings.token_type_embeddings.weight`, [family === 'bert' ? 2 : 1, hidden], -1, 1);
  norm(`${prefix}embeddings.LayerNorm`);
  for (let i = 0; i < layers; i++) {
    const l = `${prefix}encoder.layer.${i}`;
    for (const p of ['query', 'key', 'value']) linear(`${l}.attention.self.${p}`, hidden, hidden);
    linear(`${l}.attention.output.dense`, hidden, hidden);
    norm(`${l}.attention.output.LayerNorm`);
    linear(`${l}.intermediate.dense`, inter, hidden);
    linear(`${l}.output.dense`, hidden, inter);
    norm(`${l}.output.LayerNorm`);
  }
  if (options.classifier && family === 'bert') {
    linear('bert.pooler.dense', hidden, hidden);
    linear('classifier', 1, hidden);
  } else if (options.classifier) {
    linear('classifier.dense', hidden, hidden);
    linear('classifier.out_proj', 1, hidden);
  }
  writeSafetensors(join(dir, 'model.safetensors'), tensors);
  for (const t of Object.values(tensors)) t.dispose();
  const arch = `${family === 'bert' ? 'Bert' : 'XLMRoberta'}${options.classifier ? 'ForSequenceClassification' : 'Model'}`;
  const config = {
    architectures: [arch],
    model_type: family,
    vocab_size: vocab,
    hidden_size: hidden,
    num_hidden_layers: layers,
    num_attention_heads: heads,
    intermediate_size: inter,
    hidden_act: 'gelu',
    max_position_embeddings: maxPositions,
    type_vocab_size: family === 'bert' ? 2 : 1,
    layer_norm_eps: eps,
    pad_token_id: pad,
    ...(options.classifier ? { id2label: { 0: 'LABEL_0' }, label2id: { LABEL_0: 0 } } : {}),
  };
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config));
  writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(family === 'bert' ? bertTokenizer() : xlmrTokenizer()));
  const specials =
    family === 'bert'
      ? { cls_token: '[CLS]', sep_token: '[SEP]', pad_token: '[PAD]', unk_token: '[UNK]', mask_token: '[MASK]' }
      : {
          bos_token: '<s>',
          eos_token: '</s>',
          cls_token: '<s>',
          sep_token: '</s>',
          pad_token: '<pad>',
          unk_token: '<unk>',
        };
  writeFileSync(
    join(dir, 'tokenizer_config.json'),
    JSON.stringify({
      tokenizer_class: family === 'bert' ? 'BertTokenizer' : 'XLMRobertaTokenizer',
      model_max_length: 512,
      ...specials,
    }),
  );
  if (options.pooling) {
    writeFileSync(
      join(dir, 'modules.json'),
      JSON.stringify([
        { idx: 0, name: '0', path: '', type: 'sentence_transformers.models.Transformer' },
        { idx: 1, name: '1', path: '1_Pooling', type: 'sentence_transformers.models.Pooling' },
        { idx: 2, name: '2', path: '2_Normalize', type: 'sentence_transformers.models.Normalize' },
      ]),
    );
    mkdirSync(join(dir, '1_Pooling'));
    writeFileSync(
      join(dir, '1_Pooling', 'config.json'),
      JSON.stringify({
        word_embedding_dimension: hidden,
        pooling_mode_cls_token: options.pooling === 'cls',
        pooling_mode_mean_tokens: options.pooling === 'mean',
        pooling_mode_max_tokens: false,
        pooling_mode_mean_sqrt_len_tokens: false,
      }),
    );
    writeFileSync(join(dir, 'sentence_bert_config.json'), JSON.stringify({ max_seq_length: 16, do_lower_case: false }));
  }
  return { dir, weights, hidden, heads, layers, eps, positionOffset, prefix };
}
