/**
 * QLoRA on the quick start (issue #12's CI run): the same shortened run as the bf16 one, with quantization_bit 4
 * (NF4, double quantization) and with 8, ends within 10% of its loss, and the adapter chats on the quantized base;
 * the bf16 run itself (bf16 matmuls) ends within 2% of the f32 run's loss.
 */
import assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { parse } from 'yaml';
import { loadModel } from '../../src/models/causal-lm.js';
import { train } from '../../src/train/trainer.js';

const root = join(tmpdir(), `lmforge-qlora-${process.pid}`);
after(() => rmSync(root, { recursive: true, force: true }));
const config = parse(readFileSync('examples/quickstart.yaml', 'utf8')) as Record<string, unknown>;
const short = { ...config, max_steps: 40, save_steps: 1000, logging_steps: 10, plot_loss: false };

test('quick start with quantization_bit 4 and 8: final loss within 10% of the bf16 run, adapter usable', async () => {
  const bf16 = await train(
    { ...short, bf16: true, output_dir: join(root, 'bf16') },
    { progress: false, log: () => {} },
  );
  const lines: string[] = [];
  const nf4 = await train(
    { ...short, quantization_bit: 4, output_dir: join(root, 'nf4') },
    { progress: false, log: (m: string) => lines.push(m) },
  );
  const int8 = await train(
    { ...short, quantization_bit: 8, output_dir: join(root, 'int8') },
    { progress: false, log: () => {} },
  );
  assert.ok(
    lines.some((l) => l.startsWith('quantized base: nf4 + double quantization')),
    lines.join('\n'),
  );
  const last = (r: typeof bf16) => r.logHistory.filter((e) => typeof e.loss === 'number').at(-1)?.loss as number;
  for (const [name, r] of [
    ['nf4', nf4],
    ['int8', int8],
  ] as const) {
    assert.equal(r.globalStep, 40);
    const rel = Math.abs(last(r) - last(bf16)) / last(bf16);
    console.log(
      `# ${name}: last logged loss ${last(r).toFixed(4)} vs bf16 ${last(bf16).toFixed(4)} (${(100 * rel).toFixed(1)}%)`,
    );
    assert.ok(rel < 0.1, `${name} loss ${last(r)} vs bf16 ${last(bf16)}`);
  }
  assert.ok(last(nf4) < (nf4.logHistory.find((e) => typeof e.loss === 'number')?.loss as number), 'nf4 loss fell');
  // bf16 is mixed precision (bf16 GEMM operands, f32 sums and master weights): it tracks the f32 run closely.
  const f32 = await train({ ...short, output_dir: join(root, 'f32') }, { progress: false, log: () => {} });
  const relBf16 = Math.abs(last(bf16) - last(f32)) / last(f32);
  console.log(
    `# bf16: last logged loss ${last(bf16).toFixed(4)} vs f32 ${last(f32).toFixed(4)} (${(100 * relBf16).toFixed(2)}%)`,
  );
  assert.ok(relBf16 < 0.02, `bf16 loss ${last(bf16)} vs f32 ${last(f32)}`);
  assert.notEqual(last(bf16), last(f32), 'bf16 computes differently from f32');
  // the saved adapter is a plain PEFT adapter: it loads on a quantized base (and on the full one) and generates
  const model = await loadModel('examples/tiny/base', { quantization: { bits: 4 }, adapter: join(root, 'nf4') });
  try {
    const { tokens, finishReasons } = model.generateDetailed([[1, 2, 3]], { maxNewTokens: 4, stop: [] });
    assert.equal(tokens[0]?.length, 4);
    assert.equal(finishReasons[0], 'length');
  } finally {
    model.dispose();
  }
});
