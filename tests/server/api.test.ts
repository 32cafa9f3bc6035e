import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import OpenAI from 'openai';
import { parseApiFlags, type RunningServer, resolveServerOptions, startApiServer } from '../../src/server/index.js';
import { ScriptedEngine, type ScriptedEngineOptions } from './scripted-engine.js';

const KEY = 'test-key';

async function start(
  engine: ScriptedEngine,
  extra: { maxConcurrent?: number; maxWaiting?: number; apiKey?: string } = {},
) {
  const server = await startApiServer(engine, {
    host: '127.0.0.1',
    port: 0,
    modelName: 'lmforge-test',
    apiKey: extra.apiKey ?? KEY,
    maxConcurrent: extra.maxConcurrent ?? 2,
    maxWaiting: extra.maxWaiting ?? 4,
  });
  const client = new OpenAI({ apiKey: KEY, baseURL: `${server.url}/v1`, maxRetries: 0 });
  return { server, client };
}

async function withServer(
  options: ScriptedEngineOptions,
  fn: (s: { engine: ScriptedEngine; client: OpenAI; server: RunningServer }) => Promise<void>,
  extra: Parameters<typeof start>[1] = {},
) {
  const engine = new ScriptedEngine(options);
  const { server, client } = await start(engine, extra);
  try {
    await fn({ engine, client, server });
  } finally {
    await server.close();
  }
}

async function waitFor(cond: () => boolean, what: string, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('chat completions', () => {
  let engine: ScriptedEngine;
  let server: RunningServer;
  let client: OpenAI;
  before(async () => {
    engine = new ScriptedEngine({
      script: ({ messages, choice }) => {
        const last = messages?.at(-1)?.content ?? '';
        if (last === 'weather?') return ['{"name": "get_weather", ', '"arguments": {"city": "Paris"}}'];
        if (last === 'hashes') return ['A', 'B#', '#C', 'D'];
        return choice === 0 ? ['Hello', ',', ' world', '!'] : ['Second', ' answer'];
      },
    });
    ({ server, client } = await start(engine));
  });
  after(() => server.close());

  test('non-streaming: content, finish reason, usage, model echoed, messages mapped as LLaMA-Factory does', async () => {
    const r = await client.chat.completions.create({
      model: 'any-name',
      messages: [
        { role: 'system', content: 'Be brief.' },
        {
          role: 'user',
          content: [
            { type: 'text', text: 'part one' },
            { type: 'text', text: 'part two' },
          ],
        },
        {
          role: 'assistant',
          content: null,
          tool_calls: [{ id: 'c1', type: 'function', function: { name: 'f', arguments: '{"x": 1}' } }],
        },
        { role: 'tool', tool_call_id: 'c1', content: '42' },
      ],
      temperature: 0,
      top_p: 0.5,
      max_tokens: 7,
      seed: 3,
    });
    assert.equal(r.object, 'chat.completion');
    assert.equal(r.model, 'any-name');
    assert.match(r.id, /^chatcmpl-[0-9a-f]{32}$/);
    assert.equal(r.choices.length, 1);
    assert.equal(r.choices[0]!.message.content, 'Hello, world!');
    assert.equal(r.choices[0]!.message.role, 'assistant');
    assert.equal(r.choices[0]!.finish_reason, 'stop');
    const call = engine.calls.at(-1)!;
    assert.deepEqual(call.messages, [
      { role: 'user', content: 'part one\npart two' },
      { role: 'function', content: '[{"name": "f", "arguments": "{\\"x\\": 1}"}]' },
      { role: 'observation', content: '42' },
    ]);
    assert.deepEqual(call.opts, { n: 1, temperature: 0, topP: 0.5, maxTokens: 7, seed: 3, system: 'Be brief.' });
    const prompt = 'part one\npart two'.length + call.messages![1]!.content.length + 2;
    assert.deepEqual(r.usage, { prompt_tokens: prompt, completion_tokens: 4, total_tokens: prompt + 4 });
  });

  test('max_completion_tokens wins over max_tokens; do_sample false means greedy', async () => {
    await client.chat.completions.create({
      model: 'm',
      messages: [{ role: 'user', content: 'hi' }],
      max_tokens: 9,
      max_completion_tokens: 5,
      temperature: 0.8,
      // @ts-expect-error LLaMA-Factory's extension
      do_sample: false,
    });
    assert.equal(engine.calls.at(-1)!.opts!.maxTokens, 5);
    assert.equal(engine.calls.at(-1)!.opts!.temperature, 0);
  });

  test('streaming: role chunk, content deltas in order, finish chunk, usage chunk, [DONE]', async () => {
    const stream = await client.chat.completions.create({
      model: 'm',
      messages: [{ role: 'user', content: 'hi' }],
      stream: true,
      stream_options: { include_usage: true },
    });
    const chunks: OpenAI.ChatCompletionChunk[] = [];
    for await (const c of stream) chunks.push(c);
    assert.equal(chunks[0]!.object, 'chat.completion.chunk');
    assert.deepEqual(chunks[0]!.choices[0]!.delta, { role: 'assistant', content: '' });
    const deltas = chunks.slice(1, -2).map((c) => c.choices[0]!.delta.content);
    assert.deepEqual(deltas, ['Hello', ',', ' world', '!']);
    const finish = chunks.at(-2)!;
    assert.deepEqual(finish.choices[0]!.delta, {});
    assert.equal(finish.choices[0]!.finish_reason, 'stop');
    assert.ok(chunks.slice(0, -2).every((c) => c.choices[0]!.finish_reason === null));
    assert.deepEqual(chunks.at(-1)!.choices, []);
    assert.deepEqual(chunks.at(-1)!.usage, { prompt_tokens: 2, completion_tokens: 4, total_tokens: 6 });
    assert.ok(chunks.every((c) => c.id === chunks[0]!.id));
  });

  test('raw SSE framing ends with data: [DONE]', async () => {
    const res = await fetch(`${server.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'hi' }], stream: true }),
    });
    assert.match(res.headers.get('content-type')!, /^text\/event-stream/);
    const text = await res.text();
    const events = text.split('\n\n').filter((e) => e.length > 0);
    assert.ok(events.every((e) => e.startsWith('data: ')));
    assert.equal(events.at(-1), 'data: [DONE]');
    assert.equal(events.length, 1 + 4 + 1 + 1);
  });

  test('n > 1 gives one choice per answer; completion tokens add up', async () => {
    const r = await client.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'hi' }], n: 2 });
    assert.deepEqual(
      r.choices.map((c) => [c.index, c.message.content]),
      [
        [0, 'Hello, world!'],
        [1, 'Second answer'],
      ],
    );
    assert.equal(r.usage!.completion_tokens, 4 + 2);
  });

  test('stop strings cut the text before them, also when the stop string spans streamed pieces', async () => {
    const r = await client.chat.completions.create({
      model: 'm',
      messages: [{ role: 'user', content: 'hashes' }],
      stop: '##',
    });
    assert.equal(r.choices[0]!.message.content, 'AB');
    assert.equal(r.choices[0]!.finish_reason, 'stop');
    assert.deepEqual(engine.calls.at(-1)!.opts!.stop, ['##']);

    const before = engine.brokenOff;
    const stream = await client.chat.completions.create({
      model: 'm',
      messages: [{ role: 'user', content: 'hashes' }],
      stop: ['zzz', '##'],
      stream: true,
      stream_options: { include_usage: true },
    });
    let text = '';
    let finish: string | null = null;
    let usage: OpenAI.CompletionUsage | null | undefined;
    for await (const c of stream) {
      text += c.choices[0]?.delta.content ?? '';
      finish = c.choices[0]?.finish_reason ?? finish;
      usage = c.usage ?? usage;
    }
    assert.equal(text, 'AB');
    assert.equal(finish, 'stop');
    assert.equal(engine.brokenOff, before + 1, 'the server ended the generation at the stop string');
    assert.equal(usage!.completion_tokens, 3, 'tokens up to the one that completed the stop string');
  });

  test('tools: a call in the text comes back as tool_calls with finish_reason tool_calls', async () => {
    const tools: OpenAI.ChatCompletionTool[] = [
      { type: 'function', function: { name: 'get_weather', description: 'Weather', parameters: { type: 'object' } } },
    ];
    const r = await client.chat.completions.create({
      model: 'm',
      messages: [{ role: 'user', content: 'weather?' }],
      tools,
    });
    const choice = r.choices[0]!;
    assert.equal(choice.finish_reason, 'tool_calls');
    assert.equal(choice.message.content, null);
    assert.equal(choice.message.tool_calls!.length, 1);
    const call = choice.message.tool_calls![0]! as OpenAI.ChatCompletionMessageFunctionToolCall;
    assert.match(call.id, /^call_[0-9a-f]{32}$/);
    assert.equal(call.type, 'function');
    assert.deepEqual(call.function, { name: 'get_weather', arguments: '{"city":"Paris"}' });
    assert.deepEqual(engine.calls.at(-1)!.opts!.tools, [
      { name: 'get_weather', description: 'Weather', parameters: { type: 'object' } },
    ]);
    // A plain answer with tools offered stays a plain answer.
    const plain = await client.chat.completions.create({
      model: 'm',
      messages: [{ role: 'user', content: 'hi' }],
      tools,
    });
    assert.equal(plain.choices[0]!.finish_reason, 'stop');
    assert.equal(plain.choices[0]!.message.content, 'Hello, world!');
  });

  test('finish_reason length comes from the engine', async () => {
    await withServer({ finishReason: 'length' }, async ({ client }) => {
      const r = await client.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'hi' }] });
      assert.equal(r.choices[0]!.finish_reason, 'length');
    });
  });

  test('models, CORS', async () => {
    const models = await client.models.list();
    assert.deepEqual(
      models.data.map((m) => [m.id, m.object, m.owned_by]),
      [['lmforge-test', 'model', 'owner']],
    );
    const res = await fetch(`${server.url}/v1/models`, {
      method: 'OPTIONS',
      headers: { origin: 'http://example.com', 'access-control-request-method': 'POST' },
    });
    assert.equal(res.status, 204);
    assert.equal(res.headers.get('access-control-allow-origin'), 'http://example.com');
    assert.equal(res.headers.get('access-control-allow-credentials'), 'true');
  });
});

describe('completions, embeddings, scores', () => {
  test('completions: raw prompt, several prompts, streaming, stop', async () => {
    await withServer(
      { script: ({ prompt }) => (prompt === 'p2' ? ['x', 'y'] : ['one', ' two', ' three']) },
      async ({ engine, client }) => {
        const r = await client.completions.create({ model: 'm', prompt: ['p1', 'p2'], max_tokens: 4 });
        assert.equal(r.object, 'text_completion');
        assert.deepEqual(
          r.choices.map((c) => [c.index, c.text, c.finish_reason]),
          [
            [0, 'one two three', 'stop'],
            [1, 'xy', 'stop'],
          ],
        );
        assert.deepEqual(r.usage, { prompt_tokens: 4, completion_tokens: 5, total_tokens: 9 });
        assert.equal(engine.calls.at(-1)!.opts!.maxTokens, 4);

        const stream = await client.completions.create({ model: 'm', prompt: 'p1', stream: true, stop: ' thr' });
        const parts: string[] = [];
        let finish: string | null = null;
        for await (const c of stream) {
          parts.push(c.choices[0]!.text);
          finish = c.choices[0]!.finish_reason ?? finish;
        }
        assert.equal(parts.join(''), 'one two');
        assert.equal(finish, 'stop');
      },
    );
  });

  test('embeddings: float and base64 (the client default) carry the engine vectors', async () => {
    await withServer({}, async ({ client }) => {
      const r = await client.embeddings.create({ model: 'm', input: ['ab', 'xyz'] });
      assert.equal(r.object, 'list');
      assert.deepEqual(
        r.data.map((d) => [d.index, d.embedding]),
        [
          [0, [2, 97, Math.fround(0.1)]],
          [1, [3, 120, Math.fround(0.1)]],
        ],
      );
      assert.deepEqual(r.usage, { prompt_tokens: 5, total_tokens: 5 });
      const f = await client.embeddings.create({ model: 'm', input: 'ab', encoding_format: 'float' });
      assert.deepEqual(f.data[0]!.embedding, [2, 97, 0.1]);
    });
  });

  test('score/evaluation: reward models score, generative models get 405 (and reward models cannot chat)', async () => {
    await withServer({ canGenerate: false }, async ({ server, client }) => {
      const res = await fetch(`${server.url}/v1/score/evaluation`, {
        method: 'POST',
        headers: { authorization: `Bearer ${KEY}` },
        body: JSON.stringify({ model: 'rm', messages: ['abcd', 'a'] }),
      });
      const body = (await res.json()) as { object: string; scores: number[]; model: string };
      assert.equal(res.status, 200);
      assert.equal(body.object, 'score.evaluation');
      assert.equal(body.model, 'rm');
      assert.deepEqual(body.scores, [0.4, 0.1]);
      await assert.rejects(
        client.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'hi' }] }),
        (e: InstanceType<typeof OpenAI.APIError>) => e.status === 405,
      );
    });
    await withServer({}, async ({ server }) => {
      const res = await fetch(`${server.url}/v1/score/evaluation`, {
        method: 'POST',
        headers: { authorization: `Bearer ${KEY}` },
        body: JSON.stringify({ model: 'rm', messages: ['abcd'] }),
      });
      assert.equal(res.status, 405);
    });
  });
});

describe('errors', () => {
  let server: RunningServer;
  let client: OpenAI;
  before(async () => ({ server, client } = await start(new ScriptedEngine())));
  after(() => server.close());

  const post = (path: string, body: string, key = KEY) =>
    fetch(`${server.url}${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body,
    });

  async function expect400(body: unknown, param: string | null, message: RegExp) {
    const res = await post('/v1/chat/completions', typeof body === 'string' ? body : JSON.stringify(body));
    assert.equal(res.status, 400, `status for ${JSON.stringify(body)}`);
    const { error } = (await res.json()) as {
      error: { message: string; type: string; param: string | null; code: unknown };
    };
    assert.equal(error.type, 'invalid_request_error');
    assert.equal(error.param, param);
    assert.match(error.message, message);
    assert.ok('code' in error);
  }

  const user = { role: 'user', content: 'hi' };
  test('400 for malformed bodies, naming the parameter', async () => {
    await expect400('{"model": "m", "messages": [', null, /not valid JSON/);
    await expect400('[1, 2]', null, /must be a JSON object/);
    await expect400({ messages: [user] }, 'model', /^'model' is required: expected a string\.$/);
    await expect400({ model: 5, messages: [user] }, 'model', /^'model' must be a string, got the number 5\.$/);
    await expect400(
      { model: 'm' },
      'messages',
      /^'messages' is required: expected a list of \{role, content\} messages/,
    );
    await expect400({ model: 'm', messages: [] }, 'messages', /empty/);
    await expect400(
      { model: 'm', messages: 'hi' },
      'messages',
      /^'messages' must be a list of \{role, content\} messages, got a string "hi"\.$/,
    );
    await expect400(
      { model: 'm', messages: [{ content: 'x' }] },
      'messages[0].role',
      /'messages\[0\].role' is required/,
    );
    await expect400({ model: 'm', messages: [{ role: 'wizard', content: 'x' }] }, 'messages[0].role', /must be one of/);
    await expect400(
      { model: 'm', messages: [user, { role: 'assistant', content: 'a' }] },
      'messages[1].role',
      /last message/,
    );
    await expect400(
      { model: 'm', messages: [{ role: 'assistant', content: 'a' }] },
      'messages[0].role',
      /user or tool/,
    );
    await expect400({ model: 'm', messages: [{ role: 'system', content: 's' }] }, 'messages', /Only a system/);
    await expect400(
      { model: 'm', messages: [{ role: 'user', content: 5 }] },
      'messages[0].content',
      /string or a list/,
    );
    await expect400({ model: 'm', messages: [{ role: 'user' }] }, 'messages[0].content', /missing/);
    await expect400(
      { model: 'm', messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'x' } }] }] },
      'messages[0].content[0].type',
      /only 'text'/,
    );
    await expect400({ model: 'm', messages: [user], temperature: 'hot' }, 'temperature', /number in \[0, 2\]/);
    await expect400({ model: 'm', messages: [user], temperature: 3 }, 'temperature', /number in \[0, 2\]/);
    await expect400({ model: 'm', messages: [user], n: 0 }, 'n', /integer in \[1, 16\]/);
    await expect400({ model: 'm', messages: [user], max_tokens: 1.5 }, 'max_tokens', /integer >= 1/);
    await expect400({ model: 'm', messages: [user], stop: [1] }, 'stop', /list of strings, got an array of 1 item\./);
    await expect400({ model: 'm', messages: [user], stream: 'yes' }, 'stream', /true or false, got a string "yes"/);
    await expect400({ model: 'm', messages: [user], stream: true, n: 2 }, 'n', /Cannot stream multiple/);
    await expect400({ model: 'm', messages: [user], logprobs: 'yes' }, 'logprobs', /true or false/);
    await expect400({ model: 'm', messages: [user], top_logprobs: 2 }, 'top_logprobs', /needs 'logprobs': true/);
    await expect400(
      { model: 'm', messages: [user], logprobs: true, top_logprobs: 21 },
      'top_logprobs',
      /integer in \[0, 20\]/,
    );
    await expect400({ model: 'm', messages: [user], presence_penalty: 3 }, 'presence_penalty', /\[-2, 2\]/);
    await expect400({ model: 'm', messages: [user], frequency_penalty: -2.5 }, 'frequency_penalty', /\[-2, 2\]/);
    await expect400({ model: 'm', messages: [user], repetition_penalty: 0 }, 'repetition_penalty', /> 0/);
    await expect400({ model: 'm', messages: [user], logit_bias: { 1: 2 } }, 'logit_bias', /not supported/);
    await expect400(
      { model: 'm', messages: [user], response_format: { type: 'xml' } },
      'response_format.type',
      /'json_object' or 'json_schema'/,
    );
    await expect400(
      {
        model: 'm',
        messages: [user],
        response_format: { type: 'json_schema', json_schema: { name: 'x', schema: { type: 'string', pattern: 'a+' } } },
      },
      'response_format.json_schema.schema',
      /keyword 'pattern'/,
    );
    await expect400(
      { model: 'm', messages: [user], response_format: { type: 'json_schema', json_schema: { schema: {} } } },
      'response_format.json_schema.name',
      /required/,
    );
    await expect400({ model: 'm', messages: [user], tools: [{ type: 'retrieval' }] }, 'tools[0].type', /'function'/);
  });

  test('the official client surfaces them as BadRequestError', async () => {
    await assert.rejects(
      client.chat.completions.create({ model: 'm', messages: [] }),
      (e: unknown) =>
        e instanceof OpenAI.BadRequestError && e.param === 'messages' && e.type === 'invalid_request_error',
    );
    await assert.rejects(
      client.embeddings.create({ model: 'm', input: [] }),
      (e: unknown) => e instanceof OpenAI.BadRequestError && e.param === 'input',
    );
  });

  test('401 for a missing or wrong key; 404 for unknown routes', async () => {
    const wrong = new OpenAI({ apiKey: 'nope', baseURL: `${server.url}/v1`, maxRetries: 0 });
    await assert.rejects(
      wrong.models.list(),
      (e: unknown) => e instanceof OpenAI.AuthenticationError && e.code === 'invalid_api_key',
    );
    const res = await fetch(`${server.url}/v1/models`);
    assert.equal(res.status, 401);
    assert.match(((await res.json()) as { error: { message: string } }).error.message, /Missing API key/);
    const missing = await post('/v1/nothing-here', '{}');
    assert.equal(missing.status, 404);
    assert.deepEqual(await missing.json(), {
      error: {
        message: 'Unknown route: POST /v1/nothing-here.',
        type: 'invalid_request_error',
        param: null,
        code: 'unknown_url',
      },
    });
    await assert.rejects(client.get('/nothing'), (e: unknown) => e instanceof OpenAI.NotFoundError);
  });

  test('no API_KEY: no auth required', async () => {
    const engine = new ScriptedEngine();
    const open = await startApiServer(engine, {
      host: '127.0.0.1',
      port: 0,
      modelName: 'x',
      maxConcurrent: 1,
      maxWaiting: 0,
    });
    try {
      const res = await fetch(`${open.url}/v1/models`);
      assert.equal(res.status, 200);
    } finally {
      await open.close();
    }
  });
  test('every endpoint names the field and the expected type', async () => {
    const check = async (path: string, body: unknown, param: string, message: RegExp) => {
      const res = await post(path, JSON.stringify(body));
      assert.equal(res.status, 400, `${path} ${JSON.stringify(body)}`);
      const { error } = (await res.json()) as { error: { message: string; param: string } };
      assert.equal(error.param, param);
      assert.match(error.message, message);
    };
    await check('/v1/completions', { model: 'm' }, 'prompt', /^'prompt' is required: expected a string or a non-empty/);
    await check('/v1/completions', { model: 'm', prompt: [1, 2] }, 'prompt[0]', /must be a string .*got the number 1/);
    await check(
      '/v1/completions',
      { model: 'm', prompt: 'p', top_p: '1' },
      'top_p',
      /number in \[0, 1\], got a string/,
    );
    await check('/v1/completions', { model: 'm', prompt: 'p', seed: 1.5 }, 'seed', /must be an integer/);
    await check(
      '/v1/embeddings',
      { model: 'm', input: {} },
      'input',
      /^'input' must be a string or a non-empty list.*got an object\.$/,
    );
    await check('/v1/embeddings', { input: 'x' }, 'model', /^'model' is required: expected a string\.$/);
    await check(
      '/v1/embeddings',
      { model: 'm', input: 'x', encoding_format: 2 },
      'encoding_format',
      /'float' or 'base64', got the number 2/,
    );
    const long = 'x'.repeat(1000);
    const res = await post('/v1/chat/completions', JSON.stringify({ model: long, messages: long }));
    const { error } = (await res.json()) as { error: { message: string } };
    assert.ok(error.message.length < 200, `a long value is not echoed whole: ${error.message}`);
  });
});

describe('limits', () => {
  test('a request beyond max_model_len is a 400 context_length_exceeded, as OpenAI answers it', async () => {
    await withServer(
      { maxModelLen: 20 },
      async ({ client, server }) => {
        const long = [{ role: 'user' as const, content: 'x'.repeat(30) }];
        const refused = (param: string) => (e: unknown) => {
          assert.ok(e instanceof OpenAI.BadRequestError, String(e));
          assert.equal(e.code, 'context_length_exceeded');
          assert.equal(e.type, 'invalid_request_error');
          assert.equal(e.param, param);
          assert.match(e.message, /maximum context length is 20 tokens/);
          return true;
        };
        await assert.rejects(client.chat.completions.create({ model: 'm', messages: long }), refused('messages'));
        await assert.rejects(
          client.chat.completions.create({ model: 'm', messages: long, stream: true }),
          refused('messages'),
        );
        const short = [{ role: 'user' as const, content: 'hi' }];
        await assert.rejects(
          client.chat.completions.create({ model: 'm', messages: short, max_tokens: 19 }),
          (e: unknown) =>
            refused('messages')(e) &&
            /you requested 21 tokens \(2 in the messages, 19 in the completion\)/.test((e as Error).message),
        );
        await assert.rejects(client.completions.create({ model: 'm', prompt: 'y'.repeat(25) }), refused('prompt'));
        await assert.rejects(
          client.completions.create({ model: 'm', prompt: 'y'.repeat(25), stream: true }),
          refused('prompt'),
        );
        await assert.rejects(client.embeddings.create({ model: 'm', input: ['ok', 'z'.repeat(21)] }), refused('input'));
        const raw = await fetch(`${server.url}/v1/chat/completions`, {
          method: 'POST',
          headers: { authorization: `Bearer ${KEY}` },
          body: JSON.stringify({ model: 'm', messages: long }),
        });
        assert.equal(raw.status, 400);
        const body = (await raw.json()) as { error: { message: string } };
        assert.deepEqual(body, {
          error: {
            message: body.error.message,
            type: 'invalid_request_error',
            param: 'messages',
            code: 'context_length_exceeded',
          },
        });
        // The refusals freed their slots: a request that fits is answered.
        const ok = await client.chat.completions.create({ model: 'm', messages: short, max_tokens: 5 });
        assert.equal(ok.choices[0]!.message.content, 'Hello, world!');
      },
      { maxConcurrent: 1, maxWaiting: 0 },
    );
  });

  test("a body over max_body_bytes is a 413 in OpenAI's error shape, with or without a content-length", async () => {
    const engine = new ScriptedEngine();
    const server = await startApiServer(engine, {
      host: '127.0.0.1',
      port: 0,
      modelName: 'x',
      maxConcurrent: 1,
      maxWaiting: 0,
      maxBodyBytes: 1000,
    });
    try {
      const client = new OpenAI({ apiKey: 'none', baseURL: `${server.url}/v1`, maxRetries: 0 });
      const big = [{ role: 'user' as const, content: 'x'.repeat(2000) }];
      await assert.rejects(client.chat.completions.create({ model: 'm', messages: big }), (e: unknown) => {
        assert.ok(e instanceof OpenAI.APIError && e.status === 413, String(e));
        assert.equal(e.code, 'request_too_large');
        assert.equal(e.type, 'invalid_request_error');
        assert.match(
          e.message,
          /larger than this server's limit of 1000 bytes.*--max_body_bytes \(API_MAX_BODY_BYTES\)/,
        );
        return true;
      });
      const bytes = new TextEncoder().encode(JSON.stringify({ model: 'm', prompt: 'y'.repeat(2000) }));
      const chunked = await fetch(`${server.url}/v1/completions`, {
        method: 'POST',
        body: new ReadableStream({
          start(c) {
            c.enqueue(bytes);
            c.close();
          },
        }),
        duplex: 'half',
      } as RequestInit);
      assert.equal(chunked.status, 413);
      assert.equal(((await chunked.json()) as { error: { code: string } }).error.code, 'request_too_large');
      assert.equal(engine.calls.length, 0, 'the engine never saw them');
      const small = await client.completions.create({ model: 'm', prompt: 'p' });
      assert.equal(small.choices[0]!.text, 'Hello, world!');
    } finally {
      await server.close();
    }
  });
});

describe('queueing and cancellation', () => {
  test('429 when the running and waiting slots are full; waiting requests run in turn', async () => {
    await withServer(
      { delayMs: 20 },
      async ({ client, engine }) => {
        const req = () => client.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'hi' }] });
        const first = req();
        const second = req();
        await waitFor(() => engine.calls.length === 1, 'the first request to start');
        await assert.rejects(req(), (e: unknown) => {
          assert.ok(e instanceof OpenAI.RateLimitError);
          assert.equal(e.code, 'queue_full');
          assert.match(e.message, /busy: 1 request\(s\) running and 1 waiting/);
          return true;
        });
        const [a, b] = await Promise.all([first, second]);
        assert.equal(a.choices[0]!.message.content, 'Hello, world!');
        assert.equal(b.choices[0]!.message.content, 'Hello, world!');
        assert.equal(engine.calls.length, 2);
      },
      { maxConcurrent: 1, maxWaiting: 1 },
    );
  });

  test('a client that disconnects mid-stream aborts its generation and frees the slot', async () => {
    await withServer(
      { delayMs: 30, script: ({ prompt }) => (prompt ? ['ok'] : Array.from({ length: 100 }, (_, i) => `t${i} `)) },
      async ({ server, engine, client }) => {
        const controller = new AbortController();
        const res = await fetch(`${server.url}/v1/chat/completions`, {
          method: 'POST',
          headers: { authorization: `Bearer ${KEY}` },
          body: JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'hi' }], stream: true }),
          signal: controller.signal,
        });
        const reader = res.body!.getReader();
        await reader.read();
        controller.abort();
        await waitFor(() => engine.aborted === 1, 'the engine to see the abort');
        // The slot is free again: a new request runs at once instead of getting 429.
        const r = await client.completions.create({ model: 'm', prompt: 'x', max_tokens: 1, stream: false });
        assert.equal(r.choices.length, 1);
      },
      { maxConcurrent: 1, maxWaiting: 0 },
    );
  });

  test('a streaming client that leaves before the first piece (the prefill) aborts it; a failure then is a 500', async () => {
    await withServer(
      { delayMs: 300, script: ({ prompt }) => (prompt ? ['ok'] : ['late']) },
      async ({ server, engine, client }) => {
        const controller = new AbortController();
        const pending = fetch(`${server.url}/v1/chat/completions`, {
          method: 'POST',
          headers: { authorization: `Bearer ${KEY}` },
          body: JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'hi' }], stream: true }),
          signal: controller.signal,
        }).catch((e: Error) => e);
        await waitFor(() => engine.calls.length === 1, 'the stream to start');
        controller.abort();
        assert.equal(((await pending) as Error).name, 'AbortError', 'no headers before the first piece');
        await waitFor(() => engine.aborted === 1, 'the engine to see the abort');
        const r = await client.completions.create({ model: 'm', prompt: 'x', max_tokens: 1 });
        assert.equal(r.choices[0]!.text, 'ok');
      },
      { maxConcurrent: 1, maxWaiting: 0 },
    );
    await withServer({ failAt: 0 }, async ({ client }) => {
      await assert.rejects(
        client.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'hi' }], stream: true }),
        (e: unknown) => e instanceof OpenAI.InternalServerError && /the engine exploded/.test(e.message),
      );
    });
  });

  test('GET /v1/models answers at once while the only slot is generating', async () => {
    await withServer(
      { delayMs: 20, script: () => Array.from({ length: 20 }, () => 'x') },
      async ({ engine, client }) => {
        const running = client.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'hi' }] });
        await waitFor(() => engine.calls.length === 1, 'the generation to start');
        const t0 = Date.now();
        const models = await client.models.list();
        assert.equal(models.data.length, 1);
        assert.ok(Date.now() - t0 < 200, 'the models route does not wait for the generation');
        assert.equal((await running).choices[0]!.message.content, 'x'.repeat(20));
      },
      { maxConcurrent: 1, maxWaiting: 0 },
    );
  });

  test('a client that disconnects while waiting for a non-streamed answer aborts it too', async () => {
    await withServer(
      { delayMs: 30, script: () => Array.from({ length: 100 }, () => 'x') },
      async ({ server, engine }) => {
        const controller = new AbortController();
        const pending = fetch(`${server.url}/v1/chat/completions`, {
          method: 'POST',
          headers: { authorization: `Bearer ${KEY}` },
          body: JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'hi' }] }),
          signal: controller.signal,
        }).catch((e: Error) => e);
        await waitFor(() => engine.calls.length === 1, 'the request to start');
        controller.abort();
        assert.equal(((await pending) as Error).name, 'AbortError');
        await waitFor(() => engine.aborted === 1, 'the engine to see the abort');
      },
    );
  });
});

test('an engine failure is a 500 server_error, or an error event mid-stream; the slot is freed either way', async () => {
  await withServer(
    { failAt: 2 },
    async ({ client, server }) => {
      await assert.rejects(
        client.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'hi' }] }),
        (e: unknown) => e instanceof OpenAI.InternalServerError && e.type === 'server_error',
      );
      const stream = await client.chat.completions.create({
        model: 'm',
        messages: [{ role: 'user', content: 'hi' }],
        stream: true,
      });
      const got: string[] = [];
      await assert.rejects(
        (async () => {
          for await (const c of stream) got.push(c.choices[0]?.delta.content ?? '');
        })(),
        (e: unknown) => e instanceof OpenAI.APIError && /Generation failed: the engine exploded/.test(e.message),
      );
      assert.deepEqual(got, ['', 'Hello', ',']);
      const raw = await fetch(`${server.url}/v1/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${KEY}` },
        body: JSON.stringify({ model: 'm', prompt: 'p', stream: true }),
      });
      const events = (await raw.text()).split('\n\n').filter(Boolean);
      assert.equal(events.length, 3);
      assert.deepEqual(JSON.parse(events[2]!.slice(6)).error.type, 'server_error');
    },
    { maxConcurrent: 1, maxWaiting: 0 },
  );
});

test('resolveServerOptions: flags, then API_* variables, then defaults', () => {
  assert.deepEqual(resolveServerOptions({}, {}), {
    host: '0.0.0.0',
    port: 8000,
    modelName: 'gpt-3.5-turbo',
    maxConcurrent: 64,
    maxWaiting: 16,
    maxBodyBytes: 16 * 1024 * 1024,
  });
  assert.deepEqual(
    resolveServerOptions(
      { port: 9 },
      {
        API_HOST: '::',
        API_PORT: '7',
        API_KEY: 'k',
        API_MODEL_NAME: 'mine',
        API_MAX_CONCURRENT: '2',
        API_MAX_WAITING: '0',
        API_MAX_BODY_BYTES: '1000',
      },
    ),
    { host: '::', port: 9, modelName: 'mine', maxConcurrent: 2, maxWaiting: 0, maxBodyBytes: 1000, apiKey: 'k' },
  );
  assert.throws(() => resolveServerOptions({}, { API_PORT: 'eighty' }), /API_PORT must be an integer >= 0/);
});

test('parseApiFlags takes the server flags and leaves the rest for the model loader', () => {
  assert.deepEqual(
    parseApiFlags(['--model_name_or_path', 'm', '--host', '127.0.0.1', '--port=9000', '--max-concurrent', '2']),
    {
      flags: { host: '127.0.0.1', port: 9000, maxConcurrent: 2 },
      rest: ['--model_name_or_path', 'm'],
    },
  );
  assert.deepEqual(parseApiFlags(['--max_waiting=0', '--host=my-host.local']).flags, {
    maxWaiting: 0,
    host: 'my-host.local',
  });
  assert.throws(() => parseApiFlags(['--port', 'x']), /--port needs a non-negative integer, got 'x'/);
  assert.throws(() => parseApiFlags(['--host']), /--host needs a value/);
  const { flags } = parseApiFlags(['--port', '7']);
  assert.equal(resolveServerOptions(flags, { API_PORT: '8' }).port, 7);
});
