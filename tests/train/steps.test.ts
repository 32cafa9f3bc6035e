import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runLength, TrainerState } from '../../src/train/index.js';

test('run length: a last partial accumulation group counts as an update; max_steps overrides epochs', () => {
  // 10 batches, accumulation 4: updates after batches 4, 8 and 10.
  assert.deepEqual(runLength({ batchesPerEpoch: 10, gradientAccumulationSteps: 4, numTrainEpochs: 3, maxSteps: -1 }), {
    updatesPerEpoch: 3,
    maxSteps: 9,
    numTrainEpochs: 3,
  });
  assert.deepEqual(
    runLength({ batchesPerEpoch: 10, gradientAccumulationSteps: 4, numTrainEpochs: 1.5, maxSteps: -1 }),
    {
      updatesPerEpoch: 3,
      maxSteps: 5,
      numTrainEpochs: 2,
    },
  );
  assert.deepEqual(runLength({ batchesPerEpoch: 10, gradientAccumulationSteps: 4, numTrainEpochs: 3, maxSteps: 7 }), {
    updatesPerEpoch: 3,
    maxSteps: 7,
    numTrainEpochs: 3,
  });
  assert.equal(
    runLength({ batchesPerEpoch: 2, gradientAccumulationSteps: 8, numTrainEpochs: 1, maxSteps: -1 }).updatesPerEpoch,
    1,
  );
});

test('the state at the start of training resolves ratio intervals against max_steps', () => {
  const s = TrainerState.begin({
    maxSteps: 200,
    numTrainEpochs: 3,
    trainBatchSize: 2,
    loggingSteps: 0.05,
    evalSteps: null,
    saveSteps: 100,
  });
  assert.equal(s.logging_steps, 10);
  assert.equal(s.eval_steps, 500);
  assert.equal(s.save_steps, 100);
  assert.equal(s.train_batch_size, 2);
});
