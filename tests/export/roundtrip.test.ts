/**
 * Export round trips on the tiny bundled model with adapters trained for real: the merged export, loaded back by
 * lmforge as a plain model, gives the logits of the base with its adapters live (1e-6 in float32); several adapters
 * merge in order; auto keeps the base's bfloat16; a reward model brings its value head along.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { exportModel } from '../../src/export/index.js';
import { CheckpointReader } from '../../src/io/checkpoint.js';
import { loadModel } from '../../src/models/causal-lm.js';
import { Tokenizer } from '../../src/tokenizer/tokenizer.js';
import { tempDir } from '../util/tokenizers.js';
import { exportArgs, logitsOf, maxAbsDiff, quiet, TINY, trainedAdapter, trainedRewardAdapter } from './helpers.js';

const first = await trainedAdapter(1);
const second = await trainedAdapter(2, ['learning_rate=1e-2']);

test('float32 export of base + trained adapter reloads with the merged logits (1e-6), the live adapter within f32 rounding', async () => {
  const out = join(tempDir('export-f32'), 'merged');
  const result = await exportModel(
    exportArgs({ adapter_name_or_path: [first], export_dir: out, infer_dtype: 'float32' }),
    { log: quiet },
  );
  assert.equal(result.dtype, 'f32');
  assert.deepEqual(result.weightFiles, ['model.safetensors']);
  const live = await loadModel(TINY, { adapter: first });
  const merged = await loadModel(TINY, { adapter: first });
  merged.mergeAdapter();
  const base = await loadModel(TINY);
  const exported = await loadModel(out);
  try {
    const got = logitsOf(exported);
    const roundTrip = maxAbsDiff(got, logitsOf(merged));
    const want = logitsOf(live);
    const vsLive = maxAbsDiff(got, want);
    const scale = want.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    console.error(
      `max |logit difference|: export reloaded vs merged in memory ${roundTrip.toExponential(3)}, vs live adapter ` +
        `${vsLive.toExponential(3)} (max |logit| ${scale.toFixed(2)})`,
    );
    assert.ok(roundTrip <= 1e-6, `export round trip: ${roundTrip}`);
    // W + s·B·A summed once vs x·W + s·(x·A)·B: the same numbers, rounded in another order
    assert.ok(vsLive <= 1e-6 * scale, `merged vs live: ${vsLive} at logit scale ${scale}`);
    // the adapter is in the export: the base alone is far away
    assert.ok(maxAbsDiff(logitsOf(base), want) > 1e-3, 'the trained adapter changes the logits');
    assert.equal(JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')).torch_dtype, 'float32');
  } finally {
    for (const m of [live, merged, base, exported]) m.dispose();
  }
});

test('several adapters merge in order: the export equals the base with the first merged and the second live', async () => {
  const out = join(tempDir('export-two'), 'merged');
  await exportModel(exportArgs({ adapter_name_or_path: [first, second], export_dir: out, infer_dtype: 'float32' }), {
    log: quiet,
  });
  const live = await loadModel(TINY, { adapter: [first, second] });
  const onlyFirst = await loadModel(TINY, { adapter: first });
  const exported = await loadModel(out);
  try {
    const got = logitsOf(exported);
    assert.ok(maxAbsDiff(got, logitsOf(live)) <= 1e-5);
    assert.ok(maxAbsDiff(got, logitsOf(onlyFirst)) > 1e-3, 'the second adapter is in the export too');
  } finally {
    live.dispose();
    onlyFirst.dispose();
    exported.dispose();
  }
});

test('infer_dtype auto keeps the base dtype (bfloat16): tensors, config and logits within bf16 rounding', async () => {
  const out = join(tempDir('export-bf16'), 'merged');
  const result = await exportModel(exportArgs({ adapter_name_or_path: [first], export_dir: out }), { log: quiet });
  assert.equal(result.dtype, 'bf16');
  assert.equal(JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')).torch_dtype, 'bfloat16');
  const reader = CheckpointReader.open(out);
  try {
    for (const name of reader.names) assert.equal(reader.info(name).dtype, 'BF16', name);
  } finally {
    reader.close();
  }
  const live = await loadModel(TINY, { adapter: first });
  const exported = await loadModel(out, { dtype: 'bf16' });
  // the bf16 base merged in bf16 storage (to halve the memory) rounds exactly as merging in f32 and rounding once
  const f32Merge = await loadModel(TINY, { adapter: first });
  f32Merge.mergeAdapter();
  try {
    const exportedParams = new Map(exported.namedParameters());
    for (const [name, t] of f32Merge.namedParameters()) {
      const got = exportedParams.get(name);
      assert.ok(got, name);
      const bf16 = t.to('bf16');
      const want = bf16.to('f32');
      assert.deepEqual(got.toFloat32Array(), want.toFloat32Array(), name);
      bf16.dispose();
      want.dispose();
    }
    const diff = maxAbsDiff(logitsOf(exported), logitsOf(live));
    assert.ok(diff > 0 && diff < 0.1, `bf16 rounding of the merged weights moves logits a little: ${diff}`);
  } finally {
    live.dispose();
    exported.dispose();
    f32Merge.dispose();
  }
});

test('the exported folder carries the template: stop ids as eos, fixed tokenizer, left padding', async () => {
  const out = join(tempDir('export-files'), 'merged');
  const result = await exportModel(exportArgs({ adapter_name_or_path: [first], export_dir: out }), { log: quiet });
  // qwen replaces the EOS by <|im_end|>: that is the only stop id
  assert.deepEqual(result.stopIds, [8191]);
  const gen = JSON.parse(readFileSync(join(out, 'generation_config.json'), 'utf8'));
  assert.equal(gen.eos_token_id, 8191);
  assert.equal(gen.temperature, 0.7, 'the base generation_config fields are kept');
  const config = JSON.parse(readFileSync(join(out, 'tokenizer_config.json'), 'utf8'));
  assert.equal(config.padding_side, 'left');
  assert.equal(config.eos_token, '<|im_end|>');
  const tok = Tokenizer.fromDir(out);
  assert.equal(tok.eosTokenId, 8191);
  assert.equal(tok.paddingSide, 'left');
  assert.equal(
    tok.applyChatTemplate([{ role: 'user', content: 'hi' }], { addGenerationPrompt: true }),
    '<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n',
  );
});

test('stage rm: value_head.safetensors is copied from the last adapter, byte for byte', async () => {
  const rm = await trainedRewardAdapter();
  const out = join(tempDir('export-rm'), 'merged');
  const result = await exportModel(exportArgs({ adapter_name_or_path: [rm], export_dir: out, stage: 'rm' }), {
    log: quiet,
  });
  assert.equal(result.valueHead, true);
  assert.deepEqual(readFileSync(join(out, 'value_head.safetensors')), readFileSync(join(rm, 'value_head.safetensors')));
  await assert.rejects(
    exportModel(exportArgs({ adapter_name_or_path: [first], export_dir: join(out, '..', 'x'), stage: 'rm' }), {
      log: quiet,
    }),
    /stage: rm exports a reward model, but .*value_head\.safetensors is missing/,
  );
});
