/**
 * ChatGLM3's tokenizer from a tokenizer.model folder (tokenizer_class ChatGLMTokenizer): the nine command tokens
 * after the SentencePiece pieces where get_command finds them, the [gMASK] sop prefix, the chatglm3 template's exact
 * ids on it, and a chat on tiny random ChatGLM3- and GLM-4-shaped models whose KV-cached greedy decoding matches a
 * full forward per step.
 */
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { getTemplate } from '../../src/data/template/index.js';
import { scope } from '../../src/engine/index.js';
import { parseModelConfig } from '../../src/io/model-config.js';
import { createModel } from '../../src/models/causal-lm.js';
import { CHATGLM_COMMAND_TOKENS } from '../../src/tokenizer/sentencepiece/chatglm.js';
import { writeModelProto } from '../../src/tokenizer/sentencepiece/write-model-proto.js';
import { Tokenizer } from '../../src/tokenizer/tokenizer.js';
import { trainSentencePieceBpe } from '../../src/tokenizer/train/train-sentencepiece.js';
import { train } from '../../src/train/trainer.js';
import { tempDir } from '../util/tokenizers.js';
import { chinesePoems, englishRecords } from './chinese-corpus.js';

const quiet = () => {};

function chatglmTokenizerDir(): { dir: string; pieces: number } {
  const proto = trainSentencePieceBpe([...chinesePoems(600), ...englishRecords(300)], {
    vocabSize: 3500,
    minFrequency: 2,
    characterCoverage: 0.9995,
    specialTokens: [],
  } as never);
  const dir = tempDir('chatglm3-tokenizer');
  writeFileSync(join(dir, 'tokenizer.model'), writeModelProto(proto));
  writeFileSync(
    join(dir, 'tokenizer_config.json'),
    JSON.stringify({
      tokenizer_class: 'ChatGLMTokenizer',
      padding_side: 'left',
      eos_token: '</s>',
      pad_token: '<unk>',
    }),
  );
  return { dir, pieces: proto.pieces.length };
}

test('ChatGLM3 tokenizer.model: command tokens at n_words + i, [gMASK] sop prefix, the chatglm3 template by id', async () => {
  const { dir, pieces } = chatglmTokenizerDir();
  const tokenizer = Tokenizer.fromDir(dir);
  for (const [i, name] of CHATGLM_COMMAND_TOKENS.entries()) assert.equal(tokenizer.tokenToId(name), pieces + i, name);
  assert.equal(tokenizer.size, pieces + CHATGLM_COMMAND_TOKENS.length);
  const gMask = pieces + 1;
  const sop = pieces + 3;
  const withSpecials = await tokenizer.encode('春风');
  const plain = await tokenizer.encode('春风', { addSpecialTokens: false });
  assert.deepEqual(withSpecials, [gMask, sop, ...plain]);
  assert.equal(tokenizer.decode(withSpecials, { skipSpecialTokens: true }), '春风');

  const template = getTemplate('chatglm3', tokenizer, { log: quiet });
  const [prompt, answer] = await template.encodeOneturn(tokenizer, [
    { role: 'user', content: '写一首诗' },
    { role: 'assistant', content: '春风' },
  ]);
  const text = (s: string) => tokenizer.encode(s, { addSpecialTokens: false });
  assert.deepEqual(prompt, [
    gMask,
    sop,
    pieces + 6, // <|user|>
    ...(await text('\n')),
    ...(await text('写一首诗')),
    pieces + 7, // <|assistant|>
  ]);
  assert.deepEqual(answer, [...(await text('\n')), ...(await text('春风'))]);
  assert.deepEqual(template.stopIds(tokenizer).slice(-2), [pieces + 6, pieces + 8], '<|user|>, <|observation|> stop');
});

const CHATGLM3 = {
  architectures: ['ChatGLMModel'],
  hidden_size: 32,
  ffn_hidden_size: 48,
  num_layers: 2,
  num_attention_heads: 4,
  multi_query_attention: true,
  multi_query_group_num: 2,
  kv_channels: 8,
  add_qkv_bias: true,
  seq_length: 128,
  initializer_range: 0.5,
};
const GLM4 = {
  architectures: ['GlmForCausalLM'],
  hidden_size: 32,
  intermediate_size: 48,
  num_hidden_layers: 2,
  num_attention_heads: 4,
  num_key_value_heads: 2,
  head_dim: 8,
  max_position_embeddings: 128,
  initializer_range: 0.5,
};

for (const [label, raw, templateName] of [
  ['ChatGLM3', CHATGLM3, 'chatglm3'],
  ['GLM-4', GLM4, 'glm4'],
] as const) {
  test(`${label}: chat with the ${templateName} template; KV-cached greedy decoding equals a full forward per step`, async () => {
    const { dir } = chatglmTokenizerDir();
    const tokenizer = Tokenizer.fromDir(dir);
    const vocab = Math.ceil(tokenizer.size / 64) * 64;
    const sizes = label === 'ChatGLM3' ? { padded_vocab_size: vocab } : { vocab_size: vocab };
    const model = createModel(parseModelConfig({ ...raw, ...sizes, eos_token_id: 2, pad_token_id: 0 }), { seed: 7 });
    const template = getTemplate(templateName, tokenizer, { log: quiet });
    const [prompt] = await template.encodeOneturn(tokenizer, [
      { role: 'user', content: '写一首关于春天的诗' },
      { role: 'assistant', content: '' },
    ]);
    const result = model.generateDetailed([prompt], { maxNewTokens: 8, stop: [] });
    const reply = result.tokens[0] as number[];
    assert.equal(reply.length, 8);
    const ids = [...prompt];
    for (const token of reply) {
      const next = scope(() => {
        const logits = model.forward({ inputIds: { data: Int32Array.from(ids), shape: [1, ids.length] } }).logits;
        const last = logits.toFloat32Array().subarray((ids.length - 1) * vocab, ids.length * vocab);
        let best = 0;
        for (let v = 1; v < vocab; v++) if ((last[v] as number) > (last[best] as number)) best = v;
        return best;
      });
      assert.equal(token, next, `step ${ids.length - prompt.length}`);
      ids.push(token);
    }
    assert.equal(typeof tokenizer.decode(reply, { skipSpecialTokens: true }), 'string');
    model.dispose();
  });
}

test('ChatGLM3: a LoRA SFT run with the chatglm3 template (lora_target all) saves an adapter on its four modules', async () => {
  const { dir: tokenizerDir } = chatglmTokenizerDir();
  const tokenizer = Tokenizer.fromDir(tokenizerDir);
  const vocab = Math.ceil(tokenizer.size / 64) * 64;
  const modelDir = tempDir('chatglm3-model');
  const model = createModel(
    parseModelConfig({ ...CHATGLM3, padded_vocab_size: vocab, eos_token_id: 2, pad_token_id: 0 }),
    {
      seed: 3,
    },
  );
  model.save(modelDir);
  model.dispose();
  for (const f of ['tokenizer.model', 'tokenizer_config.json']) copyFileSync(join(tokenizerDir, f), join(modelDir, f));
  const outDir = tempDir('chatglm3-lora');
  const result = await train(
    {
      model_name_or_path: modelDir,
      stage: 'sft',
      do_train: true,
      finetuning_type: 'lora',
      lora_target: 'all',
      lora_rank: 4,
      dataset: 'tiny_sft',
      dataset_dir: 'examples/data',
      template: 'chatglm3',
      cutoff_len: 64,
      max_samples: 16,
      overwrite_cache: true,
      preprocessing_num_workers: 1,
      output_dir: outDir,
      overwrite_output_dir: true,
      per_device_train_batch_size: 4,
      max_steps: 2,
      logging_steps: 1,
      learning_rate: 1e-3,
      report_to: 'none',
    },
    { progress: false, log: () => {} },
  );
  const losses = result.logHistory.filter((e) => typeof e.loss === 'number').map((e) => e.loss as number);
  assert.equal(losses.length, 2);
  assert.ok(losses.every(Number.isFinite), losses.join(' -> '));
  const adapter = JSON.parse(readFileSync(join(outDir, 'adapter_config.json'), 'utf8'));
  assert.deepEqual([...adapter.target_modules].sort(), ['dense', 'dense_4h_to_h', 'dense_h_to_4h', 'query_key_value']);
  assert.ok(existsSync(join(outDir, 'adapter_model.safetensors')));
});
