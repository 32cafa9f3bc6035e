// The Chinese-vocabulary recipe end to end on the tiny base (issue #17 item 7), with examples/chinese_vocab's
// configs: train a Chinese tokenizer on the bundled poems, extend the tiny base, continue pre-training with the new
// rows trainable, SFT, chat. The tiny base's own tokenizer was trained on these poems (0.83 tokens per Chinese
// character), so the gain here is smaller than on Llama-3 (extend-vocab.test.ts asserts >= 1.5x there).
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { parse } from 'yaml';
import { main } from '../../src/cli/main.js';
import { getTemplate } from '../../src/data/template/index.js';
import { withSafetensors } from '../../src/io/safetensors.js';
import { loadModel } from '../../src/models/causal-lm.js';
import { Tokenizer } from '../../src/tokenizer/tokenizer.js';
import { train } from '../../src/train/trainer.js';
import { chinesePoems, writeTextFile } from './chinese-corpus.js';

const out = join(tmpdir(), `lmforge-chinese-recipe-${process.pid}`);
after(() => rmSync(out, { recursive: true, force: true }));
const quiet = { progress: false as const, log: () => {} };
const yaml = (name: string) =>
  parse(readFileSync(join('examples/chinese_vocab', name), 'utf8')) as Record<string, unknown>;

async function cli(argv: string[]): Promise<string> {
  const lines: string[] = [];
  const log = console.log;
  console.log = (...a: unknown[]) => lines.push(a.join(' '));
  try {
    assert.equal(await main(argv), 0, argv.join(' '));
  } finally {
    console.log = log;
  }
  return lines.join('\n');
}

function embeddingRows(dir: string, from: number, to: number): Float32Array {
  return withSafetensors(join(dir, 'model.safetensors'), (f) => {
    const t = f.load('model.embed_tokens.weight', { dtype: 'f32' });
    const [, h] = t.shape as [number, number];
    const rows = (t.toTypedArray() as Float32Array).slice(from * h, to * h);
    t.dispose();
    return rows;
  });
}

test('train a Chinese tokenizer, extend the tiny base, pre-train the new rows, SFT and chat', async () => {
  mkdirSync(out, { recursive: true });
  const poems = chinesePoems();
  const text = writeTextFile(out, 'poems.txt', poems.slice(0, -400));
  const heldOut = writeTextFile(out, 'held-out.txt', poems.slice(-400));
  const tokenizerDir = join(out, 'tokenizer');
  const baseDir = join(out, 'base-zh');
  const trainCfg = yaml('tokenizer_train.yaml');
  await cli(
    ['tokenizer', 'train', '--text_files', text, '--vocab_size', String(trainCfg.vocab_size)].concat([
      '--special_tokens',
      String(trainCfg.special_tokens),
      '--output_dir',
      tokenizerDir,
    ]),
  );
  const extendCfg = yaml('tokenizer_extend.yaml');
  const extended = await cli(
    ['tokenizer', 'extend', '--model_name_or_path', String(extendCfg.model_name_or_path)].concat([
      '--new_tokenizer',
      tokenizerDir,
      '--output_dir',
      baseDir,
    ]),
  );
  assert.match(extended, /model\.embed_tokens\.weight: 8192 -> \d+ rows/);
  const config = JSON.parse(readFileSync(join(baseDir, 'config.json'), 'utf8'));
  const tokenizer = Tokenizer.fromDir(baseDir);
  assert.equal(config.vocab_size % 64, 0);
  assert.ok(config.vocab_size >= tokenizer.size && config.vocab_size - tokenizer.size < 64);
  assert.equal(tokenizer.tokenToId('<|im_end|>'), 8191, 'old ids unchanged');

  const stats = JSON.parse(
    await cli(
      ['tokenizer', 'stats', '--model_name_or_path', 'examples/tiny/base', '--compare_tokenizer', baseDir].concat([
        '--text_files',
        heldOut,
        '--json',
      ]),
    ),
  );
  const [before, afterExtend] = [stats['examples/tiny/base'], stats[baseDir]];
  const gain = before.tokensPerHanChar / afterExtend.tokensPerHanChar;
  console.log(`tokens per Chinese character: ${before.tokensPerHanChar} -> ${afterExtend.tokensPerHanChar} (${gain}x)`);
  assert.ok(gain >= 1.15, `${gain}x`);
  assert.ok(afterExtend.tokensPerChar < before.tokensPerChar);

  // Continued pre-training: the appended rows (mean + noise at first) move.
  const pretrainDir = join(out, 'pretrain');
  const newRowsBefore = embeddingRows(baseDir, 8192, tokenizer.size);
  const pt = await train(
    {
      ...yaml('pretrain.yaml'),
      model_name_or_path: baseDir,
      output_dir: pretrainDir,
      max_steps: 8,
      max_samples: 400,
      per_device_train_batch_size: 8,
      logging_steps: 2,
    },
    { ...quiet },
  );
  const losses = pt.logHistory.filter((e) => typeof e.loss === 'number').map((e) => e.loss as number);
  console.log(`pre-training loss: ${losses.join(' -> ')}`);
  assert.equal(losses.length, 4);
  // Eight steps show the curve, not convergence: the loss only has to stay finite while the new rows learn.
  assert.ok(losses.every(Number.isFinite), losses.join(' -> '));
  const newRowsAfter = embeddingRows(pretrainDir, 8192, tokenizer.size);
  let moved = 0;
  for (let i = 0; i < newRowsAfter.length; i++) if (newRowsAfter[i] !== newRowsBefore[i]) moved++;
  assert.ok(moved > newRowsAfter.length / 4, `${moved} of ${newRowsAfter.length} new-row values changed`);

  const sftDir = join(out, 'sft');
  await train(
    { ...yaml('sft.yaml'), model_name_or_path: pretrainDir, output_dir: sftDir, max_steps: 4, max_samples: 32 },
    quiet,
  );
  const chatTokenizer = Tokenizer.fromDir(sftDir);
  const template = getTemplate('qwen', chatTokenizer, { defaultSystem: '' });
  const model = await loadModel(sftDir);
  const [prompt] = await template.encodeOneturn(chatTokenizer, [
    { role: 'user', content: '写一首关于春天的诗' },
    { role: 'assistant', content: '' },
  ]);
  const result = model.generateDetailed([prompt], { maxNewTokens: 24, stop: template.stopIds(chatTokenizer) });
  const reply = result.tokens[0] as number[];
  assert.ok(reply.length >= 1 && reply.length <= 24);
  assert.ok(reply.every((id) => id < config.vocab_size));
  chatTokenizer.decode(reply, { skipSpecialTokens: true });
  model.dispose();
});
