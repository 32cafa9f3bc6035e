import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { liveBytes, type Tensor } from '../../src/engine/index.js';
import {
  CheckpointReader,
  checkParameters,
  expectedParameters,
  FormatError,
  formatParameterReport,
  isIgnorableCheckpointTensor,
  parseShardSize,
  planShards,
  readModelConfig,
  saveCheckpoint,
  shardFileName,
  writeSafetensors,
} from '../../src/io/index.js';

const FIXTURE = join(import.meta.dirname, '..', 'fixtures', 'parity', 'llama-tiny');
const tmp = mkdtempSync(join(tmpdir(), 'lmforge-checkpoint-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

/** Loads every fixture tensor in HF module order (the order the expected-parameter map gives). */
function loadFixture(): { names: string[]; tensors: Map<string, Tensor> } {
  const cfg = readModelConfig(FIXTURE);
  const names = [...expectedParameters(cfg).keys()];
  const reader = CheckpointReader.open(FIXTURE);
  const tensors = new Map(names.map((n) => [n, reader.load(n)]));
  reader.close();
  return { names, tensors };
}

test('max_shard_size parses as transformers does', () => {
  assert.equal(parseShardSize('5GB'), 5_000_000_000);
  assert.equal(parseShardSize('500MB'), 500_000_000);
  assert.equal(parseShardSize('10KB'), 10_000);
  assert.equal(parseShardSize('2GiB'), 2 * 2 ** 30);
  assert.equal(parseShardSize('1MiB'), 2 ** 20);
  assert.equal(parseShardSize('8Gb'), 1_000_000_000); // lowercase b: bits
  assert.equal(parseShardSize(12345), 12345);
  assert.throws(() => parseShardSize('5 parsecs'), /not a size.*"5GB"/);
  assert.throws(() => parseShardSize(0), /positive/);
});

test('shard plan follows huggingface_hub: in order, no bin packing, oversized tensors alone', () => {
  // The documented example: limit 10, sizes [6,6,2,6,2,2] -> [6], [6+2], [6+2+2].
  const plan = planShards(
    [6, 6, 2, 6, 2, 2].map((s, i): [string, number] => [`t${i}`, s]),
    10,
  );
  assert.deepEqual(
    [...plan.files],
    [
      ['model-00001-of-00003.safetensors', ['t0']],
      ['model-00002-of-00003.safetensors', ['t1', 't2']],
      ['model-00003-of-00003.safetensors', ['t3', 't4', 't5']],
    ],
  );
  assert.equal(plan.totalSize, 24);
  // A tensor over the limit goes to its own shard immediately, before the shard still being filled.
  const big = planShards(
    [
      ['a', 2],
      ['huge', 50],
      ['b', 3],
    ],
    10,
  );
  assert.deepEqual([...big.files.values()], [['huge'], ['a', 'b']]);
  const one = planShards([['a', 4]], 10);
  assert.deepEqual([...one.files], [['model.safetensors', ['a']]]);
  assert.equal(one.sharded, false);
  assert.equal(shardFileName(0, 12), 'model-00001-of-00012.safetensors');
});

test('opens the fixture checkpoint lazily and checks it against the config', () => {
  const reader = CheckpointReader.open(FIXTURE);
  const cfg = readModelConfig(FIXTURE);
  assert.equal(reader.sharded, false);
  assert.equal(reader.names.length, 21);
  // 21 f32 tensors: total_size counts data bytes only.
  const expected = expectedParameters(cfg);
  let bytes = 0;
  for (const shape of expected.values()) bytes += 4 * shape.reduce((a, b) => a * b, 1);
  assert.equal(reader.totalSize, bytes);
  const report = checkParameters(expected, reader.shapes(), (n) => isIgnorableCheckpointTensor(n, cfg));
  assert.ok(report.ok, formatParameterReport(report, FIXTURE));
  reader.close();
});

test('sharded save with a small max_shard_size reloads identically; index as transformers writes it', () => {
  const before = liveBytes();
  const { names, tensors } = loadFixture();
  const cfg = readModelConfig(FIXTURE);
  const dir = join(tmp, 'sharded');
  const saved = saveCheckpoint(dir, tensors, {
    maxShardSize: '100KB',
    config: cfg,
    generationConfig: { _from_model_config: true, bos_token_id: 1, eos_token_id: 2, pad_token_id: 0 },
  });
  assert.ok(saved.sharded);
  const files = readdirSync(dir).sort();
  const n = saved.files.length;
  assert.ok(n >= 5, `expected several shards, got ${n}`);
  assert.deepEqual(
    files,
    [
      'config.json',
      'generation_config.json',
      ...Array.from({ length: n }, (_, i) => shardFileName(i, n)),
      'model.safetensors.index.json',
    ].sort(),
  );
  const indexText = readFileSync(join(dir, 'model.safetensors.index.json'), 'utf8');
  const index = JSON.parse(indexText) as { metadata: { total_size: number }; weight_map: Record<string, string> };
  assert.equal(index.metadata.total_size, 503136 - 8 - 2136); // the fixture's data section: every tensor, f32
  assert.deepEqual(Object.keys(index.weight_map), [...names].sort());
  assert.ok(indexText.startsWith('{\n  "metadata": {\n    "total_size": '));
  assert.ok(indexText.endsWith('"\n  }\n}\n'));
  // Every shard but one holding an oversized tensor stays within the limit.
  for (const f of saved.files) {
    const reader = CheckpointReader.open(dir);
    const size = reader.names
      .filter((x) => reader.info(x).file === f)
      .reduce((a, x) => {
        const i = reader.info(x);
        return a + i.end - i.begin;
      }, 0);
    const count = reader.names.filter((x) => reader.info(x).file === f).length;
    assert.ok(size <= 100_000 || count === 1, `${f}: ${size} bytes in ${count} tensors`);
    reader.close();
  }
  const reader = CheckpointReader.open(dir);
  assert.ok(reader.sharded);
  for (const name of names) {
    const t = reader.load(name);
    assert.deepEqual([...t.toFloat32Array()], [...(tensors.get(name) as Tensor).toFloat32Array()], name);
    t.dispose();
  }
  reader.close();
  // config.json and generation_config.json are written as transformers writes them.
  assert.equal(readFileSync(join(dir, 'config.json'), 'utf8'), readFileSync(join(FIXTURE, 'config.json'), 'utf8'));
  assert.equal(
    readFileSync(join(dir, 'generation_config.json'), 'utf8'),
    '{\n  "_from_model_config": true,\n  "bos_token_id": 1,\n  "eos_token_id": 2,\n  "pad_token_id": 0\n}\n',
  );
  for (const t of tensors.values()) t.dispose();
  assert.equal(liveBytes(), before);
  assert.equal(readdirSync(tmp).filter((e) => e.includes('.tmp-')).length, 0, 'the temporary folder was renamed');
});

test('saving over an existing folder replaces the weights, keeps other files, and drops stale shards', () => {
  const { tensors } = loadFixture();
  const dir = join(tmp, 'resave');
  saveCheckpoint(dir, tensors, { maxShardSize: '100KB' });
  writeFileSync(join(dir, 'tokenizer.json'), '{}');
  const single = saveCheckpoint(dir, tensors, { dtype: 'bf16', config: readModelConfig(FIXTURE) });
  assert.equal(single.sharded, false);
  assert.deepEqual(readdirSync(dir).sort(), ['config.json', 'model.safetensors', 'tokenizer.json']);
  assert.equal(single.totalSize, (503136 - 8 - 2136) / 2);
  assert.match(readFileSync(join(dir, 'config.json'), 'utf8'), /"torch_dtype": "bfloat16"/);
  const reader = CheckpointReader.open(dir);
  const t = reader.load('model.norm.weight');
  assert.equal(t.dtype, 'bf16');
  const w = reader.load('model.norm.weight', { dtype: 'f32' });
  const expected = (tensors.get('model.norm.weight') as Tensor).to('bf16');
  assert.deepEqual([...w.toFloat32Array()], [...expected.toFloat32Array()]);
  for (const x of [t, w, expected]) x.dispose();
  reader.close();
  for (const x of tensors.values()) x.dispose();
});

test('broken checkpoint folders give named errors', () => {
  const { tensors } = loadFixture();
  const dir = join(tmp, 'broken');
  saveCheckpoint(dir, tensors, { maxShardSize: '100KB' });
  const indexPath = join(dir, 'model.safetensors.index.json');
  const index = JSON.parse(readFileSync(indexPath, 'utf8')) as { weight_map: Record<string, string> };

  const missingEntry = structuredClone(index);
  delete missingEntry.weight_map['model.norm.weight'];
  writeFileSync(indexPath, JSON.stringify(missingEntry));
  assert.throws(
    () => CheckpointReader.open(dir),
    (e: unknown) =>
      e instanceof FormatError &&
      e.key === 'model.norm.weight' &&
      /missing index entry.*does not list it/.test(e.message),
  );

  const wrongShard = structuredClone(index);
  const norm = wrongShard.weight_map['model.norm.weight'] as string;
  wrongShard.weight_map['model.norm.weight'] = Object.values(index.weight_map).find((f) => f !== norm) as string;
  writeFileSync(indexPath, JSON.stringify(wrongShard));
  assert.throws(() => CheckpointReader.open(dir), /"model\.norm\.weight": the index places this tensor here/);

  const missingShard = structuredClone(index);
  missingShard.weight_map['extra.weight'] = 'model-00099-of-00099.safetensors';
  writeFileSync(indexPath, JSON.stringify(missingShard));
  assert.throws(() => CheckpointReader.open(dir), /lists shard model-00099-of-00099\.safetensors, which is missing/);

  writeFileSync(indexPath, '{"weight_map": ');
  assert.throws(() => CheckpointReader.open(dir), /model\.safetensors\.index\.json: is not valid JSON/);

  rmSync(indexPath);
  assert.throws(() => CheckpointReader.open(dir), /has shard files but no model\.safetensors\.index\.json/);

  const pickles = join(tmp, 'pickles');
  mkdirSync(pickles);
  writeFileSync(join(pickles, 'pytorch_model.bin'), 'x');
  assert.throws(() => CheckpointReader.open(pickles), /PyTorch pickle weights.*safetensors only/);

  // A checkpoint of the wrong shape is reported tensor by tensor.
  const cfg = readModelConfig(FIXTURE);
  const wrong = join(tmp, 'wrong');
  mkdirSync(wrong);
  writeSafetensors(join(wrong, 'model.safetensors'), [
    ['model.embed_tokens.weight', tensors.get('lm_head.weight') as Tensor],
    ['model.norm.weight', tensors.get('model.layers.0.self_attn.q_proj.weight') as Tensor],
    ['model.layers.0.self_attn.rotary_emb.inv_freq', tensors.get('model.norm.weight') as Tensor],
    ['surprise.weight', tensors.get('model.norm.weight') as Tensor],
  ]);
  const reader = CheckpointReader.open(wrong);
  const report = checkParameters(expectedParameters(cfg), reader.shapes(), (n) => isIgnorableCheckpointTensor(n, cfg));
  reader.close();
  assert.equal(report.ok, false);
  assert.deepEqual(report.unexpected, ['surprise.weight']);
  assert.equal(report.missing.length, 19);
  assert.deepEqual(report.misshaped, [{ name: 'model.norm.weight', expected: [64], found: [64, 64] }]);
  assert.match(formatParameterReport(report, wrong), /model\.norm\.weight: expected \[64\], found \[64, 64\]/);
  assert.ok(!existsSync(join(tmp, 'wrong.tmp')));
  for (const t of tensors.values()) t.dispose();
});

test('a target given with a trailing slash is created beside, not inside, itself', () => {
  const t = loadFixture().tensors;
  const dir = join(tmp, 'slash');
  saveCheckpoint(`${dir}/`, t);
  assert.deepEqual(readdirSync(dir), ['model.safetensors']);
  assert.ok(readdirSync(tmp).every((e) => !e.startsWith('slash.tmp-')));
  for (const x of t.values()) x.dispose();
});
