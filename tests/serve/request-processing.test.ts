/**
 * Per-request logit processing through the scheduler (continuous batching): penalties, the JSON grammar and logprobs
 * give the same greedy answers as generate() does, and the same whether a request runs alone or batched with others
 * that use other (or no) processing. A tiny random Llama with Mistral's tokenizer.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { GenerationOptions, GenerationResult } from '../../src/infer/chat-engine.js';
import { ChatRunner } from '../../src/infer/chat-runner.js';
import { tinyMistralDir } from '../util/tiny-model.js';

const schema = {
  type: 'object',
  properties: { name: { type: 'string', maxLength: 6 }, n: { type: 'integer' } },
  required: ['name', 'n'],
  additionalProperties: false,
};

const requests: { prompt: string; opts: GenerationOptions }[] = [
  { prompt: 'the sea, the sea, the sea', opts: { temperature: 0, presencePenalty: 1.5, frequencyPenalty: 0.8 } },
  { prompt: 'a cat sat on a mat', opts: { temperature: 0, repetitionPenalty: 1.3, logprobs: 2 } },
  {
    prompt: 'write a person',
    opts: { temperature: 0, maxTokens: 60, responseFormat: { type: 'json_schema', schema }, logprobs: 1 },
  },
  { prompt: 'an object please', opts: { temperature: 0, maxTokens: 40, responseFormat: { type: 'json_object' } } },
  { prompt: 'plain greedy, no processing at all', opts: { temperature: 0 } },
];

function comparable(r: GenerationResult[]) {
  return r.map(({ text, finishReason, completionTokens, logprobs }) => ({
    text,
    finishReason,
    completionTokens,
    logprobs: logprobs?.map((e) => ({ token: e.token, top: e.top_logprobs.map((t) => t.token) })),
  }));
}

test('penalties, json_schema and logprobs: greedy answers through the scheduler equal generate(), alone and batched', async () => {
  const runner = await ChatRunner.load({
    model_name_or_path: tinyMistralDir(),
    template: 'alpaca',
    generating: { max_new_tokens: 16, do_sample: false },
  });
  try {
    const ids = await Promise.all(
      requests.map((r) => runner.promptIds({ kind: 'complete', prompt: r.prompt, opts: r.opts })),
    );
    const reference = requests.map((r, i) =>
      comparable(runner.generate(ids[i] as number[], r.opts, undefined, undefined, 'prompt')),
    );
    runner.enableScheduler({ kvBudgetBytes: 8 * 1024 * 1024 });
    const scheduler = runner.scheduler;
    assert.ok(scheduler);
    const alone = [];
    for (const [i, r] of requests.entries())
      alone.push(
        comparable(
          await runner.generateScheduled(scheduler, ids[i] as number[], r.opts, undefined, undefined, 'prompt'),
        ),
      );
    const stepsAlone = scheduler.counters.steps;
    const batched = await Promise.all(
      requests.map(async (r, i) =>
        comparable(
          await runner.generateScheduled(scheduler, ids[i] as number[], r.opts, undefined, undefined, 'prompt'),
        ),
      ),
    );
    assert.ok(scheduler.counters.maxBatch >= 2, 'the requests shared steps');
    assert.ok(scheduler.counters.steps - stepsAlone < stepsAlone, 'batched took fewer steps than one at a time');
    for (const [i] of requests.entries()) {
      assert.deepEqual(alone[i], reference[i], `request ${i}: scheduler alone vs generate()`);
      assert.deepEqual(batched[i], reference[i], `request ${i}: batched vs generate()`);
    }
    // The processing did something: the grammar's answer is JSON of the schema, logprobs were reported.
    const json = reference[2]?.[0];
    assert.equal(json?.finishReason, 'stop', json?.text);
    const value = JSON.parse(json?.text ?? '') as Record<string, unknown>;
    assert.deepEqual(Object.keys(value).sort(), ['n', 'name']);
    assert.ok((reference[1]?.[0]?.logprobs?.length ?? 0) > 0);
    assert.equal(reference[1]?.[0]?.logprobs?.[0]?.top.length, 2);
    assert.match(reference[3]?.[0]?.text ?? '', /^\s*\{/); // json_object: an object begins (40 tokens may not end it)
  } finally {
    await runner.close();
  }
});
