import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { liveBytes, Tensor } from '../../src/engine/index.js';
import {
  isTargetModule,
  LoraAdapter,
  loraConfig,
  loraParamsFor,
  parseLoraConfig,
  parsePeftKey,
  peftLiveKey,
  peftLiveToSaved,
  peftSavedKey,
  readLoraConfig,
  SafetensorsFile,
  saveLoraAdapter,
  toAdapterConfigJson,
} from '../../src/io/index.js';

const FIXTURE = join(import.meta.dirname, '..', 'fixtures', 'parity', 'llama-tiny');
const ADAPTER = join(FIXTURE, 'lora-adapter');
const tmp = mkdtempSync(join(tmpdir(), 'lmforge-peft-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

test('reads the fixture adapter config: every field PEFT 0.5 writes', () => {
  const cfg = readLoraConfig(ADAPTER);
  assert.equal(cfg.r, 4);
  assert.equal(cfg.loraAlpha, 8);
  assert.equal(cfg.loraDropout, 0);
  assert.deepEqual(cfg.targetModules, ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj']);
  assert.equal(cfg.bias, 'none');
  assert.equal(cfg.modulesToSave, null);
  assert.equal(cfg.taskType, 'CAUSAL_LM');
  assert.equal(cfg.baseModelNameOrPath, 'llama-tiny');
  assert.equal(cfg.inferenceMode, true);
  assert.equal(cfg.initLoraWeights, true);
  assert.equal(cfg.fanInFanOut, false);
  assert.equal(cfg.useRslora, false);
  assert.equal(cfg.layersToTransform, null);
  assert.equal(loraParamsFor(cfg, 'model.layers.0.self_attn.q_proj').scaling, 2); // README: alpha / r = 2.0
});

test('adapter_config.json is rewritten byte for byte as PEFT writes it', () => {
  const text = readFileSync(join(ADAPTER, 'adapter_config.json'), 'utf8');
  assert.equal(toAdapterConfigJson(readLoraConfig(ADAPTER)), text);
  // A config built in code gets the same key set, sorted, indent 2, floats as Python writes them.
  const built = toAdapterConfigJson(
    loraConfig({
      r: 4,
      loraAlpha: 8,
      targetModules: ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'],
      baseModelNameOrPath: 'llama-tiny',
    }),
  );
  assert.equal(built, text);
  const rs = toAdapterConfigJson(loraConfig({ r: 16, loraAlpha: 32, loraDropout: 0.05, useRslora: true }));
  assert.match(rs, /"lora_dropout": 0\.05,/);
  assert.match(rs, /"use_rslora": true/);
  assert.ok(!rs.endsWith('\n'));
});

test('fixture weights map to live modules; every module has A [r, in] and B [out, r]', () => {
  const adapter = LoraAdapter.open(ADAPTER);
  const modules = adapter.loraModules();
  assert.equal(modules.size, 14);
  const q = modules.get('model.layers.0.self_attn.q_proj');
  assert.deepEqual(q, {
    A: 'base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight',
    B: 'base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight',
    embedding: false,
  });
  assert.deepEqual(adapter.shape('base_model.model.model.layers.1.mlp.down_proj.lora_A.weight'), [4, 176]);
  assert.deepEqual(adapter.shape('base_model.model.model.layers.1.mlp.down_proj.lora_B.weight'), [64, 4]);
  for (const module of modules.keys()) assert.ok(isTargetModule(adapter.config, module), module);
  // The adapter equals the reference file's lora.init.<key> tensors.
  const ref = SafetensorsFile.open(join(FIXTURE, 'reference.safetensors'));
  const key = 'base_model.model.model.layers.1.self_attn.v_proj.lora_B.weight';
  const a = adapter.load(key);
  const b = ref.load(`lora.init.${key}`);
  assert.deepEqual([...a.toFloat32Array()], [...b.toFloat32Array()]);
  a.dispose();
  b.dispose();
  ref.close();
  adapter.close();
});

test('key mapping between saved keys, live PEFT keys and module paths', () => {
  const lora = parsePeftKey('base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight', null);
  assert.deepEqual(lora, { kind: 'lora', module: 'model.layers.0.self_attn.q_proj', part: 'A', embedding: false });
  assert.equal(peftLiveKey(lora), 'base_model.model.model.layers.0.self_attn.q_proj.lora_A.default.weight');
  assert.equal(peftSavedKey(lora), 'base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight');
  const head = parsePeftKey('base_model.model.lm_head.weight', ['lm_head', 'embed_tokens']);
  assert.deepEqual(head, { kind: 'modules_to_save', module: 'lm_head', param: 'weight' });
  assert.equal(peftLiveKey(head), 'base_model.model.lm_head.modules_to_save.default.weight');
  const emb = parsePeftKey('base_model.model.model.embed_tokens.weight', ['lm_head', 'embed_tokens']);
  assert.deepEqual(emb, { kind: 'modules_to_save', module: 'model.embed_tokens', param: 'weight' });
  const e = parsePeftKey('base_model.model.model.embed_tokens.lora_embedding_B', null);
  assert.deepEqual(e, { kind: 'lora', module: 'model.embed_tokens', part: 'B', embedding: true });
  assert.equal(peftLiveKey(e), 'base_model.model.model.embed_tokens.lora_embedding_B.default');
  const bias = parsePeftKey('base_model.model.model.layers.0.self_attn.q_proj.bias', null);
  assert.deepEqual(bias, { kind: 'bias', module: 'model.layers.0.self_attn.q_proj' });
  // get_peft_model_state_dict's renaming, applied to live keys, gives the saved keys.
  for (const k of [lora, head, emb, e]) assert.equal(peftLiveToSaved(peftLiveKey(k)), peftSavedKey(k));
  assert.throws(
    () => parsePeftKey('model.layers.0.q_proj.lora_A.weight', null),
    /does not start with "base_model\.model\."/,
  );
  // DoRA's magnitude: live `lora_magnitude_vector.default.weight`, saved without the name and `.weight`
  const magnitude = parsePeftKey('base_model.model.model.layers.0.self_attn.q_proj.lora_magnitude_vector', null);
  assert.deepEqual(magnitude, { kind: 'magnitude', module: 'model.layers.0.self_attn.q_proj' });
  assert.equal(
    peftLiveKey(magnitude),
    'base_model.model.model.layers.0.self_attn.q_proj.lora_magnitude_vector.default.weight',
  );
  assert.equal(peftLiveToSaved(peftLiveKey(magnitude)), peftSavedKey(magnitude));
  assert.throws(() => parsePeftKey('base_model.model.lm_head.weight', null), /is not a LoRA factor/);
});

test('target_modules: list suffixes, regex full match, all-linear, layers_to_transform; rank/alpha patterns', () => {
  const list = loraConfig({ r: 8, targetModules: ['q_proj', 'v_proj'] });
  assert.ok(isTargetModule(list, 'model.layers.3.self_attn.q_proj'));
  assert.ok(!isTargetModule(list, 'model.layers.3.self_attn.o_proj'));
  assert.ok(!isTargetModule(list, 'model.layers.3.self_attn.xq_proj'));
  const regex = loraConfig({ r: 8, targetModules: '.*layers\\.1\\..*(q_proj|k_proj)' });
  assert.ok(isTargetModule(regex, 'model.layers.1.self_attn.k_proj'));
  assert.ok(!isTargetModule(regex, 'model.layers.0.self_attn.k_proj'));
  assert.ok(!isTargetModule(regex, 'model.layers.1.self_attn.k_proj.extra'));
  const all = loraConfig({ r: 8, targetModules: 'all-linear' });
  assert.ok(isTargetModule(all, 'model.layers.0.mlp.down_proj'));
  assert.ok(!isTargetModule(all, 'lm_head'));
  const layers = loraConfig({ r: 8, targetModules: ['q_proj'], layersToTransform: [0, 2] });
  assert.ok(isTargetModule(layers, 'model.layers.2.self_attn.q_proj'));
  assert.ok(!isTargetModule(layers, 'model.layers.1.self_attn.q_proj'));
  const patterns = loraConfig({
    r: 8,
    loraAlpha: 16,
    targetModules: ['q_proj', 'v_proj'],
    rankPattern: { 'layers.0.self_attn.q_proj': 4 },
    alphaPattern: { v_proj: 4 },
  });
  assert.deepEqual(loraParamsFor(patterns, 'model.layers.0.self_attn.q_proj'), { r: 4, alpha: 16, scaling: 4 });
  assert.deepEqual(loraParamsFor(patterns, 'model.layers.1.self_attn.v_proj'), { r: 8, alpha: 4, scaling: 0.5 });
  const rs = loraConfig({ r: 16, loraAlpha: 8, useRslora: true });
  assert.equal(loraParamsFor(rs, 'x').scaling, 2); // alpha / sqrt(r)
});

test('save and reload an adapter folder atomically, with modules_to_save', () => {
  const before = liveBytes();
  const cfg = loraConfig({ r: 2, loraAlpha: 4, targetModules: ['q_proj'], modulesToSave: ['lm_head'] });
  const A = Tensor.from([1, 2, 3, 4, 5, 6, 7, 8], [2, 4]);
  const B = Tensor.from([0.5, -0.5, 0.25, -0.25, 1, 2], [3, 2]);
  const head = Tensor.from([9, 8, 7, 6], [2, 2]);
  const dir = join(tmp, 'nested', 'adapter');
  saveLoraAdapter(dir, cfg, [
    ['base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight', A],
    ['base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight', B],
    ['base_model.model.lm_head.weight', head],
  ]);
  assert.deepEqual(readdirSync(dir).sort(), ['adapter_config.json', 'adapter_model.safetensors']);
  assert.deepEqual(readdirSync(join(tmp, 'nested')), ['adapter']);
  const adapter = LoraAdapter.open(dir);
  assert.deepEqual(adapter.config.modulesToSave, ['lm_head']);
  assert.deepEqual([...adapter.keys.values()].map((k) => k.kind).sort(), ['lora', 'lora', 'modules_to_save']);
  const h = adapter.load('base_model.model.lm_head.weight');
  assert.deepEqual([...h.toFloat32Array()], [9, 8, 7, 6]);
  h.dispose();
  adapter.close();
  // Saving again over the folder replaces both files.
  saveLoraAdapter(dir, { ...cfg, r: 2, loraDropout: 0.1 }, [
    ['base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight', A],
    ['base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight', B],
  ]);
  assert.equal(readLoraConfig(dir).loraDropout, 0.1);
  assert.throws(
    () => saveLoraAdapter(dir, cfg, [['model.layers.0.self_attn.q_proj.lora_A.weight', A]]),
    /does not start with "base_model\.model\."/,
  );
  assert.equal(readdirSync(dir).length, 2);
  for (const t of [A, B, head]) t.dispose();
  assert.equal(liveBytes(), before);
});

test('non-LoRA adapters, pickled weights and unsupported features are refused clearly', () => {
  const dir = join(tmp, 'other');
  mkdirSync(dir);
  const write = (o: Record<string, unknown>) => writeFileSync(join(dir, 'adapter_config.json'), JSON.stringify(o));
  write({ peft_type: 'PREFIX_TUNING', num_virtual_tokens: 20 });
  assert.throws(() => LoraAdapter.open(dir), /"peft_type": "PREFIX_TUNING" adapters are not supported.*LoRA/);
  write({ peft_type: 'LORA', r: 8, use_dora: true });
  assert.equal(readLoraConfig(dir).useDora, true);
  write({ peft_type: 'LORA', r: 8, lora_bias: true });
  assert.throws(() => readLoraConfig(dir), /"lora_bias": lora_bias/);
  write({ peft_type: 'LORA', r: 0 });
  assert.throws(() => readLoraConfig(dir), /"r": must be a positive integer/);
  write({ peft_type: 'LORA', r: 8, bias: 'some' });
  assert.throws(() => readLoraConfig(dir), /"bias": must be "none", "all" or "lora_only"/);
  write({ peft_type: 'LORA', r: 8, target_modules: ['q_proj'] });
  writeFileSync(join(dir, 'adapter_model.bin'), 'pickle');
  assert.throws(
    () => LoraAdapter.open(dir),
    /adapter_model\.bin: is a PyTorch pickle; lmforge reads adapter_model\.safetensors only/,
  );
  assert.throws(() => LoraAdapter.open(join(tmp, 'absent')), /adapter_config\.json is missing/);
  // Newer PEFT keys parse, and survive a rewrite.
  const cfg = parseLoraConfig({
    peft_type: 'LORA',
    r: 8,
    use_rslora: false,
    use_dora: false,
    megatron_core: 'megatron.core',
  });
  const json = JSON.parse(toAdapterConfigJson(cfg)) as Record<string, unknown>;
  assert.equal(json.megatron_core, 'megatron.core');
  assert.equal(json.use_dora, false);
});
