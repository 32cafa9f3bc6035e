// Embedding resize for a grown vocabulary (issue #17 item 2): LLaMA-Factory's noisy-mean rows, padding to a
// multiple of 64, other tensors untouched, and the resized folder loads and runs.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { Generator, Tensor } from '../../src/engine/index.js';
import { withSafetensors } from '../../src/io/safetensors.js';
import { loadModel } from '../../src/models/causal-lm.js';
import { noisyMeanResize, paddedVocabSize, resizeCheckpointVocab } from '../../src/models/resize-vocab.js';
import { tempDir } from '../util/tokenizers.js';

test('paddedVocabSize rounds up to the multiple (1 or 0: no padding)', () => {
  assert.equal(paddedVocabSize(8192, 64), 8192);
  assert.equal(paddedVocabSize(8193, 64), 8256);
  assert.equal(paddedVocabSize(19552, 64), 19584);
  assert.equal(paddedVocabSize(100, 1), 100);
});

test('new rows are the mean of the old rows plus noise of std 1/sqrt(hidden); old rows are kept', () => {
  const [V, H, rows] = [50, 64, 2050];
  const values = Float32Array.from({ length: V * H }, (_, i) => Math.sin(i) + (i % H) / H);
  const old = Tensor.from(values, [V, H]);
  const grown = noisyMeanResize(old, rows, new Generator(7));
  assert.deepEqual(grown.shape, [rows, H]);
  const out = grown.toTypedArray() as Float32Array;
  assert.deepEqual(out.slice(0, V * H), values);
  const mean = new Float64Array(H);
  for (let r = 0; r < V; r++) for (let c = 0; c < H; c++) mean[c] = (mean[c] as number) + values[r * H + c]! / V;
  let sum = 0;
  let sq = 0;
  const n = (rows - V) * H;
  for (let r = V; r < rows; r++)
    for (let c = 0; c < H; c++) {
      const d = out[r * H + c]! - mean[c]!;
      sum += d;
      sq += d * d;
    }
  const std = Math.sqrt(sq / n - (sum / n) ** 2);
  assert.ok(Math.abs(sum / n) < 0.01, `noise mean ${sum / n}`);
  assert.ok(Math.abs(std - 1 / Math.sqrt(H)) < 0.01, `noise std ${std}, expected ${1 / Math.sqrt(H)}`);
  old.dispose();
  grown.dispose();
});

test('resizeCheckpointVocab grows the tiny base: config vocab_size, other tensors byte-identical, it loads and runs', async () => {
  const dir = join(tempDir('resize'), 'model');
  const report = resizeCheckpointVocab('examples/tiny/base', dir, 8256);
  assert.deepEqual(report, { oldRows: 8192, newRows: 8256, resized: ['model.embed_tokens.weight'] });
  assert.equal(JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')).vocab_size, 8256);
  withSafetensors('examples/tiny/base/model.safetensors', (a) =>
    withSafetensors(join(dir, 'model.safetensors'), (b) => {
      assert.deepEqual(b.names.sort(), a.names.sort());
      for (const name of a.names) {
        if (name === 'model.embed_tokens.weight') {
          assert.deepEqual(b.info(name).shape, [8256, 256]);
          assert.equal(b.info(name).dtype, a.info(name).dtype);
          const old = a.readBytes(name);
          assert.deepEqual(b.readBytes(name).subarray(0, old.length), old);
        } else assert.deepEqual(b.readBytes(name), a.readBytes(name), name);
      }
    }),
  );
  const model = await loadModel(dir);
  const logits = model.generateDetailed([[1, 2, 8200]], { maxNewTokens: 2 });
  assert.equal((logits.tokens[0] as number[]).length, 2);
  model.dispose();
});
