/**
 * `lmforge chat train.yaml` (#23 item 4): the README says a training YAML works for chat, so it must chat with what
 * that run trained, the LoRA adapter in its output_dir, and say so; before the run has written one it chats with
 * the base and says that instead.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, test } from 'node:test';
import { Generator, noGrad, normal_ } from '../../src/engine/index.js';
import { loadModel } from '../../src/models/causal-lm.js';

const BASE = resolve('examples/tiny/base');
const tmp = mkdtempSync(join(tmpdir(), 'lmforge-chat-yaml-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

// An adapter that changes the answers: PEFT's init leaves B at zero (a no-op), so B gets random values.
const trained = join(tmp, 'trained');
const model = await loadModel(BASE);
model.addLora({ r: 4, targetModules: 'all' });
const gen = new Generator(7);
noGrad(() => {
  for (const [name, t] of model.trainableParameters()) if (name.includes('lora_B')) normal_(t, gen, 0, 0.5);
});
model.saveAdapter(trained);
model.dispose();

/** A training YAML as lmforge train takes it, with training-only keys the chat must ignore. */
function trainingYaml(outputDir: string): string {
  const file = join(tmp, `train-${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(
    file,
    [
      `model_name_or_path: ${BASE}`,
      'stage: sft',
      'do_train: true',
      'finetuning_type: lora',
      'dataset: tiny_sft',
      'template: qwen',
      'default_system: ""',
      `output_dir: ${outputDir}`,
      'learning_rate: 3.0e-3',
      'do_sample: false',
      'max_new_tokens: 12',
      '',
    ].join('\n'),
  );
  return file;
}

function chat(args: string[]): { answer: string; stderr: string } {
  const res = spawnSync(process.execPath, ['bin/lmforge.js', 'chat', ...args], {
    input: 'Who are you?\nexit\n',
    encoding: 'utf8',
    timeout: 120_000,
  });
  assert.equal(res.status, 0, res.stderr);
  const answer = res.stdout.split('Assistant: ')[1] ?? '';
  return { answer: answer.slice(0, answer.indexOf('\n')), stderr: res.stderr };
}

const flags = ['--template', 'qwen', '--default_system', '', '--do_sample', 'false', '--max_new_tokens', '12'];

test('a training YAML chats with the adapter in its output_dir and names it', () => {
  const viaYaml = chat([trainingYaml(trained)]);
  const explicit = chat(['--model_name_or_path', BASE, '--adapter_name_or_path', trained, ...flags]);
  const base = chat(['--model_name_or_path', BASE, ...flags]);
  assert.notEqual(explicit.answer, base.answer, 'the adapter changes the answer, so the test can tell them apart');
  assert.equal(viaYaml.answer, explicit.answer);
  assert.match(
    viaYaml.stderr,
    new RegExp(`chatting with .*base \\+ the adapter trained in ${trained} \\(the YAML's output_dir\\)`),
  );
});

test('before the run has written an adapter it chats with the base and says so', () => {
  const missing = join(tmp, 'not-trained-yet');
  const viaYaml = chat([trainingYaml(missing)]);
  const base = chat(['--model_name_or_path', BASE, ...flags]);
  assert.equal(viaYaml.answer, base.answer);
  assert.match(
    viaYaml.stderr,
    /holds no trained weights yet \(no adapter_config\.json\): chatting with the base model/,
  );
});

test('an adapter given on the command line wins over the YAML output_dir', () => {
  const other = join(tmp, 'not-trained-yet');
  const viaYaml = chat([trainingYaml(other), '--adapter_name_or_path', trained]);
  const explicit = chat(['--model_name_or_path', BASE, '--adapter_name_or_path', trained, ...flags]);
  assert.equal(viaYaml.answer, explicit.answer);
  assert.doesNotMatch(viaYaml.stderr, /output_dir/);
});
