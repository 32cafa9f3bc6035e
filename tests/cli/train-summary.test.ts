import assert from 'node:assert/strict';
import { test } from 'node:test';
import { trainSummary } from '../../src/cli/train-summary.js';
import type { TrainResult } from '../../src/train/train-options.js';

const base: TrainResult = {
  outputDir: 'saves/quickstart',
  globalStep: 440,
  maxSteps: 440,
  trainLoss: 2.50321,
  trained: true,
  interrupted: false,
  logHistory: [
    { step: 5, loss: 6.9, learning_rate: 0.001, epoch: 0.45 },
    { step: 435, loss: 1.4987, learning_rate: 0, epoch: 39.5 },
    { step: 440, eval_loss: 1.9 },
    { step: 440, train_loss: 2.50321, train_runtime: 50 },
  ],
};

test('the done line names the last logged loss and the run mean, each for what it is', () => {
  assert.equal(
    trainSummary(base),
    "done: 440 steps, last logged loss 1.4987 (step 435), train_loss 2.5032 (the mean over all the run's steps); results in saves/quickstart",
  );
});

test('a run too short to log says only its mean; predict-only and finished runs say what happened', () => {
  assert.equal(
    trainSummary({ ...base, globalStep: 2, logHistory: [] }),
    "done: 2 steps, train_loss 2.5032 (the mean over all the run's steps); results in saves/quickstart",
  );
  assert.equal(
    trainSummary({ ...base, trained: false, trainLoss: Number.NaN, predictMetrics: { 'predict_bleu-4': 1 } }),
    'done: predictions written (no training: do_train is false); results in saves/quickstart',
  );
  assert.equal(
    trainSummary({ ...base, trained: false, trainLoss: Number.NaN }),
    'done: nothing trained (already at step 440/440); results in saves/quickstart',
  );
});
