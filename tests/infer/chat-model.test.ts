/**
 * ChatModel over a tiny random Llama with Mistral's real tokenizer: greedy answers equal the model's own generate
 * decoded, streamed pieces concatenate to the answer, stop strings cut it, the worker-thread engine leaves the event
 * loop free and stops on abort, embeddings ignore padding, and A/B/C/D logits match a plain forward pass.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { scope } from '../../src/engine/index.js';
import { isAbortError, type Message } from '../../src/infer/chat-engine.js';
import { ChatModel } from '../../src/infer/chat-model.js';
import type { ChatRunner } from '../../src/infer/chat-runner.js';
import { tinyMistralDir } from '../util/tiny-model.js';

const dir = tinyMistralDir();
const args = {
  model_name_or_path: dir,
  template: 'alpaca',
  generating: { do_sample: false, max_new_tokens: 24 },
};
const question: Message[] = [{ role: 'user', content: 'Say something, 你好' }];
let local: ChatModel;
let worker: ChatModel;

before(async () => {
  local = await ChatModel.load(args, { inProcess: true });
  worker = await ChatModel.load(args);
});
after(async () => {
  await local.close();
  await worker.close();
});

/** The reference: the template's prompt ids, generateDetailed greedy, the stop token dropped, decoded. */
async function reference(runner: ChatRunner, messages: Message[], maxNewTokens: number) {
  const prompt = await runner.chatPromptIds(messages);
  const stop = runner.template.stopIds(runner.tokenizer);
  const { tokens } = runner.model.generateDetailed([prompt], { maxNewTokens, stop });
  const row = tokens[0] as number[];
  const text = runner.tokenizer.decode(stop.includes(row.at(-1) as number) ? row.slice(0, -1) : row, {
    skipSpecialTokens: true,
  });
  return { prompt, row, text };
}

test('greedy chat equals generateDetailed decoded, in-process and in the worker', async () => {
  const ref = await reference(local.runner as ChatRunner, question, 24);
  const [answer] = await local.chat(question, {});
  assert.equal(answer?.text, ref.text);
  assert.equal(answer?.completionTokens, ref.row.length);
  assert.equal(answer?.promptTokens, ref.prompt.length);
  assert.equal(answer?.finishReason, ref.row.length === 24 ? 'length' : 'stop');
  const [fromWorker] = await worker.chat(question, {});
  assert.deepEqual(fromWorker, answer);
  // temperature 0 is greedy even when the generating arguments sample.
  const sampling = await ChatModel.load(
    { ...args, generating: { do_sample: true, max_new_tokens: 24 } },
    { inProcess: true },
  );
  try {
    assert.equal((await sampling.chat(question, { temperature: 0 }))[0]?.text, ref.text);
  } finally {
    await sampling.close();
  }
});

test('streamed pieces concatenate to the full answer (one piece per token)', async () => {
  const [answer] = await local.chat(question, { maxTokens: 40 });
  for (const model of [local, worker]) {
    const stream = model.streamChat(question, { maxTokens: 40 });
    let text = '';
    let tokens = 0;
    for await (const piece of stream) {
      text += piece.text;
      if (piece.tokenId !== undefined) tokens++;
    }
    const result = await stream.result;
    assert.equal(text, answer?.text);
    assert.equal(result.text, answer?.text);
    assert.equal(tokens, answer?.completionTokens);
  }
});

test('a stop string ends the answer before it, streamed or not', async () => {
  const [full] = await local.chat(question, { maxTokens: 40 });
  const text = full?.text as string;
  const stop = text.slice(10, 13);
  const cut = text.slice(0, text.indexOf(stop));
  const [answer] = await local.chat(question, { maxTokens: 40, stop: [stop] });
  assert.equal(answer?.text, cut);
  assert.equal(answer?.finishReason, 'stop');
  assert.ok((answer?.completionTokens as number) < (full?.completionTokens as number), 'generation stopped early');
  const stream = worker.streamChat(question, { maxTokens: 40, stop: [stop] });
  let streamed = '';
  for await (const piece of stream) streamed += piece.text;
  assert.equal(streamed, cut);
  assert.equal((await stream.result).finishReason, 'stop');
});

test('n choices in one batch: greedy rows agree; sampling is reproducible by seed', async () => {
  const answers = await local.chat(question, { n: 3, temperature: 0, maxTokens: 8 });
  assert.equal(answers.length, 3);
  assert.ok(answers.every((a) => a.text === answers[0]?.text));
  const a = await local.chat(question, { n: 2, temperature: 1, seed: 3, maxTokens: 8 });
  const b = await local.chat(question, { n: 2, temperature: 1, seed: 3, maxTokens: 8 });
  assert.deepEqual(a, b);
});

test('the worker generates while the event loop stays responsive', async () => {
  let ticks = 0;
  const timer = setInterval(() => ticks++, 2);
  const arrivals: number[] = [];
  try {
    const stream = worker.streamChat(question, { maxTokens: 400 });
    for await (const piece of stream) if (piece.tokenId !== undefined) arrivals.push(ticks);
    await stream.result;
  } finally {
    clearInterval(timer);
  }
  assert.equal(arrivals.length, 400);
  assert.ok(ticks >= 5, `the timer fired ${ticks} times during generation`);
  // Pieces arrived while generation was going on, not all at the end.
  assert.ok(
    (arrivals.at(-1) as number) > (arrivals[0] as number),
    `tokens arrived over ${arrivals[0]}..${arrivals.at(-1)}`,
  );
});

test('aborting stops the worker mid-answer; it then answers the next request', async () => {
  const controller = new AbortController();
  const stream = worker.streamChat(question, { maxTokens: 900 }, controller.signal);
  let seen = 0;
  await assert.rejects(
    (async () => {
      for await (const piece of stream) if (piece.tokenId !== undefined && ++seen === 3) controller.abort();
    })(),
    (e) => isAbortError(e),
  );
  await assert.rejects(stream.result, (e) => isAbortError(e));
  const done = new AbortController();
  const pending = worker.chat(question, { maxTokens: 900 }, done.signal);
  setTimeout(() => done.abort(), 5);
  await assert.rejects(pending, (e) => isAbortError(e));
  const [next] = await worker.chat(question, { maxTokens: 4 });
  assert.equal(next?.completionTokens, 4);
});

test('breaking out of a stream ends it early with what was read', async () => {
  const stream = worker.streamChat(question, { maxTokens: 900 });
  let text = '';
  let tokens = 0;
  for await (const piece of stream) {
    text += piece.text;
    if (++tokens === 5) break;
  }
  const result = await stream.result;
  assert.equal(result.finishReason, 'stop');
  assert.equal(result.completionTokens, 5);
  assert.equal(result.text, text);
});

test('embeddings are the mean last hidden state, the same alone or left-padded in a batch', async () => {
  const texts = ['short', 'a much longer text, with 中文 too'];
  const batch = await worker.embed(texts);
  const runner = local.runner as ChatRunner;
  assert.equal(batch.vectors.length, 2);
  assert.equal(batch.vectors[0]?.length, runner.model.config.hiddenSize);
  for (const [i, t] of texts.entries()) {
    const alone = await local.embed([t]);
    for (const [k, x] of (batch.vectors[i] as number[]).entries())
      assert.ok(Math.abs(x - (alone.vectors[0]?.[k] as number)) < 1e-4);
    // Mean over the text's own tokens of the plain forward's hidden states.
    const ids = await runner.tokenizer.encode(t);
    const hidden = scope(() => runner.model.hiddenStates({ inputIds: [ids] }).toFloat32Array());
    const c = runner.model.config.hiddenSize;
    for (let k = 0; k < c; k++) {
      let sum = 0;
      for (let j = 0; j < ids.length; j++) sum += hidden[j * c + k] as number;
      assert.ok(Math.abs(sum / ids.length - (alone.vectors[0]?.[k] as number)) < 1e-4);
    }
  }
  const ids = await Promise.all(texts.map((t) => runner.tokenizer.encode(t)));
  assert.equal(batch.promptTokens, ids[0]!.length + ids[1]!.length);
});

test('choiceLogits: the A/B/C/D logits of a plain forward at the prompt end, batched with left padding', async () => {
  const runner = local.runner as ChatRunner;
  const prompts: Message[][] = [
    [{ role: 'user', content: 'Pick one. Answer:' }],
    [{ role: 'user', content: 'A much longer question that needs padding on the other row. Answer:' }],
  ];
  const batched = await worker.choiceLogits(prompts);
  const letters = await Promise.all(
    ['A', 'B', 'C', 'D'].map(
      async (l) => (await runner.tokenizer.encode(l, { addSpecialTokens: false })).at(-1) as number,
    ),
  );
  for (const [i, p] of prompts.entries()) {
    const ids = await runner.chatPromptIds(p);
    const logits = scope(() => runner.model.forward({ inputIds: [ids] }).logits.toFloat32Array());
    const v = runner.model.config.vocabSize;
    const last = (ids.length - 1) * v;
    for (const [k, id] of letters.entries())
      assert.ok(Math.abs((batched[i]?.[k] as number) - (logits[last + id] as number)) < 1e-4);
  }
});

test('tool calls are read in the template dialect, for offered tools only', () => {
  const tools = [{ name: 'get_weather', parameters: { type: 'object' } }];
  const text = 'Action: get_weather\nAction Input: {"city": "Paris"}';
  for (const model of [local, worker]) {
    assert.deepEqual(model.extractToolCalls(text, tools), [{ name: 'get_weather', arguments: '{"city": "Paris"}' }]);
    assert.equal(model.extractToolCalls('It is sunny.', tools), null);
    assert.equal(model.extractToolCalls(text, [{ name: 'other' }]), null);
  }
});

test('tools reach the prompt as the template formats them', async () => {
  const runner = local.runner as ChatRunner;
  const tools = [{ name: 'get_weather', description: 'Weather of a city', parameters: { type: 'object' } }];
  const withTools = runner.tokenizer.decode(await runner.chatPromptIds(question, undefined, tools));
  assert.match(withTools, /get_weather/);
  assert.match(withTools, /Weather of a city/);
  assert.doesNotMatch(runner.tokenizer.decode(await runner.chatPromptIds(question)), /get_weather/);
});
