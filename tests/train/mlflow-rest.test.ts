/**
 * report_to: mlflow with MLFLOW_TRACKING_URI = a server: the REST calls MLflow's client makes, against a loopback
 * server that answers as MLflow does (a missing experiment is 404, then created), with the token as bearer auth and
 * the secrets masked in the params.
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { parseTrainArgs } from '../../src/hparams/index.js';
import { openTrackers } from '../../src/train/trackers/index.js';

test('MLflow REST: experiment, run, params, metrics at their steps, FINISHED', async () => {
  const calls: { path: string; auth: string | undefined; body: Record<string, unknown> | null }[] = [];
  const server = createServer((req, res) => {
    let data = '';
    req.on('data', (c) => {
      data += c;
    });
    req.on('end', () => {
      const path = (req.url ?? '').replace('/api/2.0/mlflow/', '');
      calls.push({ path, auth: req.headers.authorization, body: data ? JSON.parse(data) : null });
      res.setHeader('content-type', 'application/json');
      if (path.startsWith('experiments/get-by-name')) {
        res.statusCode = 404;
        res.end(JSON.stringify({ error_code: 'RESOURCE_DOES_NOT_EXIST' }));
      } else if (path === 'experiments/create') res.end(JSON.stringify({ experiment_id: '7' }));
      else if (path === 'runs/create') res.end(JSON.stringify({ run: { info: { run_id: 'r1' } } }));
      else res.end('{}');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const uri = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  try {
    const args = parseTrainArgs({
      model_name_or_path: 'm',
      output_dir: 'o',
      dataset: 'd',
      report_to: 'mlflow',
      run_name: 'tracked',
      hf_hub_token: 'hf_SECRET',
    });
    const trackers = openTrackers(args, 'o', () => {}, {
      MLFLOW_TRACKING_URI: uri,
      MLFLOW_EXPERIMENT_NAME: 'lmforge-test',
      MLFLOW_TRACKING_TOKEN: 'tok',
    });
    trackers.log({ loss: 2.5, learning_rate: 1e-4, epoch: 0.5, step: 2 });
    trackers.log({ eval_loss: 2.25, epoch: 1, step: 4 });
    await trackers.finish();
    const paths = calls.map((c) => c.path.split('?')[0]);
    assert.deepEqual(paths.slice(0, 3), ['experiments/get-by-name', 'experiments/create', 'runs/create']);
    assert.equal(paths.at(-1), 'runs/update');
    const batches = calls.slice(3, -1);
    assert.ok(batches.every((c) => c.path === 'runs/log-batch' && c.body?.run_id === 'r1'));
    const paramBatches = batches.filter((c) => c.body?.params);
    const metricBatches = batches.filter((c) => c.body?.metrics);
    assert.equal(paramBatches.length + metricBatches.length, batches.length);
    assert.ok(
      paramBatches.every((c) => (c.body as { params: unknown[] }).params.length <= 100),
      'at most 100 params a batch',
    );
    assert.ok(calls.every((c) => c.auth === 'Bearer tok'));
    assert.match(calls[0]?.path as string, /experiment_name=lmforge-test/);
    assert.deepEqual(calls[2]?.body?.experiment_id, '7');
    assert.equal(calls[2]?.body?.run_name, 'tracked');
    const params = paramBatches.flatMap((c) => c.body?.params as { key: string; value: string }[]);
    assert.equal(params.find((p) => p.key === 'hf_hub_token')?.value, '<HF_HUB_TOKEN>');
    assert.equal(params.find((p) => p.key === 'lora_rank')?.value, '8');
    assert.ok(!JSON.stringify(calls).includes('SECRET'));
    type Metric = { key: string; value: number; step: number };
    const metrics = metricBatches.map((c) =>
      (c.body as { metrics: Metric[] }).metrics.map((m) => [m.key, m.value, m.step]),
    );
    assert.deepEqual(metrics, [
      [
        ['loss', 2.5, 2],
        ['learning_rate', 1e-4, 2],
        ['epoch', 0.5, 2],
      ],
      [
        ['eval_loss', 2.25, 4],
        ['epoch', 1, 4],
      ],
    ]);
    assert.deepEqual([calls.at(-1)?.body?.run_id, calls.at(-1)?.body?.status], ['r1', 'FINISHED']);
  } finally {
    server.close();
  }
});
