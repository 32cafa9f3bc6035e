// Generation is bounded by max_model_len, and the prefill runs in chunks that an abort stops between, with the
// logits of one whole-prompt forward.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { ChatModel } from '../../src/infer/chat-model.js';
import { isContextLengthError } from '../../src/infer/context-limit.js';
import { parseModelConfig } from '../../src/io/model-config.js';
import { createModel } from '../../src/models/causal-lm.js';
import { tinyMistralDir } from '../util/tiny-model.js';

const dir = tinyMistralDir(5, { maxPositionEmbeddings: 64 });
const model = await ChatModel.load(
  { model_name_or_path: dir, template: 'alpaca', generating: { do_sample: false, max_new_tokens: 1000 } },
  { inProcess: true },
);
after(() => model.close());
const short = [{ role: 'user' as const, content: 'Hi' }];

test('prompt + max_tokens beyond max_model_len is refused; without max_tokens the reply stops at the context', async () => {
  assert.equal(model.maxModelLen, 64);
  await assert.rejects(model.chat(short, { maxTokens: 60 }), (e: Error) => {
    assert.ok(isContextLengthError(e));
    assert.match(e.message, /maximum context length is 64 tokens, but you requested \d+ tokens/);
    return true;
  });
  await assert.rejects(model.chat([{ role: 'user', content: 'word '.repeat(100) }], {}), (e: Error) =>
    /your messages are \d+ tokens long/.test(e.message),
  );
  await assert.rejects(model.embed(['word '.repeat(100)]), (e: Error) => isContextLengthError(e));
  const [r] = await model.chat(short, {});
  assert.ok(r && r.promptTokens + r.completionTokens <= 64, JSON.stringify(r));
});

test('max_model_len above max_position_embeddings is refused before the weights load', async () => {
  await assert.rejects(
    ChatModel.load({ model_name_or_path: dir, max_model_len: 65 }, { inProcess: true }),
    (e: Error) => /max_model_len 65 is more than the model's max_position_embeddings 64/.test(e.message),
  );
});

test('chunked prefill: the same logits as one forward, and an abort stops it between chunks', () => {
  const cfg = parseModelConfig({
    architectures: ['LlamaForCausalLM'],
    vocab_size: 500,
    hidden_size: 64,
    intermediate_size: 128,
    num_hidden_layers: 2,
    num_attention_heads: 4,
    num_key_value_heads: 2,
    max_position_embeddings: 2048,
  });
  const lm = createModel(cfg, { seed: 3, std: 0.5 });
  try {
    const prompts = [Array.from({ length: 300 }, (_, i) => (i * 37) % 500), Array.from({ length: 170 }, (_, i) => i)];
    const logits = (prefillChunk: number) => {
      const out: number[][] = [];
      lm.generateDetailed(prompts, { maxNewTokens: 3, stop: [], prefillChunk, onStepLogits: (l) => out.push([...l]) });
      return out;
    };
    const whole = logits(1 << 30);
    for (const chunk of [17, 64, 100]) assert.deepEqual(logits(chunk), whole, `prefillChunk ${chunk}`);
    let reads = 0;
    const signal = {
      get aborted() {
        return ++reads > 1; // false before the first chunk, true before the second
      },
    };
    let steps = 0;
    const r = lm.generateDetailed(prompts, { maxNewTokens: 3, prefillChunk: 64, signal, onStepLogits: () => steps++ });
    assert.deepEqual(r.finishReasons, ['abort', 'abort']);
    assert.equal(steps, 0, 'no logits: the prefill stopped after its first chunk');
  } finally {
    lm.dispose();
  }
});
