/**
 * `lmforge api` over a tiny random Llama (Mistral's tokenizer), driven by the official `openai` client: the OpenAI
 * parameters beyond plain chat — logprobs/top_logprobs (chat and completions, streamed and not), presence /
 * frequency / repetition penalties (equal to the in-process model's output with the same options), n with seed
 * reproducibility, stop, stream_options.include_usage and response_format json_schema / json_object.
 * Tool calls need a model that writes them; tests/server/api.test.ts drives them through the same client.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import OpenAI from 'openai';
import { type StartedApi, startApi } from '../../src/cli/api.js';
import { ChatModel } from '../../src/infer/chat-model.js';
import { schemaViolation } from '../util/json-schema-validator.js';
import { tinyMistralDir } from '../util/tiny-model.js';

const dir = tinyMistralDir();
let api: StartedApi;
let client: OpenAI;
let reference: ChatModel;

before(async () => {
  api = await startApi(
    [
      '--host',
      '127.0.0.1',
      '--port',
      '0',
      '--model_name_or_path',
      dir,
      '--template',
      'alpaca',
      '--max_new_tokens',
      '12',
    ],
    { API_MODEL_NAME: 'tiny', API_MAX_MODEL_LEN: '512' },
  );
  client = new OpenAI({ apiKey: 'none', baseURL: `${api.server.url}/v1`, maxRetries: 0 });
  reference = await ChatModel.load(
    { model_name_or_path: dir, template: 'alpaca', generating: { max_new_tokens: 12 } },
    { inProcess: true },
  );
});
after(async () => {
  await api.close();
  await reference.close();
});

const messages = [{ role: 'user' as const, content: 'Tell me about the sea, the sea.' }];
const greedy = { model: 'tiny', messages, temperature: 0 };

test('chat logprobs: OpenAI shape, the greedy token is the best alternative, bytes spell the text; streamed the same', async () => {
  const res = await client.chat.completions.create({ ...greedy, logprobs: true, top_logprobs: 3 });
  const choice = res.choices[0];
  const content = choice?.logprobs?.content ?? [];
  assert.ok(content.length > 0);
  assert.equal(choice?.logprobs?.refusal, null);
  for (const e of content) {
    assert.ok(e.logprob <= 0 && Number.isFinite(e.logprob));
    assert.equal(e.top_logprobs.length, 3);
    assert.equal(e.top_logprobs[0]?.token, e.token);
    assert.equal(e.top_logprobs[0]?.logprob, e.logprob);
    assert.equal(new TextDecoder().decode(Uint8Array.from(e.bytes ?? [])), e.token);
  }
  const eos = choice?.finish_reason === 'stop' ? 1 : 0; // the stop token counts as a completion token, not text
  assert.equal(content.length, (res.usage?.completion_tokens ?? 0) - eos);
  const text = new TextDecoder().decode(Uint8Array.from(content.flatMap((e) => e.bytes ?? [])));
  assert.equal(text.replace(/^ /, ''), choice?.message.content); // SentencePiece drops the first leading space
  // Without logprobs the field is null.
  const plain = await client.chat.completions.create(greedy);
  assert.equal(plain.choices[0]?.logprobs, null);
  assert.equal(plain.choices[0]?.message.content, choice?.message.content);

  const stream = await client.chat.completions.create({ ...greedy, logprobs: true, top_logprobs: 3, stream: true });
  const streamed: typeof content = [];
  let streamedText = '';
  for await (const chunk of stream) {
    streamedText += chunk.choices[0]?.delta.content ?? '';
    streamed.push(...(chunk.choices[0]?.logprobs?.content ?? []));
  }
  assert.equal(streamedText, choice?.message.content);
  // The same tokens; the logprobs agree to rounding: the scheduler's second run reuses the first's cached prompt
  // blocks and shares steps differently, so its products take other shapes (the last bits differ, as in vLLM).
  assert.deepEqual(
    streamed.map((e) => e.token),
    content.map((e) => e.token),
  );
  for (const [i, e] of streamed.entries())
    assert.ok(Math.abs(e.logprob - (content[i]?.logprob ?? Number.NaN)) < 1e-4, `token ${i}: ${e.logprob}`);
});

test('completions logprobs: parallel token lists with offsets, streamed per chunk with include_usage', async () => {
  const req = { model: 'tiny', prompt: 'Once upon a time', max_tokens: 8, temperature: 0, logprobs: 2 };
  const res = await client.completions.create(req);
  const lp = res.choices[0]?.logprobs;
  assert.ok(lp?.tokens && lp.token_logprobs && lp.top_logprobs && lp.text_offset);
  assert.ok(lp.tokens.length > 0);
  assert.equal(lp.token_logprobs.length, lp.tokens.length);
  assert.equal(lp.top_logprobs.length, lp.tokens.length);
  for (const [i, top] of lp.top_logprobs.entries()) {
    assert.ok(Object.keys(top).length >= 1 && Object.keys(top).length <= 2);
    assert.equal(Math.max(...Object.values(top)), lp.token_logprobs[i]);
  }
  let offset = 0;
  for (const [i, t] of lp.tokens.entries()) {
    assert.equal(lp.text_offset[i], offset);
    offset += t.length;
  }
  assert.equal(lp.tokens.join('').replace(/^ /, ''), res.choices[0]?.text);
  const stream = await client.completions.create({ ...req, stream: true, stream_options: { include_usage: true } });
  const tokens: string[] = [];
  let last: OpenAI.Completion | undefined;
  for await (const chunk of stream) {
    tokens.push(...(chunk.choices[0]?.logprobs?.tokens ?? []));
    last = chunk;
  }
  assert.deepEqual(tokens, lp.tokens);
  assert.deepEqual(last?.choices, []);
  assert.deepEqual(last?.usage, res.usage);
});

test('presence, frequency and repetition penalties reach the model: the answer equals the in-process one', async () => {
  const penalties = { presence_penalty: 1.5, frequency_penalty: 2, repetition_penalty: 1.4, max_tokens: 40 };
  const res = await client.chat.completions.create({
    ...greedy,
    ...penalties,
  } as OpenAI.ChatCompletionCreateParamsNonStreaming);
  const [expected] = await reference.chat(messages, {
    temperature: 0,
    maxTokens: 40,
    presencePenalty: 1.5,
    frequencyPenalty: 2,
    repetitionPenalty: 1.4,
  });
  const [unpenalised] = await reference.chat(messages, { temperature: 0, maxTokens: 40 });
  assert.equal(res.choices[0]?.message.content, expected?.text);
  assert.notEqual(expected?.text, unpenalised?.text, 'the penalties change this greedy answer');
});

test('n choices with a seed are reproducible; another seed gives other choices', async () => {
  const req = { model: 'tiny', messages, n: 3, temperature: 1, seed: 11 };
  const a = await client.chat.completions.create(req);
  const b = await client.chat.completions.create(req);
  const c = await client.chat.completions.create({ ...req, seed: 12 });
  const texts = (r: OpenAI.ChatCompletion) => r.choices.map((ch) => ch.message.content);
  assert.equal(a.choices.length, 3);
  assert.deepEqual(texts(a), texts(b));
  assert.notDeepEqual(texts(a), texts(c));
  assert.ok(new Set(texts(a)).size > 1, 'the choices differ from one another');
});

test('stop cuts the answer before the stop string (plain and streamed); include_usage adds the usage chunk', async () => {
  const full = (await client.chat.completions.create(greedy)).choices[0]?.message.content ?? '';
  assert.ok(full.length >= 6, full);
  const stop = full.slice(3, 6);
  const cut = full.slice(0, full.indexOf(stop));
  const res = await client.chat.completions.create({ ...greedy, stop: [stop] });
  assert.equal(res.choices[0]?.message.content, cut);
  assert.equal(res.choices[0]?.finish_reason, 'stop');
  const stream = await client.chat.completions.create({
    ...greedy,
    stop,
    stream: true,
    stream_options: { include_usage: true },
  });
  let text = '';
  let usage: OpenAI.CompletionUsage | null | undefined;
  let last: OpenAI.ChatCompletionChunk | undefined;
  for await (const chunk of stream) {
    text += chunk.choices[0]?.delta.content ?? '';
    usage = chunk.usage ?? usage;
    last = chunk;
  }
  assert.equal(text, cut);
  assert.deepEqual(last?.choices, []);
  assert.ok(usage && usage.completion_tokens > 0);
  assert.equal(usage.prompt_tokens, res.usage?.prompt_tokens);
  assert.equal(usage.total_tokens, usage.prompt_tokens + usage.completion_tokens);
});

test('response_format json_schema: sampled answers parse and validate for every seed; json_object is an object', async () => {
  const schema = {
    type: 'object',
    properties: {
      name: { type: 'string', minLength: 1, maxLength: 8 },
      age: { type: 'integer' },
      pets: { type: 'array', items: { enum: ['cat', 'dog'] }, maxItems: 2 },
      address: { $ref: '#/$defs/address' },
    },
    required: ['name', 'age', 'address'],
    additionalProperties: false,
    $defs: {
      address: {
        type: 'object',
        properties: { city: { type: 'string', maxLength: 6 }, zip: { anyOf: [{ type: 'integer' }, { type: 'null' }] } },
        required: ['city', 'zip'],
        additionalProperties: false,
      },
    },
  };
  for (let seed = 0; seed < 6; seed++) {
    const res = await client.chat.completions.create({
      model: 'tiny',
      messages,
      temperature: 1,
      seed,
      max_tokens: 200, // Mistral writes one digit per token: a 16-digit integer is 16 tokens
      response_format: { type: 'json_schema', json_schema: { name: 'person', schema, strict: true } },
    });
    const text = res.choices[0]?.message.content ?? '';
    assert.equal(res.choices[0]?.finish_reason, 'stop', `seed ${seed}: ${text}`);
    assert.equal(schemaViolation(JSON.parse(text), schema), null, text);
  }
  const stream = await client.chat.completions.create({
    model: 'tiny',
    messages,
    temperature: 1,
    seed: 99,
    max_tokens: 200,
    stream: true,
    response_format: { type: 'json_schema', json_schema: { name: 'person', schema } },
  });
  let streamed = '';
  for await (const chunk of stream) streamed += chunk.choices[0]?.delta.content ?? '';
  assert.equal(schemaViolation(JSON.parse(streamed), schema), null, streamed);
  const obj = await client.chat.completions.create({
    model: 'tiny',
    messages,
    temperature: 0,
    max_tokens: 12,
    response_format: { type: 'json_object' },
  });
  assert.equal(obj.choices[0]?.message.content?.[0], '{');
  await assert.rejects(
    client.chat.completions.create({
      model: 'tiny',
      messages,
      response_format: { type: 'json_schema', json_schema: { name: 'x', schema: { type: 'string', format: 'email' } } },
    }),
    (e: unknown) =>
      e instanceof OpenAI.BadRequestError &&
      e.param === 'response_format.json_schema.schema' &&
      /'format'/.test(e.message),
  );
});
