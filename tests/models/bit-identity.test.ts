/**
 * Proof that reshaping the model and trainer code changes no number (issue #22 item 4): short runs of the example
 * configs (the quick start and each stage) must end with the same weight bytes and the same trainer_log.jsonl (less
 * its clock fields) as the hashes recorded in tests/fixtures/bit-identity.json before the reshaping.
 *
 * The kernels' rounding differs between instruction sets, so hashes are kept per ISA (and the thread count is pinned).
 * A deliberate numeric change re-records them: LMFORGE_RECORD_BIT_IDENTITY=1 npm test -- models/bit-identity
 * (LMFORGE_ISA=avx2 records the AVX2 set on an AVX-512 machine).
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { parse } from 'yaml';
import { native } from '../../src/engine/native.js';
import { train } from '../../src/train/trainer.js';

const FIXTURE = 'tests/fixtures/bit-identity.json';
const record = process.env.LMFORGE_RECORD_BIT_IDENTITY === '1';
const wanted = process.env.LMFORGE_ISA as 'portable' | 'avx2' | 'avx512' | undefined;
if (wanted) native.setIsa(wanted);
const isa = native.isa();

const root = join(tmpdir(), `lmforge-bit-identity-${process.pid}`);
after(() => rmSync(root, { recursive: true, force: true }));

const yaml = (path: string) => parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
/** Every run: pinned threads, no checkpoints or plots (they are not what this checks), a few steps. */
const common = { threads: 2, save_steps: 1000, plot_loss: false, overwrite_output_dir: true, logging_steps: 1 };

/** sha256 of each weight file and of trainer_log.jsonl without its clock fields (elapsed/remaining time, throughput). */
function hashes(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const f of readdirSync(dir).sort())
    if (f.endsWith('.safetensors'))
      out[f] = createHash('sha256')
        .update(readFileSync(join(dir, f)))
        .digest('hex');
  const log = readFileSync(join(dir, 'trainer_log.jsonl'), 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => {
      const {
        elapsed_time: _e,
        remaining_time: _r,
        throughput: _t,
        ...rest
      } = JSON.parse(l) as Record<string, unknown>;
      return JSON.stringify(rest);
    })
    .join('\n');
  out['trainer_log.jsonl'] = createHash('sha256').update(log).digest('hex');
  return out;
}

const quickstart = yaml('examples/quickstart.yaml');
const cases: [string, Record<string, unknown>][] = [
  ['quickstart', { ...quickstart, max_steps: 3 }],
  // LoRA dropout draws from the model's generator, which the trainer seeds and checkpoints.
  ['sft_dropout', { ...quickstart, lora_dropout: 0.1, max_steps: 3 }],
  ['sft_full', { ...quickstart, finetuning_type: 'full', max_steps: 2, per_device_train_batch_size: 4 }],
  [
    'sft_freeze',
    {
      ...quickstart,
      finetuning_type: 'freeze',
      freeze_trainable_layers: 1,
      freeze_extra_modules: 'norm',
      max_steps: 2,
      per_device_train_batch_size: 4,
    },
  ],
  ['rm', { ...yaml('examples/train_lora/tiny_lora_reward.yaml'), max_steps: 3 }],
  ['dpo', { ...yaml('examples/train_lora/tiny_lora_dpo.yaml'), max_steps: 3 }],
  ['kto', { ...yaml('examples/train_lora/tiny_lora_kto.yaml'), max_steps: 3 }],
  // PPO scores with the rm case's adapter, so it runs after it.
  [
    'ppo',
    {
      ...yaml('examples/train_lora/tiny_lora_ppo.yaml'),
      reward_model: join(root, 'rm'),
      max_steps: 2,
      max_new_tokens: 8,
      per_device_train_batch_size: 2,
    },
  ],
];

test(`training runs end bit-identical to the recorded hashes (${isa})`, async () => {
  const recorded = existsSync(FIXTURE)
    ? (JSON.parse(readFileSync(FIXTURE, 'utf8')) as Record<string, Record<string, Record<string, string>>>)
    : {};
  const got: Record<string, Record<string, string>> = {};
  for (const [name, config] of cases) {
    const dir = join(root, name);
    await train({ ...config, ...common, output_dir: dir }, { progress: false, log: () => {} });
    got[name] = hashes(dir);
  }
  if (record) {
    writeFileSync(FIXTURE, `${JSON.stringify({ ...recorded, [isa]: got }, null, 2)}\n`);
    return;
  }
  const want = recorded[isa];
  assert.ok(
    want,
    `${FIXTURE} has no hashes for ISA ${isa}: record them on unchanged code with LMFORGE_RECORD_BIT_IDENTITY=1`,
  );
  for (const [name] of cases) assert.deepEqual(got[name], want[name], `${name}: weights or log changed`);
});
