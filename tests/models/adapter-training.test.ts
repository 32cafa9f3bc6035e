/**
 * Which weights train after loadModel (#23 item 2): everything loaded is frozen (inference), an adapter too unless
 * `trainable: true`; addLora on a model that already has an adapter stops and says how to go on, as the README shows.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { scope } from '../../src/engine/index.js';
import { loadModel } from '../../src/models/causal-lm.js';
import { tinyMistralDir } from '../util/tiny-model.js';

const dir = tinyMistralDir();
const tmp = mkdtempSync(join(tmpdir(), 'lmforge-adapter-training-'));
after(() => rmSync(tmp, { recursive: true, force: true }));
const ids = [[1, 5, 9, 3]];

const adapterDir = join(tmp, 'adapter');
{
  const m = await loadModel(dir);
  m.addLora({ r: 2, targetModules: ['q_proj', 'v_proj'] });
  m.saveAdapter(adapterDir);
  m.dispose();
}

/** One forward + backward; the names of the parameters that got a gradient. */
function gradientsOf(model: Awaited<ReturnType<typeof loadModel>>): string[] {
  scope(() => model.forward({ inputIds: ids, labels: ids, returnLogits: false }).loss.backward());
  return model.namedParameters().flatMap(([name, t]) => (t.grad ? [name] : []));
}

test('loadModel freezes every weight, a loaded adapter included; trainable: true trains the adapter', async () => {
  const frozen = await loadModel(dir, { adapter: adapterDir });
  assert.equal(frozen.trainableParameters().length, 0);
  assert.throws(() => gradientsOf(frozen), /does not require grad/);
  frozen.dispose();

  const model = await loadModel(dir, { adapter: adapterDir, trainable: true });
  const trained = gradientsOf(model);
  assert.ok(trained.length > 0);
  assert.ok(
    trained.every((n) => /\.lora_[AB]\.weight$/.test(n)),
    trained.join(', '),
  );
  model.dispose();
});

test('addLora after an adapter says what to do; after mergeAdapter() it adds a new one', async () => {
  const model = await loadModel(dir, { adapter: adapterDir });
  assert.throws(
    () => model.addLora({ r: 2 }),
    (e: Error) =>
      /frozen LoRA adapter \(loaded for inference\)/.test(e.message) &&
      /trainable: true/.test(e.message) &&
      /mergeAdapter\(\) first, then addLora\(\)/.test(e.message),
  );
  model.mergeAdapter();
  model.addLora({ r: 2, targetModules: 'all' });
  assert.ok(gradientsOf(model).length > 0);
  assert.throws(() => model.addLora({ r: 2 }), /already has a trainable LoRA adapter/);
  model.dispose();
});

test('generate takes an onToken callback that returns nothing (it goes on) or false (that row stops)', async () => {
  const model = await loadModel(dir);
  const seen: number[] = [];
  const all = model.generate([1, 5], {
    maxNewTokens: 4,
    stop: [],
    onToken: (t) => {
      seen.push(t);
    },
  });
  assert.equal(all.length, 6);
  assert.deepEqual(seen, all.slice(2));
  const stopped = model.generate([1, 5], { maxNewTokens: 4, stop: [], onToken: () => false });
  assert.equal(stopped.length, 3);
  model.dispose();
});
