// The board's pickers: model folders and adapters under the work dirs, dataset names, the template the tokenizer's
// own chat template implies (the top bar's warning), and a preview whose trained spans are the response only.
import assert from 'node:assert/strict';
import { cpSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import { findAdapters, findModelDirs, impliedTemplate, listDatasets, previewRecords } from '../../src/webui/catalog.js';
import { WorkDirs } from '../../src/webui/work-dirs.js';
import { tempDir } from '../util/tokenizers.js';

const REPO = resolve('.');

test('model folders (config.json) and saves/* adapters are found; adapters are not offered as models', () => {
  const work = tempDir('webui-cat');
  mkdirSync(join(work, 'models', 'a'), { recursive: true });
  writeFileSync(join(work, 'models', 'a', 'config.json'), '{}');
  mkdirSync(join(work, 'saves', 'run', 'checkpoint-5'), { recursive: true });
  writeFileSync(join(work, 'saves', 'run', 'adapter_config.json'), '{}');
  writeFileSync(join(work, 'saves', 'run', 'config.json'), '{}');
  writeFileSync(join(work, 'saves', 'run', 'checkpoint-5', 'adapter_config.json'), '{}');
  const dirs = new WorkDirs([work]);
  assert.deepEqual(findModelDirs(dirs), [join('models', 'a')]);
  assert.deepEqual(findAdapters(dirs).sort(), [join('saves', 'run'), join('saves', 'run', 'checkpoint-5')]);
  assert.deepEqual(listDatasets(dirs, 'nowhere'), []);
  cpSync(join(REPO, 'examples/data/dataset_info.json'), join(work, 'dataset_info.json'));
  assert.ok(listDatasets(dirs, '.').some((d) => d.name === 'tiny_sft'));
  assert.ok(listDatasets(dirs, '.').some((d) => d.ranking));
  assert.throws(() => listDatasets(dirs, '..'), /outside/);
});

test("the tiny model's chat template implies chatml; qwen has its layout but its own default system", async () => {
  const dirs = new WorkDirs([REPO]);
  const hint = impliedTemplate(dirs, 'examples/tiny/base');
  assert.equal(hint.hasChatTemplate, true);
  assert.equal(hint.implied, 'chatml');
  assert.ok(hint.sameLayout.includes('qwen'));
  assert.ok(!hint.sameLayout.includes('llama3'));
  const preview = await previewRecords(dirs, {
    modelDir: 'examples/tiny/base',
    datasetDir: 'examples/data',
    dataset: ['tiny_sft'],
    template: 'chatml',
    stage: 'sft',
    cutoffLen: 256,
    trainOnPrompt: false,
    count: 2,
  });
  assert.equal(preview.records.length, 2);
  for (const r of preview.records) {
    assert.equal(r.segments[0]!.trained, false, 'the prompt is masked');
    assert.match(r.segments[0]!.text, /^<\|im_start\|>user\n/);
    assert.ok(r.segments.some((s) => s.trained && s.text.length > 0));
  }
});
