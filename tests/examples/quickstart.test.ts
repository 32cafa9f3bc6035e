/**
 * The quick start, shortened for CI: the bundled tiny base model, examples/quickstart.yaml, interrupted after a few
 * steps and resumed, then a chat turn with the adapter that must stop on the template's stop ids.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { parse } from 'yaml';
import { getTemplate } from '../../src/data/template/index.js';
import { loadModel } from '../../src/models/causal-lm.js';
import { Tokenizer } from '../../src/tokenizer/tokenizer.js';
import { train } from '../../src/train/trainer.js';

const out = join(tmpdir(), `lmforge-quickstart-${process.pid}`);
after(() => rmSync(out, { recursive: true, force: true }));
const quiet = { progress: false as const, log: () => {} };
const config = {
  ...(parse(readFileSync('examples/quickstart.yaml', 'utf8')) as Record<string, unknown>),
  output_dir: out,
};

test('quick start: train, stop, resume, then chat with the adapter', async () => {
  assert.ok(existsSync('examples/tiny/base/model.safetensors'), 'the bundled base model is in the repository');
  const run = { ...config, max_steps: 12, save_steps: 6, logging_steps: 3 };
  const controller = new AbortController();
  const first = await train(run, {
    ...quiet,
    signal: controller.signal,
    events: { onStep: ({ step }) => step === 6 && controller.abort() },
  });
  assert.equal(first.interrupted, true);
  const lines: string[] = [];
  const second = await train(run, { progress: false, log: (m: string) => lines.push(m) });
  assert.ok(
    lines.some((l) => l.includes(`resuming training from ${join(out, 'checkpoint-6')}`)),
    'the same command resumes',
  );
  assert.equal(second.globalStep, 12);
  const losses = second.logHistory.filter((e) => typeof e.loss === 'number').map((e) => e.loss as number);
  assert.equal(losses.length, 4, 'the resumed run continues the log of the first');
  assert.ok((losses.at(-1) as number) < (losses[0] as number), `loss fell: ${losses.join(' -> ')}`);
  for (const f of ['adapter_model.safetensors', 'trainer_log.jsonl', 'training_loss.png', 'train_results.json'])
    assert.ok(existsSync(join(out, f)), f);
  // Running the finished command again changes nothing: no NaN loss over zero steps replaces the results.
  const results = readFileSync(join(out, 'train_results.json'), 'utf8');
  const again: string[] = [];
  const third = await train(run, { progress: false, log: (m: string) => again.push(m) });
  assert.equal(third.globalStep, 12);
  assert.ok(
    again.some((l) => l.includes('already complete (step 12/12)')),
    again.join('\n'),
  );
  assert.equal(readFileSync(join(out, 'train_results.json'), 'utf8'), results);

  const tokenizer = Tokenizer.fromDir(out);
  const template = getTemplate('qwen', tokenizer, { defaultSystem: '' });
  const model = await loadModel('examples/tiny/base', { adapter: out });
  const [prompt] = await template.encodeOneturn(tokenizer, [
    { role: 'user', content: 'Who are you?' },
    { role: 'assistant', content: '' },
  ]);
  const result = model.generateDetailed([prompt], { maxNewTokens: 48, stop: template.stopIds(tokenizer) });
  const reply = tokenizer.decode(result.tokens[0] as number[], { skipSpecialTokens: true });
  assert.ok(reply.trim().length > 0, 'the model answers');
  assert.ok((result.tokens[0] as number[]).length <= 48);
  model.dispose();
});
