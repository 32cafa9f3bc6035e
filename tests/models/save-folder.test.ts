/**
 * What model.save() and saveAdapter() leave behind (issue #23 item 3): a saved model folder carries the tokenizer
 * files of the folder the model came from, so `lmforge chat` opens it as it is; a PEFT adapter_config.json names its
 * base in base_model_name_or_path, as PEFT writes it.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { Generator, noGrad, normal_ } from '../../src/engine/index.js';
import { parseModelConfig } from '../../src/io/model-config.js';
import { createModel, loadModel, TOKENIZER_FILES } from '../../src/models/causal-lm.js';

const BASE = 'examples/tiny/base';
const root = mkdtempSync(join(tmpdir(), 'lmforge-save-folder-'));
after(() => rmSync(root, { recursive: true, force: true }));

function chat(dir: string): { status: number | null; stdout: string; stderr: string } {
  return spawnSync(
    process.execPath,
    [
      'bin/lmforge.js',
      'chat',
      '--model_name_or_path',
      dir,
      '--template',
      'qwen',
      '--default_system',
      '',
      '--do_sample',
      'false',
      '--max_new_tokens',
      '6',
    ],
    { input: 'Hello\nexit\n', encoding: 'utf8', timeout: 60_000 },
  );
}

const adapterConfig = (dir: string) =>
  JSON.parse(readFileSync(join(dir, 'adapter_config.json'), 'utf8')) as Record<string, unknown>;

test('a merged model saved with save() is a folder lmforge chat opens, with the base tokenizer files', async () => {
  const model = await loadModel(BASE);
  model.addLora({ r: 4 });
  // Non-zero B, so merging changes the weights the saved folder holds.
  const gen = new Generator(7);
  noGrad(() => {
    for (const [name, t] of model.namedParameters()) if (name.endsWith('lora_B.weight')) normal_(t, gen, 0, 0.05);
  });
  model.mergeAdapter();
  const out = join(root, 'merged');
  model.save(out);
  const ids = [[8000, 17, 250, 3]];
  const want = model.forward({ inputIds: ids }).logits.toFloat32Array();
  model.dispose();

  for (const name of ['tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json'])
    assert.deepEqual(readFileSync(join(out, name)), readFileSync(join(BASE, name)), `${name} copied as it is`);
  const reloaded = await loadModel(out);
  assert.deepEqual(reloaded.forward({ inputIds: ids }).logits.toFloat32Array(), want, 'the merged weights were saved');
  reloaded.dispose();

  const r = chat(out);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /Assistant: \S/, 'an answer streamed');
  assert.doesNotMatch(r.stderr, /TokenizerError|\n\s+at /, 'no stack trace');
});

test('save({ tokenizer: false }) and a model built in memory write weights and config only', async () => {
  const model = await loadModel(BASE);
  const out = join(root, 'weights-only');
  model.save(out, { tokenizer: false });
  model.dispose();
  assert.ok(existsSync(join(out, 'config.json')));
  for (const name of TOKENIZER_FILES) assert.ok(!existsSync(join(out, name)), `${name} not written`);

  const cfg = JSON.parse(readFileSync(join(BASE, 'config.json'), 'utf8')) as Record<string, unknown>;
  const random = createModel(parseModelConfig({ ...cfg, num_hidden_layers: 1 }));
  const out2 = join(root, 'random');
  random.save(out2);
  random.dispose();
  for (const name of TOKENIZER_FILES) assert.ok(!existsSync(join(out2, name)), `${name} not written`);
});

test("saveAdapter writes base_model_name_or_path as PEFT does: the base's path, or the loaded adapter's own", async () => {
  const model = await loadModel(BASE);
  model.addLora({ r: 2, targetModules: ['q_proj'] });
  const fresh = join(root, 'fresh-adapter');
  model.saveAdapter(fresh);
  model.dispose();
  assert.equal(adapterConfig(fresh).base_model_name_or_path, BASE);

  // An adapter whose config names no base (PEFT fills it in on save) and one that names another.
  for (const [name, base, want] of [
    ['no-base', null, BASE],
    ['other-base', 'someone/base-model', 'someone/base-model'],
  ] as const) {
    const dir = join(root, name);
    rmSync(dir, { recursive: true, force: true });
    const copy = await loadModel(BASE, { adapter: fresh });
    copy.saveAdapter(dir);
    copy.dispose();
    writeFileSync(
      join(dir, 'adapter_config.json'),
      JSON.stringify({ ...adapterConfig(dir), base_model_name_or_path: base }),
    );
    const resumed = await loadModel(BASE);
    resumed.loadAdapter(dir, { trainable: true });
    const again = join(root, `${name}-again`);
    resumed.saveAdapter(again);
    resumed.dispose();
    assert.equal(adapterConfig(again).base_model_name_or_path, want, name);
  }
});
