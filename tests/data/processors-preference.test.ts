// Pairwise (rm/dpo), feedback (kto) and unsupervised (prediction) processors on the real Llama 3 tokenizer.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { AlignedExample } from '../../src/data/converters.js';
import {
  createProcessor,
  type FeedbackRecord,
  IGNORE_INDEX,
  type PairwiseRecord,
  resolveProcessorArgs,
  type SupervisedRecord,
} from '../../src/data/processors/index.js';
import { getTemplate } from '../../src/data/template/index.js';
import { Tokenizer } from '../../src/tokenizer/tokenizer.js';
import { metaLlama3Dir } from '../util/tokenizers.js';

const X = IGNORE_INDEX;
const tokenizer = Tokenizer.fromDir(metaLlama3Dir());
const template = getTemplate('llama3', tokenizer, { log: () => {} });

function record(prompt: string, responses: string[]): AlignedExample {
  return {
    _prompt: [{ role: 'user', content: prompt }],
    _response: responses.map((content) => ({ role: 'assistant', content })),
    _system: '',
    _tools: '',
    _images: null,
    _videos: null,
    _audios: null,
  };
}

// BOS, user header, "Hi", eot, assistant header.
const PROMPT = [128000, 128006, 882, 128007, 271, 13347, 128009, 128006, 78191, 128007, 271];

test('pairwise: chosen and rejected share the prompt; both replies are cut to one length', async () => {
  const args = resolveProcessorArgs({ cutoff_len: 100 }, 'rm');
  const p = createProcessor('pairwise', { tokenizer, template, args });
  const out = await p.processBatch([record('Hi', ['Hello!', 'Go away, I am busy.']), record('Hi', ['x'])], 0);
  assert.equal(out.dropped.length, 1);
  const r = out.records[0] as PairwiseRecord;
  const chosen = [9906, 0, 128009];
  const rejected = [...(await tokenizer.encode('Go away, I am busy.', { addSpecialTokens: false })), 128009];
  assert.deepEqual(r.chosen_input_ids, [...PROMPT, ...chosen]);
  assert.deepEqual(r.chosen_labels, [...PROMPT.map(() => X), ...chosen]);
  assert.deepEqual(r.rejected_input_ids, [...PROMPT, ...rejected]);
  assert.deepEqual(r.rejected_labels, [...PROMPT.map(() => X), ...rejected]);
  // cutoff 12: infer_seqlen(11, max(3, 8), 12) -> target 12*8/19 = 5, source 7.
  const small = createProcessor('pairwise', {
    tokenizer,
    template,
    args: resolveProcessorArgs({ cutoff_len: 12 }, 'rm'),
  });
  const cut = (await small.processBatch([record('Hi', ['Hello!', 'Go away, I am busy.'])], 0))
    .records[0] as PairwiseRecord;
  assert.deepEqual(cut.chosen_input_ids, [...PROMPT.slice(0, 7), ...chosen]);
  assert.deepEqual(cut.rejected_input_ids, [...PROMPT.slice(0, 7), ...rejected.slice(0, 5)]);
});

test('feedback: kto_tags from the empty side; the KL reply is the previous example of the batch', async () => {
  const args = resolveProcessorArgs({}, 'kto');
  const p = createProcessor('feedback', { tokenizer, template, args });
  const batch = [record('Hi', ['Hello!', '']), record('Hi', ['', 'Go away.']), record('Hi', ['Fine.', ''])];
  const out = await p.processBatch(batch, 0);
  const rows = out.records as FeedbackRecord[];
  assert.deepEqual(
    rows.map((r) => r.kto_tags),
    [true, false, true],
  );
  const reply = (r: number[]) => tokenizer.decode(r.filter((id) => id !== X));
  assert.deepEqual(
    rows.map((r) => reply(r.labels)),
    ['Hello!<|eot_id|>', 'Go away.<|eot_id|>', 'Fine.<|eot_id|>'],
  );
  // Example 0 takes the last example's reply, the others the one before them.
  assert.deepEqual(
    rows.map((r) => reply(r.kl_labels)),
    ['Fine.<|eot_id|>', 'Hello!<|eot_id|>', 'Go away.<|eot_id|>'],
  );
  assert.deepEqual(rows[0]!.kl_input_ids.slice(0, PROMPT.length), PROMPT);
  assert.deepEqual(
    rows[0]!.kl_attention_mask,
    rows[0]!.kl_input_ids.map(() => 1),
  );
});

test('unsupervised: input is the prompt up to the assistant header, labels the reference reply', async () => {
  const args = resolveProcessorArgs({}, 'sft');
  const p = createProcessor('unsupervised', { tokenizer, template, args });
  const out = await p.processBatch([record('Hi', ['Hello!']), record('Hi', [])], 0);
  const [withRef, withoutRef] = out.records as SupervisedRecord[];
  assert.deepEqual(withRef!.input_ids, PROMPT);
  assert.deepEqual(withRef!.labels, [9906, 0, 128009]);
  assert.deepEqual(withoutRef!.input_ids, PROMPT);
  assert.deepEqual(withoutRef!.labels, [128009]);
});
