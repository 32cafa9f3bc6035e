/**
 * Families beyond the Llama layers (Gemma 2's soft-capped windowed attention, Phi-3's fused qkv) under `lmforge
 * api`: served by the continuous-batching scheduler, concurrent requests get the in-process model's answers. The
 * Phi-3 config is one that answered HTTP 500: pad_token_id 32000 (Phi3Config's default) past a 32000-token
 * vocabulary. A module without a paged path is refused by the scheduler and served through generate().
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type StartedApi, startApi } from '../../src/cli/api.js';
import { ChatModel } from '../../src/infer/chat-model.js';
import { ChatRunner } from '../../src/infer/chat-runner.js';
import { Scheduler } from '../../src/serve/scheduler.js';
import { TINY_GEMMA2_KEYS } from '../util/tiny-config.js';
import { tinyMistralDir } from '../util/tiny-model.js';

const FAMILIES: Record<string, Record<string, unknown>> = {
  gemma2: TINY_GEMMA2_KEYS,
  phi3: {
    architectures: ['Phi3ForCausalLM'],
    // vocab_size 32000 (the tokenizer's) and no pad_token_id: Phi3Config's default 32000 names no row
    sliding_window: 6,
    partial_rotary_factor: 0.5,
  },
};

for (const [name, config] of Object.entries(FAMILIES)) {
  test(`${name}: the api answers through the scheduler, concurrent requests included`, async () => {
    const dir = tinyMistralDir(7, { config });
    const runner = await ChatRunner.load({ model_name_or_path: dir, template: 'alpaca' });
    try {
      assert.equal(runner.model.module.pagedAttention, true);
      assert.equal(
        runner.enableScheduler({}, () => {}),
        true,
      );
      assert.ok(runner.scheduler);
    } finally {
      await runner.close();
    }

    let api: StartedApi | null = null;
    const reference = await ChatModel.load(
      { model_name_or_path: dir, template: 'alpaca', generating: { max_new_tokens: 8 } },
      { inProcess: true },
    );
    try {
      api = await startApi(
        ['--host', '127.0.0.1', '--port', '0', '--model_name_or_path', dir, '--template', 'alpaca'],
        { API_MODEL_NAME: 'tiny', API_MAX_MODEL_LEN: '256' },
      );
      const url = `${api.server.url}/v1/chat/completions`;
      const questions = ['Hello there', 'What is the sea?', 'Count to three'];
      const answers = await Promise.all(
        questions.map(async (q) => {
          const res = await fetch(url, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({
              model: 'tiny',
              messages: [{ role: 'user', content: q }],
              temperature: 0,
              max_tokens: 8,
              presence_penalty: 1,
            }),
          });
          assert.equal(res.status, 200, await res.clone().text());
          const body = (await res.json()) as { choices: { message: { content: string } }[] };
          return body.choices[0]?.message.content;
        }),
      );
      for (const [i, q] of questions.entries()) {
        const [expected] = await reference.chat([{ role: 'user', content: q }], {
          temperature: 0,
          maxTokens: 8,
          presencePenalty: 1,
        });
        assert.equal(answers[i], expected?.text, `question ${i}`);
      }
    } finally {
      await api?.close();
      await reference.close();
    }
  });
}

test('a module without a paged attention path: the scheduler refuses it, ChatRunner generates one at a time', async () => {
  const dir = tinyMistralDir(7);
  const runner = await ChatRunner.load({ model_name_or_path: dir, template: 'alpaca' });
  const logged: string[] = [];
  try {
    // As a family whose layers ignore ctx.paged would declare itself (every registered family reads it today).
    Object.defineProperty(runner.model.module, 'pagedAttention', { value: undefined });
    assert.throws(() => new Scheduler(runner.model.module, { numBlocks: 8 }), /no paged attention path/);
    assert.equal(
      runner.enableScheduler({}, (m) => logged.push(m)),
      false,
    );
    assert.equal(runner.scheduler, null);
    assert.match(logged[0] ?? '', /one at a time/);
  } finally {
    await runner.close();
  }
});
