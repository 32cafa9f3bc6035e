// Supervised / pretrain processors on the real Llama 3 and Qwen3 tokenizers, with LLaMA-Factory's golden cases.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { AlignedExample, Message } from '../../src/data/converters.js';
import type { Stage } from '../../src/data/dataset.js';
import {
  createProcessor,
  greedyKnapsack,
  IGNORE_INDEX,
  inferSeqlen,
  type ProcessorArgs,
  type ProcessorKind,
  resolveProcessorArgs,
  type SupervisedRecord,
  searchForFit,
} from '../../src/data/processors/index.js';
import { defineTemplate, getTemplate, type Template } from '../../src/data/template/index.js';
import { Tokenizer } from '../../src/tokenizer/tokenizer.js';
import { load, metaLlama3Dir } from '../util/tokenizers.js';

const quiet = () => {};
const X = IGNORE_INDEX;

export function example(messages: Message[], system = ''): AlignedExample {
  return {
    _prompt: messages.slice(0, -1),
    _response: messages.slice(-1),
    _system: system,
    _tools: '',
    _images: null,
    _videos: null,
    _audios: null,
  };
}

/** A pretraining record: the text is the one prompt message. */
function document(text: string): AlignedExample {
  return { ...example([{ role: 'user', content: text }]), _prompt: [{ role: 'user', content: text }], _response: [] };
}

const TWO_TURNS: Message[] = [
  { role: 'user', content: 'Hi' },
  { role: 'assistant', content: 'Hello!' },
  { role: 'user', content: 'How are you?' },
  { role: 'assistant', content: 'Fine.' },
];

async function run(
  tokenizer: Tokenizer,
  template: Template,
  kind: ProcessorKind,
  examples: AlignedExample[],
  args: ProcessorArgs = {},
  stage: Stage = 'sft',
) {
  const processor = createProcessor(kind, { tokenizer, template, args: resolveProcessorArgs(args, stage) });
  return processor.processBatch(examples, 0);
}

function llama3(): { tokenizer: Tokenizer; template: Template } {
  const tokenizer = Tokenizer.fromDir(metaLlama3Dir());
  return { tokenizer, template: getTemplate('llama3', tokenizer, { log: quiet }) };
}

// Turn 0 = BOS + user header + "Hi" + eot + assistant header (11 ids), reply "Hello!" + eot (3);
// turn 1 = user header + "How are you?" + eot + assistant header (13), reply "Fine." + eot (3).
const L3_S0 = [128000, 128006, 882, 128007, 271, 13347, 128009, 128006, 78191, 128007, 271];
const L3_T0 = [9906, 0, 128009];
const L3_S1 = [128006, 882, 128007, 271, 4438, 527, 499, 30, 128009, 128006, 78191, 128007, 271];
const L3_T1 = [64816, 13, 128009];

test("infer_seqlen: LLaMA-Factory's golden cases (tests/data/processor/test_processor_utils.py)", () => {
  const cases: Array<[[number, number, number], [number, number]]> = [
    [
      [3000, 2000, 1000],
      [600, 400],
    ],
    [
      [2000, 3000, 1000],
      [400, 600],
    ],
    [
      [1000, 100, 1000],
      [900, 100],
    ],
    [
      [100, 1000, 1000],
      [100, 900],
    ],
    [
      [100, 500, 1000],
      [100, 500],
    ],
    [
      [500, 100, 1000],
      [500, 100],
    ],
    [
      [10, 10, 1000],
      [10, 10],
    ],
  ];
  for (const [input, output] of cases) assert.deepEqual(inferSeqlen(...input), output, `infer_seqlen(${input})`);
  // The proportional branch floors: 6 * 3 / 16 = 1.125 -> 1.
  assert.deepEqual(inferSeqlen(13, 3, 6), [5, 1]);
  assert.deepEqual(inferSeqlen(11, 3, 4), [4, 0]);
});

test('greedy_knapsack: each bin takes the largest remaining length that fits', () => {
  assert.equal(searchForFit([2, 3, 4, 5, 7], 8), 4);
  assert.equal(searchForFit([2, 3, 4, 5, 7], 1), -1);
  assert.equal(searchForFit([2, 3, 3, 5], 3), 2);
  assert.deepEqual(greedyKnapsack([3, 5, 2, 7, 4], 8), [[7], [5, 3], [4, 2]]);
  assert.deepEqual(greedyKnapsack([4, 4, 4], 8), [[4, 4], [4]]);
  assert.throws(() => greedyKnapsack([9], 8), /exceeds the bin size/);
});

test('supervised (llama3): every reply is trained; ids equal the tokenizer chat template', async () => {
  const { tokenizer, template } = llama3();
  const { records, dropped } = await run(tokenizer, template, 'supervised', [example(TWO_TURNS)]);
  assert.equal(dropped.length, 0);
  const r = records[0] as SupervisedRecord;
  assert.deepEqual(r.input_ids, [...L3_S0, ...L3_T0, ...L3_S1, ...L3_T1]);
  assert.deepEqual(r.input_ids, await tokenizer.applyChatTemplate(TWO_TURNS, { tokenize: true }));
  assert.deepEqual(r.labels, [...L3_S0.map(() => X), ...L3_T0, ...L3_S1.map(() => X), ...L3_T1]);
  assert.deepEqual(
    r.attention_mask,
    r.input_ids.map(() => 1),
  );
});

test('supervised (llama3): train_on_prompt labels every token; mask_history only the last reply', async () => {
  const { tokenizer, template } = llama3();
  const all = (await run(tokenizer, template, 'supervised', [example(TWO_TURNS)], { train_on_prompt: true }))
    .records[0] as SupervisedRecord;
  assert.deepEqual(all.labels, all.input_ids);
  const last = (await run(tokenizer, template, 'supervised', [example(TWO_TURNS)], { mask_history: true }))
    .records[0] as SupervisedRecord;
  assert.deepEqual(last.input_ids, [...L3_S0, ...L3_T0, ...L3_S1, ...L3_T1]);
  assert.deepEqual(last.labels, [...new Array(27).fill(X), ...L3_T1]);
  assert.throws(() => resolveProcessorArgs({ mask_history: true, train_on_prompt: true }, 'sft'), /incompatible/);
});

test('supervised truncation spends cutoff_len turn by turn (forwards, or from the last turn with mask_history)', async () => {
  const { tokenizer, template } = llama3();
  // cutoff 20: turn 0 keeps (11, 3); turn 1 gets 6 tokens: infer_seqlen(13, 3, 6) = (5, 1).
  const fwd = await run(tokenizer, template, 'supervised', [example(TWO_TURNS)], { cutoff_len: 20 });
  const r = fwd.records[0] as SupervisedRecord;
  assert.deepEqual(r.input_ids, [...L3_S0, ...L3_T0, ...L3_S1.slice(0, 5), 64816]);
  assert.deepEqual(r.labels, [...L3_S0.map(() => X), ...L3_T0, X, X, X, X, X, 64816]);
  assert.equal(fwd.truncated, 1);
  // mask_history: the last turn keeps (13, 3), the first gets 4: infer_seqlen(11, 3, 4) = (4, 0), kept in front.
  const rev = (
    await run(tokenizer, template, 'supervised', [example(TWO_TURNS)], { cutoff_len: 20, mask_history: true })
  ).records[0] as SupervisedRecord;
  assert.deepEqual(rev.input_ids, [...L3_S0.slice(0, 4), ...L3_S1, ...L3_T1]);
  assert.deepEqual(rev.labels, [...new Array(17).fill(X), ...L3_T1]);
  // A budget used up by earlier turns stops the loop: cutoff 14 holds turn 0 exactly.
  const stop = (await run(tokenizer, template, 'supervised', [example(TWO_TURNS)], { cutoff_len: 14 }))
    .records[0] as SupervisedRecord;
  assert.deepEqual(stop.input_ids, [...L3_S0, ...L3_T0]);
});

test('supervised (qwen, sharegpt with system): ids equal the ChatML text; trained spans are the replies', async () => {
  const tokenizer = load('qwen3');
  const template = getTemplate('qwen', tokenizer, { log: quiet });
  const { records } = await run(tokenizer, template, 'supervised', [example(TWO_TURNS, 'Be brief.')]);
  const r = records[0] as SupervisedRecord;
  const text =
    '<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n' +
    'Hello!<|im_end|>\n<|im_start|>user\nHow are you?<|im_end|>\n<|im_start|>assistant\nFine.<|im_end|>\n';
  assert.deepEqual(r.input_ids, await tokenizer.encode(text, { addSpecialTokens: false }));
  assert.equal(tokenizer.decode(r.labels.filter((id) => id !== X)), 'Hello!<|im_end|>\nFine.<|im_end|>\n');
  // The first label run starts right after the assistant header.
  const firstTrained = r.labels.findIndex((id) => id !== X);
  assert.equal(tokenizer.decode(r.input_ids.slice(0, firstTrained)).endsWith('<|im_start|>assistant\n'), true);
  // Without a system prompt the template's default one is used.
  const dflt = (await run(tokenizer, template, 'supervised', [example(TWO_TURNS)])).records[0] as SupervisedRecord;
  assert.match(tokenizer.decode(dflt.input_ids), /^<\|im_start\|>system\nYou are Qwen, created by Alibaba Cloud/);
});

test('supervised (efficient EOS, chatglm3-style on the Qwen3 vocabulary): EOS labels the next prompt and the end', async () => {
  const tokenizer = load('qwen3');
  const template = defineTemplate({
    name: 'glm-style',
    user: [{ token: '<|im_start|>' }, 'user\n{{content}}', { token: '<|im_start|>' }, 'assistant\n'],
    efficientEos: true,
  });
  template.fixSpecialTokens(tokenizer, quiet);
  const eos = tokenizer.eosTokenId!;
  const pairs = await template.encodeMultiturn(tokenizer, TWO_TURNS);
  const [[s0, t0], [s1, t1]] = pairs as [[number[], number[]], [number[], number[]]];
  const r = (await run(tokenizer, template, 'supervised', [example(TWO_TURNS)])).records[0] as SupervisedRecord;
  assert.deepEqual(r.input_ids, [...s0, ...t0, ...s1, ...t1, eos]);
  assert.deepEqual(r.labels, [...s0.map(() => X), ...t0, eos, ...s1.slice(1).map(() => X), ...t1, eos]);
  assert.equal(tokenizer.decode(t0), 'Hello!');
  // The final EOS counts in the budget: cutoff = everything but it still holds every token but the last reply's end.
  const total = s0.length + t0.length + s1.length + t1.length + 1;
  const cut = (await run(tokenizer, template, 'supervised', [example(TWO_TURNS)], { cutoff_len: total - 1 }))
    .records[0] as SupervisedRecord;
  assert.equal(cut.input_ids.length, total - 1);
  assert.equal(cut.input_ids.at(-1), eos);
  // Efficient EOS forbids train_on_prompt (the EOS lives in the prompt).
  assert.throws(() => getTemplate('chatglm3', load('qwen3'), { trainOnPrompt: true, log: quiet }));
});

test('supervised drops invalid examples, naming them by dataset index', async () => {
  const { tokenizer, template } = llama3();
  const bad: AlignedExample = { ...example(TWO_TURNS), _response: [] };
  const out = await run(tokenizer, template, 'supervised', [example(TWO_TURNS), bad, example(TWO_TURNS)]);
  assert.equal(out.records.length, 2);
  assert.equal(out.dropped.length, 1);
  assert.equal(out.dropped[0]!.index, 1);
  assert.match(out.dropped[0]!.reason, /^Dropped invalid example #1: \[\{"role":"user","content":"Hi"\}/);
});

test('packing: greedy bins of cutoff_len + 1, positions restart per sequence, neat packing numbers sequences', async () => {
  const { tokenizer, template } = llama3();
  const one = (content: string) =>
    example([
      { role: 'user', content },
      { role: 'assistant', content: 'Yes.' },
    ]);
  const examples = [one('A'), one('Is the sky blue today?'), one('B')];
  const single = (await run(tokenizer, template, 'supervised', examples)).records as SupervisedRecord[];
  const lengths = single.map((r) => r.input_ids.length);
  assert.deepEqual(lengths, [14, 19, 14]);
  // packing=true takes one token off cutoff_len (upstream's __post_init__): bins of 30, rows of 31.
  const packed = await run(tokenizer, template, 'packed_supervised', examples, { packing: true, cutoff_len: 31 });
  const rows = packed.records as SupervisedRecord[];
  assert.equal(rows.length, 2);
  // Bin 1 = [19] then nothing fits in 11; bin 2 = [14, 14] (the later example of a length first, as upstream pops).
  assert.deepEqual(rows[0]!.input_ids.slice(0, 19), single[1]!.input_ids);
  assert.deepEqual(rows[0]!.input_ids.slice(19), new Array(12).fill(tokenizer.padTokenId));
  assert.deepEqual(rows[0]!.position_ids, [...Array(19).keys(), ...new Array(12).fill(0)]);
  assert.deepEqual(rows[0]!.labels.slice(19), new Array(12).fill(X));
  assert.deepEqual(rows[0]!.attention_mask, new Array(31).fill(1));
  assert.deepEqual(rows[1]!.input_ids.slice(0, 28), [...single[2]!.input_ids, ...single[0]!.input_ids]);
  assert.deepEqual(rows[1]!.position_ids!.slice(0, 28), [...Array(14).keys(), ...Array(14).keys()]);
  assert.equal(rows[1]!.input_ids.length, 31);
  const neat = (await run(tokenizer, template, 'packed_supervised', examples, { neat_packing: true, cutoff_len: 31 }))
    .records as SupervisedRecord[];
  assert.deepEqual(neat[1]!.attention_mask, [...new Array(14).fill(1), ...new Array(14).fill(2), 0, 0, 0]);
  assert.deepEqual(neat[0]!.attention_mask, [...new Array(19).fill(1), ...new Array(12).fill(0)]);
  // Sequences are cut to the bin first (19 -> 15 tokens), so none is too long to pack.
  const cut = await run(tokenizer, template, 'packed_supervised', examples, { packing: true, cutoff_len: 16 });
  assert.equal(cut.truncated, 1);
  assert.equal(cut.records.length, 3);
  assert.deepEqual((cut.records[0] as SupervisedRecord).position_ids!.slice(0, 16), [...Array(15).keys(), 0]);
});

test('pretrain (llama3): <|end_of_text|> appended, packed into cutoff_len blocks with BOS first, remainder dropped', async () => {
  const { tokenizer, template } = llama3();
  const texts = ['The cat sat on the mat.', 'Dogs bark at night.', 'Birds sing.'];
  const examples = texts.map(document);
  const eot = 128001;
  const encoded = await Promise.all(texts.map((t) => tokenizer.encode(t, { addSpecialTokens: false })));
  const stream = encoded.flatMap((ids) => [...ids, eot]);
  const out = await run(tokenizer, template, 'pretrain', examples, { cutoff_len: 8, template: 'llama3' }, 'pt');
  const rows = out.records as SupervisedRecord[];
  assert.equal(rows.length, Math.floor(stream.length / 8));
  rows.forEach((row, i) => {
    assert.deepEqual(row.input_ids, [128000, ...stream.slice(i * 8 + 1, i * 8 + 8)]);
    assert.deepEqual(row.labels, row.input_ids);
  });
  // The documents ending past the last whole block are counted as truncated.
  let end = 0;
  const kept = rows.length * 8;
  const cut = encoded.filter((ids) => (end += ids.length + 1) > kept).length;
  assert.ok(cut >= 1);
  assert.equal(out.truncated, cut);
  // Without packing: BOS + text + <|end_of_text|>, truncated to cutoff_len.
  const plain = await run(
    tokenizer,
    template,
    'pretrain',
    examples,
    { cutoff_len: 6, template: 'llama3', packing: false },
    'pt',
  );
  assert.deepEqual((plain.records[0] as SupervisedRecord).input_ids, [128000, ...encoded[0]!, eot].slice(0, 6));
  assert.deepEqual((plain.records[2] as SupervisedRecord).input_ids, [128000, ...encoded[2]!, eot]);
  assert.equal(plain.truncated, 2);
});

test("pretrain (qwen3): no BOS; the tokenizer's EOS text ends each document", async () => {
  const tokenizer = load('qwen3');
  const template = getTemplate('qwen', tokenizer, { log: quiet });
  const examples = [document('Hello world')];
  const out = await run(tokenizer, template, 'pretrain', examples, { packing: false }, 'pt');
  const ids = (out.records[0] as SupervisedRecord).input_ids;
  assert.deepEqual(ids, [
    ...(await tokenizer.encode('Hello world', { addSpecialTokens: false })),
    tokenizer.eosTokenId,
  ]);
});

test('supervised (qwen3 reasoning): history thoughts are trained, or discarded with mask_history', async () => {
  const tokenizer = load('qwen3');
  const template = getTemplate('qwen3', tokenizer, { log: quiet });
  const withThoughts: Message[] = [
    { role: 'user', content: 'How are you' },
    { role: 'assistant', content: '<think>\nModel thought here\n</think>\n\nI am fine!' },
    { role: 'user', content: '你好' },
    { role: 'assistant', content: '<think>\n模型思考内容\n</think>\n\n很高兴认识你！' },
  ];
  const trained = (r: SupervisedRecord) => tokenizer.decode(r.labels.filter((id) => id !== X));
  const all = (await run(tokenizer, template, 'supervised', [example(withThoughts)])).records[0] as SupervisedRecord;
  assert.equal(
    trained(all),
    '<think>\nModel thought here\n</think>\n\nI am fine!<|im_end|>\n<think>\n模型思考内容\n</think>\n\n很高兴认识你！<|im_end|>\n',
  );
  const last = (await run(tokenizer, template, 'supervised', [example(withThoughts)], { mask_history: true }))
    .records[0] as SupervisedRecord;
  assert.equal(trained(last), '<think>\n模型思考内容\n</think>\n\n很高兴认识你！<|im_end|>\n');
  assert.equal(
    tokenizer.decode(last.input_ids),
    '<|im_start|>user\nHow are you<|im_end|>\n<|im_start|>assistant\nI am fine!<|im_end|>\n' +
      '<|im_start|>user\n你好<|im_end|>\n<|im_start|>assistant\n<think>\n模型思考内容\n</think>\n\n很高兴认识你！<|im_end|>\n',
  );
});
