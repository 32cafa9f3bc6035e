/**
 * Shards by export_size (GB = 10^9 bytes, fractions allowed), the index as transformers writes it, progress on the
 * way, and publishing: a new folder appears whole; an existing one keeps its other files, loses the shards of an
 * earlier export and never keeps a staging folder.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { type ExportProgress, exportModel } from '../../src/export/index.js';
import { CheckpointReader, INDEX_FILE, planShards } from '../../src/io/checkpoint.js';
import { loadModel } from '../../src/models/causal-lm.js';
import { tempDir } from '../util/tokenizers.js';
import { exportArgs, logitsOf, maxAbsDiff, quiet, TINY } from './helpers.js';

const SHARD = /^model-(\d{5})-of-(\d{5})\.safetensors$/;

test('export_size 0.004 GB splits the 10 MB bf16 model into HF-named shards with a correct index', async () => {
  const out = join(tempDir('export-shards'), 'merged');
  const progress: ExportProgress[] = [];
  const result = await exportModel(exportArgs({ export_dir: out, export_size: 0.004 }), {
    log: quiet,
    onProgress: (p) => progress.push(p),
  });
  const shards = readdirSync(out)
    .filter((f) => SHARD.test(f))
    .sort();
  assert.ok(shards.length >= 3, `shards: ${shards.join(', ')}`);
  assert.deepEqual([...result.weightFiles].sort(), shards);
  shards.forEach((f, i) => {
    const [, k, n] = SHARD.exec(f) as unknown as [string, string, string];
    assert.equal(Number(k), i + 1);
    assert.equal(Number(n), shards.length);
  });
  assert.ok(!existsSync(join(out, 'model.safetensors')));

  const index = JSON.parse(readFileSync(join(out, INDEX_FILE), 'utf8'));
  const reader = CheckpointReader.open(out);
  try {
    // every tensor listed once, in the shard that holds it; total_size = the tensor bytes (headers excluded)
    assert.deepEqual(Object.keys(index.weight_map).sort(), [...reader.names].sort());
    let total = 0;
    const perShard = new Map<string, number>();
    for (const name of reader.names) {
      const info = reader.info(name);
      assert.equal(index.weight_map[name], info.file, name);
      total += info.end - info.begin;
      perShard.set(info.file, (perShard.get(info.file) ?? 0) + info.end - info.begin);
    }
    assert.equal(index.metadata.total_size, total);
    assert.equal(result.totalSize, total);
    // each shard within 4e6 bytes of tensors unless one tensor alone is larger (huggingface_hub's rule)
    for (const [file, bytes] of perShard) {
      const names = reader.names.filter((n) => reader.info(n).file === file);
      assert.ok(bytes <= 4e6 || names.length === 1, `${file}: ${bytes} bytes in ${names.length} tensors`);
    }
    // exactly the split huggingface_hub computes from the tensors in model order
    const model = await loadModel(TINY);
    const sizes = model.namedParameters().map(([n, t]): [string, number] => [n, t.numel * 2]);
    model.dispose();
    const planned = planShards(sizes, 4_000_000);
    for (const [file, names] of planned.files) for (const n of names) assert.equal(index.weight_map[n], file, n);
  } finally {
    reader.close();
  }

  // progress: one report per tensor, counts rising to the totals
  assert.equal(progress.length, progress.at(-1)?.totalTensors);
  assert.equal(progress.at(-1)?.bytes, progress.at(-1)?.totalBytes);
  for (let i = 1; i < progress.length; i++) assert.ok((progress[i]?.bytes ?? 0) > (progress[i - 1]?.bytes ?? 0));

  // and it loads back as the same model as the single-file export
  const single = join(tempDir('export-single'), 'merged');
  await exportModel(exportArgs({ export_dir: single }), { log: quiet });
  assert.deepEqual(
    readdirSync(single).filter((f) => f.endsWith('.safetensors')),
    ['model.safetensors'],
  );
  assert.ok(!existsSync(join(single, INDEX_FILE)));
  const a = await loadModel(out);
  const b = await loadModel(single);
  try {
    assert.equal(maxAbsDiff(logitsOf(a), logitsOf(b)), 0);
  } finally {
    a.dispose();
    b.dispose();
  }
});

test('re-exporting into an existing folder replaces the weights, drops stale shards, keeps other files', async () => {
  const out = join(tempDir('export-again'), 'merged');
  await exportModel(exportArgs({ export_dir: out, export_size: 0.004 }), { log: quiet });
  writeFileSync(join(out, 'README.md'), 'my notes\n');
  await exportModel(exportArgs({ export_dir: out }), { log: quiet });
  const files = readdirSync(out);
  assert.ok(files.includes('model.safetensors'));
  assert.ok(!files.some((f) => SHARD.test(f)), `stale shards left: ${files.join(', ')}`);
  assert.ok(!files.includes(INDEX_FILE));
  assert.equal(readFileSync(join(out, 'README.md'), 'utf8'), 'my notes\n');
  // no staging folder or temporary file stays next to the export or inside it
  const beside = readdirSync(dirname(out));
  assert.deepEqual(beside, ['merged']);
  assert.ok(!files.some((f) => f.includes('.tmp-')));
  assert.ok(statSync(join(out, 'Modelfile')).size > 0);
});

test('a write that fails half way leaves no new folder, and an earlier export untouched', async () => {
  const root = tempDir('export-fail');
  const failAt = (n: number) => (p: ExportProgress) => {
    if (p.tensors === n) throw new Error('disk full (simulated)');
  };
  const out = join(root, 'merged');
  await assert.rejects(
    exportModel(exportArgs({ export_dir: out, export_size: 0.004 }), { log: quiet, onProgress: failAt(20) }),
    /disk full/,
  );
  assert.deepEqual(readdirSync(root), [], 'neither the export nor its staging folder exists');

  await exportModel(exportArgs({ export_dir: out }), { log: quiet });
  const before = new Map(readdirSync(out).map((f) => [f, readFileSync(join(out, f))]));
  await assert.rejects(
    exportModel(exportArgs({ export_dir: out, export_size: 0.004, infer_dtype: 'float32' }), {
      log: quiet,
      onProgress: failAt(30),
    }),
    /disk full/,
  );
  assert.deepEqual(readdirSync(root), ['merged']);
  assert.deepEqual(new Map(readdirSync(out).map((f) => [f, readFileSync(join(out, f))])), before);
});
