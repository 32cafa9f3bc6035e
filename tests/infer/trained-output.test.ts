import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { trainedOutputChoice } from '../../src/infer/trained-output.js';

const tmp = mkdtempSync(join(tmpdir(), 'lmforge-trained-output-'));
after(() => rmSync(tmp, { recursive: true, force: true }));
function folderWith(name: string, file: string): string {
  const dir = join(tmp, name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, file), '{}');
  return dir;
}
const lora = folderWith('lora', 'adapter_config.json');
const full = folderWith('full', 'config.json');
const common = { modelNameOrPath: 'base', adapters: null, finetuningType: 'lora', createNewAdapter: false };

test('LoRA: the output adapter replaces the adapter the run continued, or stacks on all with create_new_adapter', () => {
  assert.deepEqual(trainedOutputChoice({ ...common, outputDir: lora }).adapters, [lora]);
  assert.deepEqual(trainedOutputChoice({ ...common, outputDir: lora, adapters: ['a', 'b'] }).adapters, ['a', lora]);
  const stacked = trainedOutputChoice({ ...common, outputDir: lora, adapters: ['a', 'b'], createNewAdapter: true });
  assert.deepEqual(stacked.adapters, ['a', 'b', lora]);
  assert.match(stacked.message, /on top of a, b/);
});

test('full and freeze tuning: output_dir is the model', () => {
  const choice = trainedOutputChoice({ ...common, outputDir: full, finetuningType: 'full' });
  assert.equal(choice.modelNameOrPath, full);
  assert.equal(choice.adapters, null);
  assert.match(choice.message, /the model trained in .*full fine-tuning/);
});

test('nothing trained yet: the base (with its given adapters) and a line that says so', () => {
  const choice = trainedOutputChoice({ ...common, outputDir: join(tmp, 'none'), adapters: ['a'] });
  assert.equal(choice.modelNameOrPath, 'base');
  assert.deepEqual(choice.adapters, ['a']);
  assert.match(choice.message, /holds no trained weights yet .*base model base with the adapter\(s\) a/);
  // a LoRA folder is not a full model, and a full model is not an adapter
  assert.equal(trainedOutputChoice({ ...common, outputDir: lora, finetuningType: 'freeze' }).modelNameOrPath, 'base');
  assert.equal(trainedOutputChoice({ ...common, outputDir: full }).adapters, null);
});
