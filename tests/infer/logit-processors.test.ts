/**
 * Request-level logit processing on a real (tiny, random) model: greedy tokens and reported logprobs match a
 * step-by-step oracle that applies HF's repetition penalty and OpenAI's presence/frequency penalties to the model's
 * own logits; and JSON-schema constrained sampling over Mistral's 32000-token vocabulary yields, for every seed,
 * text that parses and validates.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { StreamPiece } from '../../src/infer/chat-engine.js';
import { ChatModel } from '../../src/infer/chat-model.js';
import type { ChatRunner } from '../../src/infer/chat-runner.js';
import { schemaViolation } from '../util/json-schema-validator.js';
import { tinyMistralDir } from '../util/tiny-model.js';

let model: ChatModel;
let runner: ChatRunner;

before(async () => {
  model = await ChatModel.load(
    { model_name_or_path: tinyMistralDir(), template: 'alpaca', generating: { do_sample: false, max_new_tokens: 10 } },
    { inProcess: true },
  );
  runner = model.runner as ChatRunner;
});
after(() => model.close());

function logSoftmax(x: number[]): number[] {
  const m = Math.max(...x);
  const z = m + Math.log(x.reduce((s, v) => s + Math.exp(v - m), 0));
  return x.map((v) => v - z);
}

test('penalised greedy decoding and its logprobs match an independent step-by-step oracle', async () => {
  const prompt = await runner.chatPromptIds([{ role: 'user', content: 'the the the cat cat' }]);
  const pieces: StreamPiece[] = [];
  const opts = { presencePenalty: 0.5, frequencyPenalty: 1.5, repetitionPenalty: 1.3, logprobs: 3 };
  const [result] = runner.generate(prompt, opts, (_row, p) => pieces.push(p));
  const tokens = pieces.filter((p) => p.tokenId !== undefined).map((p) => p.tokenId as number);
  assert.ok(result && tokens.length === result.completionTokens && tokens.length > 0);
  const entries = result.logprobs ?? [];
  const stopIds = new Set(runner.template.stopIds(runner.tokenizer));
  assert.equal(entries.length, tokens.filter((t) => !stopIds.has(t)).length);
  const vocab = Array.from({ length: runner.model.config.vocabSize }, (_, i) => i);
  for (const [t, token] of tokens.entries()) {
    const history = [...prompt, ...tokens.slice(0, t)];
    const raw = runner.lastPositionLogits([history], vocab)[0] as number[];
    const counts = new Map<number, number>();
    for (const id of tokens.slice(0, t)) counts.set(id, (counts.get(id) ?? 0) + 1);
    const scores = raw.map((x, id) => {
      let y = history.includes(id) ? (x < 0 ? x * 1.3 : x / 1.3) : x;
      const c = counts.get(id) ?? 0;
      if (c > 0) y -= 0.5 + 1.5 * c;
      return y;
    });
    const best = scores.indexOf(Math.max(...scores));
    assert.equal(token, best, `step ${t}`);
    if (stopIds.has(token)) continue;
    const entry = entries[t];
    assert.ok(entry);
    assert.ok(Math.abs(entry.logprob - (logSoftmax(scores)[token] as number)) < 1e-3, `logprob at step ${t}`);
    assert.equal(entry.top_logprobs.length, 3);
    assert.equal(entry.top_logprobs[0]?.logprob, entry.logprob); // greedy: the chosen token is the best
    for (let k = 1; k < 3; k++)
      assert.ok((entry.top_logprobs[k]?.logprob as number) <= (entry.top_logprobs[k - 1]?.logprob as number));
  }
  // The logprob tokens' bytes spell the text (SentencePiece's decode drops the first token's leading space).
  const bytes = entries.flatMap((e) => e.bytes);
  assert.equal(new TextDecoder().decode(Uint8Array.from(bytes)).replace(/^ /, ''), result.text);
});

test('json_schema sampling: every seed gives JSON that validates; json_object gives an object', async () => {
  const schema = {
    type: 'object',
    properties: {
      city: { type: 'string', minLength: 1, maxLength: 6 },
      temp: { type: 'number' },
      unit: { enum: ['C', 'F'] },
      days: { type: 'array', items: { type: 'integer' }, maxItems: 2 },
      extra: { anyOf: [{ type: 'null' }, { $ref: '#/$defs/note' }] },
    },
    required: ['city', 'temp', 'unit'],
    additionalProperties: false,
    $defs: {
      note: { type: 'object', properties: { ok: { type: 'boolean' } }, required: ['ok'], additionalProperties: false },
    },
  };
  const prompt = await runner.chatPromptIds([{ role: 'user', content: 'weather?' }]);
  for (let seed = 0; seed < 10; seed++) {
    const [r] = runner.generate(prompt, {
      seed,
      temperature: 1,
      maxTokens: 80,
      responseFormat: { type: 'json_schema', schema },
    });
    assert.equal(r?.finishReason, 'stop', `seed ${seed}: ${r?.text}`);
    assert.equal(schemaViolation(JSON.parse(r?.text as string), schema), null, r?.text);
  }
  const [r] = runner.generate(prompt, {
    seed: 1,
    temperature: 1,
    maxTokens: 40,
    responseFormat: { type: 'json_object' },
  });
  assert.equal(r?.text[0], '{');
  if (r?.finishReason === 'stop') assert.equal(typeof JSON.parse(r.text), 'object');
});
