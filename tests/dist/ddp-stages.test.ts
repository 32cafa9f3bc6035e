/**
 * Every per-micro-batch stage runs data-parallel: pt, rm, dpo and kto on 2 ranks x batch 2 x accumulation 2 end with
 * the LoRA weights of one process x batch 2 x accumulation 4, which runs the same micro-batches (rank r takes the
 * r-th half of each global micro-batch of 4). The sft case, killed and hung ranks are in ddp.test.ts.
 */
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { train } from '../../src/train/trainer.js';
import { tempDir } from '../util/tokenizers.js';
import { adapterValues, ddpConfig, maxDifference, mpiMissing, mpirunTrain, writeYaml } from './mpi-support.js';

const missing = mpiMissing();
if (missing) console.log(`# skipped: ${missing}`);
const root = tempDir('ddp-stages');
after(() => rmSync(root, { recursive: true, force: true }));

const STAGES: Record<string, Record<string, unknown>> = {
  pt: { stage: 'pt', dataset: 'pretrain_demo', max_samples: 16 },
  rm: { stage: 'rm', dataset: 'preference_demo', max_samples: 16 },
  dpo: { stage: 'dpo', dataset: 'preference_demo', max_samples: 16 },
  kto: { stage: 'kto', dataset: 'kto_demo', max_samples: 16 },
};

for (const [name, extra] of Object.entries(STAGES))
  test(`stage ${name}: 2 ranks end with one process's weights`, { skip: missing ?? false }, async () => {
    const one = join(root, `${name}-one`);
    const same = { per_device_train_batch_size: 2, gradient_accumulation_steps: 4 };
    await train(ddpConfig(one, { ...extra, ...same }), { progress: false, log: () => {} });
    const two = join(root, `${name}-two`);
    const cfg = ddpConfig(two, { ...extra, per_device_train_batch_size: 2 });
    const r = mpirunTrain(2, writeYaml(join(root, `${name}.yaml`), cfg));
    assert.equal(r.status, 0, r.stderr);
    const diff = maxDifference(adapterValues(one), adapterValues(two));
    assert.ok(diff <= 1e-6, `largest weight difference ${diff}`);
  });
