/**
 * Stage ppo's reward sources: the HTTP client against a local server (payload and error handling), and the lora and
 * full reward models scoring exactly as the rm stage's sequenceScores does on a model whose value head was written
 * here; the frozen named adapter switches in and out of a LoRA policy.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { Generator, noGrad, scope, Tensor, uniform_ } from '../../src/engine/index.js';
import type { TrainArgs } from '../../src/hparams/index.js';
import { loadModel } from '../../src/models/causal-lm.js';
import { Tokenizer } from '../../src/tokenizer/tokenizer.js';
import { createRewardSource, fetchRewards, queryResponseBatch } from '../../src/train/ppo-reward.js';
import { sequenceScores, ValueHead } from '../../src/train/rm.js';
import { assertClose } from '../util/assert.js';
import { tinyMistralDir } from '../util/tiny-model.js';
import { tempDir } from '../util/tokenizers.js';

let server: Server;
let url = '';
const received: unknown[] = [];

before(async () => {
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => {
      body += c;
    });
    req.on('end', () => {
      const payload = JSON.parse(body) as { model: string; messages: string[] };
      received.push({ path: req.url, contentType: req.headers['content-type'], payload });
      if (req.url === '/hang') return; // never answers
      if (req.url === '/broken') {
        res.statusCode = 500;
        res.end('model not loaded');
        return;
      }
      const scores = payload.messages.map((m) => m.length / 10);
      if (req.url === '/short') scores.pop();
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ scores }));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});
after(() => {
  server.closeAllConnections();
  server.close();
});

test('api rewards: POST {"model": "model", "messages"} as JSON, one score per text back', async () => {
  received.length = 0;
  const scores = await fetchRewards(`${url}/score`, ['abc', 'abcdefghij']);
  assert.deepEqual(scores, [0.3, 1]);
  assert.deepEqual(received, [
    { path: '/score', contentType: 'application/json', payload: { model: 'model', messages: ['abc', 'abcdefghij'] } },
  ]);
  await assert.rejects(fetchRewards(`${url}/broken`, ['x']), /HTTP 500: model not loaded/);
  await assert.rejects(fetchRewards(`${url}/short`, ['x', 'y']), /2 finite numbers/);
  await assert.rejects(fetchRewards('http://127.0.0.1:1/', ['x']), /could not reach the reward server/);
  await assert.rejects(fetchRewards(`${url}/hang`, ['x'], undefined, 300), /did not answer within 0.3 s/);
});

const modelDir = tinyMistralDir(11, { std: 0.5, maxPositionEmbeddings: 128 });
const root = tempDir('ppo-reward');
const rewardDir = join(root, 'reward');

/** A reward adapter (LoRA with non-zero B) and its value head, as stage rm would write them. */
before(async () => {
  const m = await loadModel(modelDir);
  m.addLora({ r: 4, targetModules: ['q_proj', 'v_proj', 'down_proj'], seed: 3 });
  const gen = new Generator(9);
  for (const [name, t] of m.trainableParameters()) if (name.includes('lora_B')) uniform_(t, gen, -0.3, 0.3);
  m.saveAdapter(rewardDir);
  m.dispose();
  const head = ValueHead.init(32, 4);
  head.save(rewardDir);
  head.dispose();
});

const queries = [
  [1, 415, 2936, 9060],
  [1, 851, 28705],
];
const responses = [
  [3376, 298, 2],
  [1239, 5008, 17, 909, 2],
];

async function expectedScores(): Promise<number[]> {
  const m = await loadModel(modelDir, { adapter: rewardDir });
  const head = ValueHead.load(rewardDir, 32);
  m.eval();
  const scores = scope(() =>
    noGrad(() => sequenceScores(m, head, queryResponseBatch(queries, responses, 0)).toFloat32Array()),
  );
  head.dispose();
  m.dispose();
  return Array.from(scores);
}

function rewardArgs(type: 'lora' | 'full', adapters: string | null): TrainArgs {
  return {
    finetuning: {
      reward_model: type === 'lora' ? rewardDir : modelDir,
      reward_model_type: type,
      reward_model_adapters: adapters,
    },
  } as unknown as TrainArgs;
}

test('reward_model_type lora: the reward adapter switched into the policy scores as the merged-in rm model', async () => {
  const expected = await expectedScores();
  const policy = await loadModel(modelDir);
  // the policy's own adapter covers the reward adapter's targets and is non-zero, so switching must replace it
  policy.addLora({ r: 2, targetModules: 'all', seed: 5 });
  const gen = new Generator(12);
  for (const [name, t] of policy.trainableParameters()) if (name.includes('lora_B')) uniform_(t, gen, -0.3, 0.3);
  const tokenizer = Tokenizer.fromDir(modelDir);
  const reward = await createRewardSource(rewardArgs('lora', null), policy, tokenizer, {
    storage: 'f32',
    padTokenId: 0,
    log: () => {},
  });
  const scores = await reward.score(queries, responses);
  assertClose(scores, expected, { atol: 1e-5, rtol: 1e-5 }, 'lora reward scores');
  // outside withAdapter the policy's own adapter is active again
  const ids = Tensor.from(new Int32Array(queries[0] as number[]), [1, 4], 'i32');
  const before = scope(() => noGrad(() => policy.forward({ inputIds: ids }).logits.toFloat32Array()));
  const during = policy.withAdapter('reward', () =>
    scope(() => noGrad(() => policy.forward({ inputIds: ids }).logits.toFloat32Array())),
  );
  const afterSwitch = scope(() => noGrad(() => policy.forward({ inputIds: ids }).logits.toFloat32Array()));
  assert.deepEqual(afterSwitch, before);
  assert.notDeepEqual(during, before);
  // the attached adapter is neither trained nor saved with the policy's
  assert.ok(policy.trainableParameters().every(([n]) => !n.includes('reward')));
  reward.dispose();
  ids.dispose();
  policy.dispose();
});

test('reward_model_type lora refuses an adapter targeting layers the policy LoRA does not wrap', async () => {
  const policy = await loadModel(modelDir);
  policy.addLora({ r: 2, targetModules: ['q_proj'], seed: 5 });
  const tokenizer = Tokenizer.fromDir(modelDir);
  await assert.rejects(
    createRewardSource(rewardArgs('lora', null), policy, tokenizer, { storage: 'f32', padTokenId: 0, log: () => {} }),
    /targets model\.layers\.0\.\S+, which the trained LoRA adapter does not; set lora_target/,
  );
  policy.dispose();
});

test('reward_model_type full: a frozen reward model (+ reward_model_adapters) scores as sequenceScores', async () => {
  const expected = await expectedScores();
  const policy = await loadModel(modelDir);
  const tokenizer = Tokenizer.fromDir(modelDir);
  const reward = await createRewardSource(rewardArgs('full', rewardDir), policy, tokenizer, {
    storage: 'f32',
    padTokenId: 0,
    log: () => {},
  });
  assertClose(await reward.score(queries, responses), expected, { atol: 1e-5, rtol: 1e-5 }, 'full reward scores');
  reward.dispose();
  // without a value head anywhere the run stops with advice
  await assert.rejects(
    createRewardSource(rewardArgs('full', null), policy, tokenizer, { storage: 'f32', padTokenId: 0, log: () => {} }),
    /no value_head\.safetensors .* stage: rm/,
  );
  policy.dispose();
});
