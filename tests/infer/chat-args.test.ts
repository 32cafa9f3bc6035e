/** parseInferArgs: LLaMA-Factory's names from flags or a reused training YAML, into ChatModelArgs. */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { HparamsError } from '../../src/hparams/index.js';
import { parseInferArgs } from '../../src/infer/chat-args.js';
import { tempDir } from '../util/tokenizers.js';

test('flags: model, adapters, template, system, thinking, dtype and generating arguments', () => {
  const { model } = parseInferArgs([
    '--model_name_or_path',
    'models/x',
    '--adapter_name_or_path',
    'a,b',
    '--template',
    'qwen3',
    '--default_system',
    'Be brief.',
    '--enable_thinking',
    'false',
    '--infer_dtype',
    'bfloat16',
    '--do_sample',
    'false',
    '--max_new_tokens',
    '64',
  ]);
  assert.equal(model.model_name_or_path, 'models/x');
  assert.deepEqual(model.adapter_name_or_path, ['a', 'b']);
  assert.equal(model.template, 'qwen3');
  assert.equal(model.default_system, 'Be brief.');
  assert.equal(model.enable_thinking, false);
  assert.equal(model.infer_dtype, 'bfloat16');
  assert.equal(model.generating?.do_sample, false);
  assert.equal(model.generating?.max_new_tokens, 64);
  assert.equal(model.generating?.top_p, 0.7); // LLaMA-Factory's default
});

test('a training YAML works: its training keys are ignored, unknown flags are still errors', () => {
  const file = join(tempDir('infer-args'), 'train.yaml');
  writeFileSync(
    file,
    'model_name_or_path: models/x\nstage: sft\ndataset: alpaca_en_demo\nlearning_rate: 1.0e-4\ntemplate: llama3\n',
  );
  const { model } = parseInferArgs([file, 'temperature=0.3']);
  assert.equal(model.template, 'llama3');
  assert.equal(model.generating?.temperature, 0.3);
  assert.throws(() => parseInferArgs([file, '--temprature', '0.3']), /did you mean 'temperature'/);
  assert.throws(() => parseInferArgs(['--template', 'llama3']), HparamsError);
});

test('quantization_bit loads the base quantized, as LLaMA-Factory chat does; other methods are refused', () => {
  const { model } = parseInferArgs([
    '--model_name_or_path',
    'm',
    '--quantization_bit',
    '4',
    '--quantization_type',
    'fp4',
  ]);
  assert.deepEqual(model.quantization, { bits: 4, type: 'fp4', doubleQuant: true });
  assert.equal(parseInferArgs(['--model_name_or_path', 'm']).model.quantization, undefined);
  assert.throws(
    () => parseInferArgs(['--model_name_or_path', 'm', '--quantization_bit', '4', '--quantization_method', 'gptq']),
    (e: unknown) => e instanceof HparamsError && /quantization_method gptq is not available/.test(e.message),
  );
  assert.throws(() => parseInferArgs(['--model_name_or_path', 'm', '--quantization_bit', '3']), /must be 4 or 8/);
});
