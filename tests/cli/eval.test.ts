/**
 * `lmforge eval` on the bundled MMLU sample with a tiny random model: results.json (a letter per question, per
 * subject) and results.log (the score table), and predictions equal to the argmax of the model's A/B/C/D logits
 * for the exact prompts the evaluator builds.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { evalCommand } from '../../src/cli/eval.js';
import { CHOICES } from '../../src/eval/eval-template.js';
import { runEvaluation } from '../../src/eval/evaluator.js';
import { ChatModel } from '../../src/infer/chat-model.js';
import { tinyMistralDir } from '../util/tiny-model.js';
import { tempDir } from '../util/tokenizers.js';

const dir = tinyMistralDir(3);

test('lmforge eval writes results.json and results.log; predictions are the argmax of the choice logits', async () => {
  const save = join(tempDir('eval'), 'out');
  const argv = [
    '--model_name_or_path',
    dir,
    '--template',
    'alpaca',
    '--task',
    'mmlu_test',
    '--task_dir',
    'examples/eval',
  ];
  const code = await evalCommand([...argv, '--n_shot', '2', '--batch_size', '2', '--save_dir', save]);
  assert.equal(code, 0);
  const results = JSON.parse(readFileSync(join(save, 'results.json'), 'utf8'));
  assert.deepEqual(Object.keys(results).sort(), ['astronomy', 'philosophy']);
  assert.equal(Object.keys(results.astronomy).length, 3);
  assert.equal(Object.keys(results.philosophy).length, 2);
  const log = readFileSync(join(save, 'results.log'), 'utf8');
  assert.match(log, /^ {8}Average: \d+\.\d\d$/m);
  assert.match(log, /^ {11}STEM: \d+\.\d\d$/m);
  assert.match(log, /^ {5}Humanities: \d+\.\d\d$/m);

  // The same run through the library, recording the prompts, scored one prompt at a time.
  const model = await ChatModel.load({ model_name_or_path: dir, template: 'alpaca' }, { inProcess: true });
  try {
    const prompts: { subject: string; messages: Parameters<ChatModel['choiceLogits']>[0] }[] = [];
    await runEvaluation(
      { task: 'mmlu_test', taskDir: 'examples/eval', batchSize: 2, seed: 42, lang: 'en', nShot: 2 },
      model,
      { onBatch: (subject, batch) => prompts.push({ subject, messages: batch }) },
    );
    const expected: Record<string, Record<string, string>> = {};
    for (const { subject, messages } of prompts) {
      for (const m of messages) {
        const [logits] = await model.choiceLogits([m]);
        const best = (logits as number[]).indexOf(Math.max(...(logits as number[])));
        expected[subject] ??= {};
        const row = expected[subject] as Record<string, string>;
        row[String(Object.keys(row).length)] = CHOICES[best] as string;
      }
    }
    assert.deepEqual(results, expected);
  } finally {
    await model.close();
  }
});
