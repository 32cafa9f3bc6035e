/**
 * SentencePiece vocabularies in GGUF (issue #13 items 2 and 3): a Llama model with Mistral's real tokenizer (BPE with
 * byte fallback over `▁` words) exports as llama.cpp's `llama` vocabulary (tokens, scores, token types), which
 * @huggingface/gguf parses, llama.cpp tokenizes as lmforge does and decodes greedily as lmforge does, and which
 * lmforge reads back as a tokenizer that encodes and decodes as the original.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { gguf } from '@huggingface/gguf';
import { getLlama, type Llama, LlamaLogLevel, type Token } from 'node-llama-cpp';
import { exportModel } from '../../src/export/index.js';
import { loadModel } from '../../src/models/causal-lm.js';
import { Tokenizer } from '../../src/tokenizer/tokenizer.js';
import { tinyMistralDir } from '../util/tiny-model.js';
import { tempDir } from '../util/tokenizers.js';
import { exportArgs, quiet } from './helpers.js';

const TEXTS = [
  'The quick brown fox jumps over the lazy dog.',
  '  Leading spaces,\ttabs and\nnew lines;   runs of   spaces.',
  'Unicode: 你好, 世界! café naïve — “quotes” 🙂🚀 12345 + 678 = 13023.',
  'def f(x):\n    return x ** 2  # squares',
];

let llama: Llama;
let base: string;
let path: string;
before(async () => {
  llama = await getLlama({
    gpu: false,
    build: 'never',
    usePrebuiltBinaries: true,
    skipDownload: true,
    progressLogs: false,
    logLevel: LlamaLogLevel.error,
  });
  base = tinyMistralDir(5, { std: 0.05, hiddenSize: 64 });
  const out = join(tempDir('gguf-spm'), 'out');
  await exportModel(
    exportArgs({
      model_name_or_path: base,
      template: 'mistral',
      export_dir: out,
      export_format: 'gguf',
      gguf_type: 'f32',
    }),
    { log: quiet },
  );
  path = join(out, 'model-f32.gguf');
});
after(async () => {
  await llama?.dispose();
});

test('the llama vocabulary: tokens, scores and types by id, as @huggingface/gguf reads them', async () => {
  const parsed = await gguf(path, { allowLocalFile: true });
  const md = parsed.metadata as Record<string, unknown>;
  assert.equal(md['tokenizer.ggml.model'], 'llama');
  const tokens = md['tokenizer.ggml.tokens'] as string[];
  const scores = md['tokenizer.ggml.scores'] as number[];
  const types = md['tokenizer.ggml.token_type'] as number[];
  assert.equal(tokens.length, 32000);
  assert.equal(scores.length, 32000);
  assert.deepEqual([tokens[0], types[0]], ['<unk>', 2]);
  assert.deepEqual([tokens[1], types[1], tokens[2], types[2]], ['<s>', 3, '</s>', 3]);
  assert.deepEqual([tokens[3], types[3], tokens[258], types[258]], ['<0x00>', 6, '<0xFF>', 6]);
  const hf = Tokenizer.fromDir(base);
  assert.equal(tokens[hf.tokenToId('▁t') as number], '▁t');
  // the first merges ('▁ t', 'i n') make the best-scoring pieces
  assert.ok((scores[hf.tokenToId('▁t') as number] as number) > (scores[hf.tokenToId('▁the') as number] as number));
  assert.equal(md['tokenizer.ggml.bos_token_id'], 1);
  assert.equal(md['tokenizer.ggml.add_bos_token'], true);
  assert.equal(md['tokenizer.ggml.add_space_prefix'], true);
});

test('llama.cpp tokenizes the SentencePiece vocabulary as lmforge does, and decodes greedily as lmforge', async () => {
  const hf = Tokenizer.fromDir(base);
  const model = await llama.loadModel({ modelPath: path, gpuLayers: 0 });
  const ours = await loadModel(base);
  try {
    for (const text of TEXTS)
      assert.deepEqual([...model.tokenize(text)], await hf.encode(text, { addSpecialTokens: false }), text);
    const prompt = await hf.encode(TEXTS[0] as string);
    assert.equal(prompt[0], 1, 'BOS first');
    const greedyOurs = ours.generate(prompt, { maxNewTokens: 32, stop: [] }).slice(prompt.length);
    const context = await model.createContext({ contextSize: 128, batchSize: 128, threads: 2, sequences: 1 });
    try {
      const greedyLlama: number[] = [];
      for await (const token of context.getSequence().evaluate(prompt as Token[], {
        temperature: 0,
        yieldEogToken: true,
      })) {
        greedyLlama.push(token);
        if (greedyLlama.length >= 32) break;
      }
      assert.deepEqual(greedyLlama, greedyOurs);
    } finally {
      await context.dispose();
    }
  } finally {
    ours.dispose();
    await model.dispose();
  }
});

test('lmforge reads the GGUF SentencePiece vocabulary back: same ids, same text, the chat template', async () => {
  const hf = Tokenizer.fromDir(base);
  const tok = Tokenizer.fromDir(path);
  for (const text of TEXTS) {
    const ids = await tok.encode(text);
    assert.deepEqual(ids, await hf.encode(text), text);
    assert.equal(tok.decode(ids, { skipSpecialTokens: true }), hf.decode(ids, { skipSpecialTokens: true }), text);
  }
  assert.equal(tok.bosTokenId, 1);
  assert.equal(tok.eosTokenId, hf.eosTokenId);
  assert.match(tok.chatTemplate ?? '', /\[INST\]/, "the export's mistral template travels in the metadata");
});
