import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatMetricValue, metricsReport } from '../../src/train/metrics-report.js';

test('metric values print as HF metrics_format: floats to 4 places, runtimes as a timedelta', () => {
  assert.equal(formatMetricValue('predict_bleu-4', 0.5006799999999999), '0.5007');
  assert.equal(formatMetricValue('predict_rouge-1', 12.345678), '12.3457');
  assert.equal(formatMetricValue('predict_samples_per_second', 3.5), '3.5');
  assert.equal(formatMetricValue('predict_runtime', 65.4321), '0:01:05.43');
  assert.equal(formatMetricValue('predict_runtime', 0.07), '0:00:00.07');
  assert.equal(formatMetricValue('total_flos', 3 * 2 ** 30 + 5), '3GF');
});

test('the report is the header and sorted, aligned key = value lines', () => {
  const lines = metricsReport('predict', {
    'predict_rouge-l': 40.12346,
    'predict_bleu-4': 0.5006799999999999,
    predict_runtime: 1.5,
  });
  assert.deepEqual(lines, [
    '***** predict metrics *****',
    '  predict_bleu-4  =     0.5007',
    '  predict_rouge-l =    40.1235',
    '  predict_runtime = 0:00:01.50',
  ]);
});
