/**
 * Pre-quantized bitsandbytes checkpoints (the `*-bnb-4bit` / `*-8bit` folders Transformers saves): written here
 * byte by byte in that layout (QuantState.as_dict(packed=True) keys beside each 4-bit `weight`; `SCB` beside an int8
 * one) from a model quantized on the fly, then loaded: the same quantized weights, the same logits, LoRA trains.
 */
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { type QuantizedMatrix, type QuantizedParts, scope, type Tensor } from '../../src/engine/index.js';
import { parseModelConfig } from '../../src/io/model-config.js';
import { type CausalLM, createModel, loadModel, type QuantizationOptions } from '../../src/models/causal-lm.js';
import { tempDir } from '../util/tokenizers.js';

const root = tempDir('lmforge-bnb-');
after(() => rmSync(root, { recursive: true, force: true }));

const base = join(root, 'base');
{
  const cfg = parseModelConfig({
    architectures: ['LlamaForCausalLM'],
    vocab_size: 80,
    hidden_size: 64,
    intermediate_size: 96,
    num_hidden_layers: 2,
    num_attention_heads: 4,
    num_key_value_heads: 2,
    max_position_embeddings: 64,
  });
  const m = createModel(cfg, { seed: 9 });
  m.save(base);
  m.dispose();
}

type Entry = { dtype: 'F32' | 'U8' | 'I8'; shape: number[]; bytes: Uint8Array };

/** A safetensors file from raw entries: 8-byte header length, the JSON header, the data. */
function writeRawSafetensors(path: string, entries: Map<string, Entry>): void {
  const header: Record<string, unknown> = {};
  let offset = 0;
  for (const [name, e] of entries) {
    header[name] = { dtype: e.dtype, shape: e.shape, data_offsets: [offset, offset + e.bytes.length] };
    offset += e.bytes.length;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (json.length % 8)) % 8);
  const head = Buffer.alloc(8);
  head.writeBigUInt64LE(BigInt(json.length));
  writeFileSync(
    path,
    Buffer.concat([head, Buffer.from(json), ...[...entries.values()].map((e) => Buffer.from(e.bytes))]),
  );
}

const f32Bytes = (a: Float32Array) => new Uint8Array(a.buffer.slice(a.byteOffset, a.byteOffset + a.byteLength));

/** The bitsandbytes folder of `model`'s quantized projections and the rest of its parameters. */
function writeBnbFolder(
  dir: string,
  model: CausalLM,
  q: QuantizationOptions,
  recordedShape: (name: string, shape: number[]) => number[] = (_, s) => s,
): void {
  mkdirSync(dir, { recursive: true });
  const entries = new Map<string, Entry>();
  for (const [name, t] of model.namedParameters())
    entries.set(name, { dtype: 'F32', shape: [...t.shape], bytes: f32Bytes(t.toFloat32Array()) });
  for (const [name, m] of model.quantizedWeights()) {
    const p: QuantizedParts = m.parts();
    if (p.type === 'int8') {
      entries.set(name, { dtype: 'I8', shape: [p.rows, p.cols], bytes: p.data });
      entries.set(`${name.slice(0, -7)}.SCB`, {
        dtype: 'F32',
        shape: [p.rows],
        bytes: f32Bytes(p.scb as Float32Array),
      });
      entries.set(`${name.slice(0, -7)}.weight_format`, { dtype: 'U8', shape: [], bytes: new Uint8Array([0]) });
      continue;
    }
    entries.set(name, { dtype: 'U8', shape: [p.data.length, 1], bytes: p.data });
    const state: Record<string, unknown> = {
      quant_type: p.type,
      blocksize: p.blocksize,
      dtype: 'float32',
      shape: recordedShape(name, [p.rows, p.cols]),
    };
    if (p.qabsmax) {
      entries.set(`${name}.absmax`, { dtype: 'U8', shape: [p.qabsmax.length], bytes: p.qabsmax });
      const nested = p.nestedAbsmax as Float32Array;
      entries.set(`${name}.nested_absmax`, { dtype: 'F32', shape: [nested.length], bytes: f32Bytes(nested) });
      entries.set(`${name}.nested_quant_map`, {
        dtype: 'F32',
        shape: [256],
        bytes: f32Bytes(p.nestedCode as Float32Array),
      });
      Object.assign(state, { nested_blocksize: p.nestedBlocksize, nested_dtype: 'float32', nested_offset: p.offset });
    } else {
      const absmax = p.absmax as Float32Array;
      entries.set(`${name}.absmax`, { dtype: 'F32', shape: [absmax.length], bytes: f32Bytes(absmax) });
    }
    entries.set(`${name}.quant_map`, { dtype: 'F32', shape: [16], bytes: f32Bytes(p.code as Float32Array) });
    const json = new TextEncoder().encode(JSON.stringify(state));
    entries.set(`${name}.quant_state.bitsandbytes__${p.type}`, { dtype: 'U8', shape: [json.length], bytes: json });
  }
  writeRawSafetensors(join(dir, 'model.safetensors'), entries);
  const config = JSON.parse(readFileSync(join(base, 'config.json'), 'utf8')) as Record<string, unknown>;
  config.quantization_config =
    q.bits === 8
      ? { quant_method: 'bitsandbytes', load_in_8bit: true, load_in_4bit: false, llm_int8_threshold: 6.0 }
      : {
          quant_method: 'bitsandbytes',
          load_in_4bit: true,
          load_in_8bit: false,
          bnb_4bit_quant_type: q.type ?? 'nf4',
          bnb_4bit_use_double_quant: q.doubleQuant ?? true,
          bnb_4bit_compute_dtype: 'bfloat16',
          bnb_4bit_quant_storage: 'uint8',
        };
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config));
}

const ids = [[3, 14, 15, 9, 26, 5, 35, 8]];
const logits = (m: CausalLM) =>
  scope(() => ((m.forward({ inputIds: ids }) as { logits: Tensor }).logits as Tensor).toFloat32Array());

for (const q of [
  { bits: 4, type: 'nf4' },
  { bits: 4, type: 'fp4', doubleQuant: false },
  { bits: 8 },
] as QuantizationOptions[]) {
  const label = q.bits === 8 ? 'int8' : (q.type as string);
  test(`a bitsandbytes ${label} checkpoint loads quantized, with the weights and logits it was saved with`, async () => {
    const onTheFly = await loadModel(base, { quantization: q });
    const dir = join(root, `bnb-${label}${q.doubleQuant === false ? '-plain' : ''}`);
    writeBnbFolder(dir, onTheFly, q);
    const loaded = await loadModel(dir);
    try {
      assert.equal(loaded.quantization, label);
      assert.equal(loaded.quantizedWeights().length, 14);
      const expected = onTheFly.quantizedWeights();
      loaded.quantizedWeights().forEach(([name, m], i) => {
        const [otherName, other] = expected[i] as [string, QuantizedMatrix];
        assert.equal(name, otherName);
        assert.deepEqual(m.parts(), other.parts(), name);
      });
      assert.deepEqual(logits(loaded), logits(onTheFly));
      // LoRA trains over it as over an on-the-fly base
      loaded.addLora({ r: 2, targetModules: 'all' });
      loaded.train();
      scope(() => {
        const { loss } = loaded.forward({ inputIds: ids, labels: ids }) as { loss: Tensor };
        loss.backward();
      });
      assert.ok(loaded.trainableParameters().every(([, t]) => t.grad !== null));
    } finally {
      loaded.dispose();
      onTheFly.dispose();
    }
  });
}

test('a quantized model saves as bitsandbytes does: the same tensors, dtypes and shapes; it loads back quantized', async () => {
  const header = (file: string) => {
    const b = readFileSync(file);
    const h = JSON.parse(b.subarray(8, 8 + Number(b.readBigUInt64LE(0))).toString()) as Record<string, unknown>;
    delete h.__metadata__;
    return Object.fromEntries(
      Object.entries(h as Record<string, { dtype: string; shape: number[] }>)
        .map(([n, v]) => [n, `${v.dtype} [${v.shape}]`])
        .sort(),
    );
  };
  for (const q of [{ bits: 4 }, { bits: 8 }] as QuantizationOptions[]) {
    const model = await loadModel(base, { quantization: q });
    const saved = join(root, `saved-${q.bits}`);
    const written = join(root, `written-${q.bits}`);
    model.save(saved);
    writeBnbFolder(written, model, q);
    assert.deepEqual(header(join(saved, 'model.safetensors')), header(join(written, 'model.safetensors')));
    const qc = (
      JSON.parse(readFileSync(join(saved, 'config.json'), 'utf8')) as { quantization_config: Record<string, unknown> }
    ).quantization_config;
    assert.equal(qc.quant_method, 'bitsandbytes');
    assert.equal(qc[q.bits === 4 ? 'load_in_4bit' : 'load_in_8bit'], true);
    const back = await loadModel(saved);
    assert.equal(back.quantization, q.bits === 4 ? 'nf4' : 'int8');
    assert.deepEqual(logits(back), logits(model));
    back.dispose();
    model.dispose();
  }
});

test('other quantization methods, and a broken bitsandbytes checkpoint, stop with a message', async () => {
  const dir = join(root, 'bnb-nf4');
  const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as Record<string, unknown>;
  const gptq = join(root, 'gptq');
  mkdirSync(gptq, { recursive: true });
  writeFileSync(
    join(gptq, 'config.json'),
    JSON.stringify({ ...config, quantization_config: { quant_method: 'gptq', bits: 4 } }),
  );
  writeFileSync(join(gptq, 'model.safetensors'), readFileSync(join(dir, 'model.safetensors')));
  await assert.rejects(loadModel(gptq), /quant_method is "gptq"; lmforge reads bitsandbytes checkpoints only/);
  // a quant_state recording another shape than the model's [out, in] is named, with both shapes
  const bad = join(root, 'bad');
  const onTheFly = await loadModel(base, { quantization: { bits: 4 } });
  writeBnbFolder(bad, onTheFly, { bits: 4 }, (name, shape) =>
    name === 'model.layers.1.mlp.up_proj.weight' ? [shape[0] as number, (shape[1] as number) - 2] : shape,
  );
  onTheFly.dispose();
  await assert.rejects(loadModel(bad), /model\.layers\.1\.mlp\.up_proj\.weight[\s\S]*96, 62/);
});
