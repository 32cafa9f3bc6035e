// A 2 MB record goes through every stage's preprocessing: `ids.push(...hugeArray)` overflowed the call stack
// (RangeError) at ~130k tokens and named no record. cutoff_len must cut it as LLaMA-Factory does.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { AlignedExample } from '../../src/data/converters.js';
import type { Stage } from '../../src/data/dataset.js';
import {
  createProcessor,
  type FeedbackRecord,
  type PairwiseRecord,
  type ProcessorKind,
  resolveProcessorArgs,
  type SupervisedRecord,
} from '../../src/data/processors/index.js';
import { getTemplate } from '../../src/data/template/index.js';
import { Tokenizer } from '../../src/tokenizer/tokenizer.js';
import { maxOf, minOf, pushAll } from '../../src/util/arrays.js';
import { LONG_TEXT } from '../util/long-text.js';
import { metaLlama3Dir } from '../util/tokenizers.js';

const tokenizer = Tokenizer.fromDir(metaLlama3Dir());
const template = getTemplate('llama3', tokenizer, { log: () => {} });
const HUGE = LONG_TEXT;

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

test('array helpers: no argument spreading, so any length works', () => {
  const big = new Array<number>(1_000_000).fill(1);
  big[777_777] = 5;
  big[3] = -2;
  assert.equal(maxOf(big), 5);
  assert.equal(minOf(big), -2);
  assert.equal(maxOf([], 0), 0);
  assert.equal(pushAll([0], big, [9]).length, 1_000_002);
  assert.throws(() => Math.max(...big), RangeError, 'the spread this replaces does overflow at this length');
});

test('a 2 MB record through every processor is cut to cutoff_len, not a stack overflow', async () => {
  assert.ok(HUGE.length > 2_000_000);
  const cutoff = 1024;
  const cases: Array<[ProcessorKind, Stage, AlignedExample]> = [
    ['pretrain', 'pt', { ...record(HUGE, []), _prompt: [{ role: 'user', content: HUGE }] }],
    ['supervised', 'sft', record('Summarise this.', [HUGE])],
    ['supervised', 'sft', record(HUGE, ['Short answer.'])],
    ['packed_supervised', 'sft', record(HUGE, ['Short answer.'])],
    ['unsupervised', 'sft', record(HUGE, ['Short answer.'])],
    ['pairwise', 'rm', record(HUGE, ['Good.', HUGE])],
    ['pairwise', 'dpo', record('Compare.', [HUGE, 'Bad.'])],
    ['feedback', 'kto', record(HUGE, ['Good.', ''])],
  ];
  for (const [kind, stage, example] of cases) {
    const p = createProcessor(kind, { tokenizer, template, args: resolveProcessorArgs({ cutoff_len: cutoff }, stage) });
    const out = await p.processBatch([example], 0);
    // Pre-training cuts the concatenated text into cutoff_len blocks, as LLaMA-Factory groups texts; the
    // other stages keep one record, truncated.
    if (kind === 'pretrain') assert.ok(out.records.length > 400, `pretrain: ${out.records.length} blocks`);
    else assert.equal(out.records.length, 1, `${kind}: one record kept (dropped: ${JSON.stringify(out.dropped)})`);
    for (const row of out.records) {
      const r = row as SupervisedRecord & PairwiseRecord & FeedbackRecord;
      const lengths =
        kind === 'pairwise' ? [r.chosen_input_ids.length, r.rejected_input_ids.length] : [r.input_ids.length];
      for (const n of lengths) assert.ok(n > 0 && n <= cutoff + 1, `${kind}: ${n} tokens for cutoff ${cutoff}`);
    }
  }
});
