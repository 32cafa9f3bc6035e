import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import type { AlignedExample, ConvertResult, DataRow } from '../../src/data/index.js';
import { convertRecord, parseDatasetEntry } from '../../src/data/index.js';
import { pythonJsonText } from '../../src/util/python-json.js';
import { tempDataDir } from './temp-data.js';

const ctx = { mediaDir: '/nonexistent' };

function ok(r: ConvertResult): AlignedExample {
  if (!r.ok) assert.fail(`expected a valid record, got ${r.field}: ${r.rule}`);
  return r.example;
}

function bad(r: ConvertResult): { field: string; rule: string } {
  if (r.ok) assert.fail(`expected an invalid record, got ${JSON.stringify(r.example)}`);
  return { field: r.field, rule: r.rule };
}

const u = (content: string) => ({ role: 'user', content });
const a = (content: string) => ({ role: 'assistant', content });

test('alpaca: instruction + "\\n" + input, empty input left out, history as prior turns, system', () => {
  const attr = parseDatasetEntry('d', {
    file_name: 'f',
    columns: { prompt: 'instruction', query: 'input', response: 'output', system: 'system', history: 'history' },
  });
  const ex = ok(
    convertRecord(
      { instruction: 'Translate', input: 'bonjour', output: 'hello', system: 'Be brief.', history: [['q1', 'r1']] },
      attr,
      ctx,
    ),
  );
  assert.deepEqual(ex, {
    _prompt: [u('q1'), a('r1'), u('Translate\nbonjour')],
    _response: [a('hello')],
    _system: 'Be brief.',
    _tools: '',
    _images: null,
    _videos: null,
    _audios: null,
  });
  assert.deepEqual(ok(convertRecord({ instruction: 'Hi', input: '', output: 'yo' }, attr, ctx))._prompt, [u('Hi')]);
  assert.deepEqual(ok(convertRecord({ instruction: 'Hi', output: 'yo', history: null }, attr, ctx))._system, '');
  // no response: unsupervised (the stage decides whether that is acceptable)
  assert.deepEqual(ok(convertRecord({ instruction: 'Hi' }, attr, ctx))._response, []);
});

test('alpaca: remapped columns, ranking pairs and KTO tags', () => {
  const remap = parseDatasetEntry('d', { file_name: 'f', columns: { prompt: 'question', response: 'answer' } });
  const ex = ok(convertRecord({ question: 'Q?', input: 'ignored', answer: 'A.' }, remap, ctx));
  assert.deepEqual([ex._prompt, ex._response], [[u('Q?')], [a('A.')]]);

  const rank = parseDatasetEntry('d', {
    file_name: 'f',
    ranking: true,
    columns: { prompt: 'instruction', query: 'input', chosen: 'chosen', rejected: 'rejected' },
  });
  assert.deepEqual(ok(convertRecord({ instruction: 'I', chosen: 'good', rejected: 'bad' }, rank, ctx))._response, [
    a('good'),
    a('bad'),
  ]);
  assert.deepEqual(bad(convertRecord({ instruction: 'I', chosen: 'good' }, rank, ctx)), {
    field: 'rejected',
    rule: 'a ranking record needs a rejected answer (set columns.rejected)',
  });

  const kto = parseDatasetEntry('d', {
    file_name: 'f',
    columns: { prompt: 'instruction', response: 'output', kto_tag: 'label' },
  });
  assert.deepEqual(ok(convertRecord({ instruction: 'I', output: 'yes', label: true }, kto, ctx))._response, [
    a('yes'),
    a(''),
  ]);
  assert.deepEqual(ok(convertRecord({ instruction: 'I', output: 'no', label: false }, kto, ctx))._response, [
    a(''),
    a('no'),
  ]);
  assert.equal(
    bad(convertRecord({ instruction: 'I', output: 'no', label: 'maybe' }, kto, ctx)).rule,
    'kto_tag must be true or false, got string "maybe"',
  );
});

test('alpaca: bad field types and history shapes are reported with the field', () => {
  const attr = parseDatasetEntry('d', {
    file_name: 'f',
    columns: { prompt: 'instruction', response: 'output', history: 'h' },
  });
  assert.deepEqual(bad(convertRecord({ instruction: 5, output: 'x' }, attr, ctx)), {
    field: 'instruction',
    rule: 'the prompt must be text, got number 5',
  });
  assert.equal(bad(convertRecord({ instruction: 'i', output: 'x', h: [['only one']] }, attr, ctx)).field, 'h[0]');
  assert.equal(bad(convertRecord({ instruction: 'i', output: 'x', h: 'oops' }, attr, ctx)).field, 'h');
});

const sharegpt = parseDatasetEntry('sg', {
  file_name: 'f',
  formatting: 'sharegpt',
  columns: { messages: 'conversations', system: 'system', tools: 'tools' },
});

test('sharegpt: roles map by tags; a leading system message wins over the system column', () => {
  const row: DataRow = {
    conversations: [
      { from: 'system', value: 'From the message.' },
      { from: 'human', value: 'call it' },
      { from: 'function_call', value: '{"name": "f"}' },
      { from: 'observation', value: '42' },
      { from: 'gpt', value: 'It is 42.' },
    ],
    system: 'From the column.',
    tools: [{ name: 'f' }],
  };
  const ex = ok(convertRecord(row, sharegpt, ctx));
  assert.deepEqual(ex._prompt, [
    u('call it'),
    { role: 'function', content: '{"name": "f"}' },
    { role: 'observation', content: '42' },
  ]);
  assert.deepEqual(ex._response, [a('It is 42.')]);
  assert.equal(ex._system, 'From the message.');
  assert.equal(ex._tools, '[{"name": "f"}]');
  const noSys = ok(
    convertRecord(
      {
        conversations: [
          { from: 'human', value: 'h' },
          { from: 'gpt', value: 'g' },
        ],
        system: 'col',
      },
      sharegpt,
      ctx,
    ),
  );
  assert.equal(noSys._system, 'col');
});

test('sharegpt: alternation and count rules, with the message and rule named', () => {
  const twoHumans = {
    conversations: [
      { from: 'human', value: 'a' },
      { from: 'human', value: 'b' },
    ],
  };
  assert.deepEqual(bad(convertRecord(twoHumans, sharegpt, ctx)), {
    field: 'conversations[1].from',
    rule:
      'turn 2 must be "gpt" or "function_call" (users/observations take odd turns, answers/function calls even ones), ' +
      'got string "human"',
  });
  const startsWithGpt = { conversations: [{ from: 'gpt', value: 'a' }] };
  assert.equal(bad(convertRecord(startsWithGpt, sharegpt, ctx)).field, 'conversations[0].from');
  const odd = { conversations: [{ from: 'human', value: 'a' }] };
  assert.deepEqual(bad(convertRecord(odd, sharegpt, ctx)), {
    field: 'conversations',
    rule: 'the conversation must end with an answer (even count), but it has 1 messages',
  });
  assert.equal(bad(convertRecord({ conversations: [] }, sharegpt, ctx)).rule, 'the conversation is empty');
  assert.equal(
    bad(convertRecord({ conversations: 'hi' }, sharegpt, ctx)).rule,
    'must be a list of messages, got string "hi"',
  );
  const unknownRole = {
    conversations: [
      { from: 'user', value: 'a' },
      { from: 'gpt', value: 'b' },
    ],
  };
  assert.equal(bad(convertRecord(unknownRole, sharegpt, ctx)).field, 'conversations[0].from');
  const systemInMiddle = {
    conversations: [
      { from: 'human', value: 'a' },
      { from: 'system', value: 'b' },
    ],
  };
  assert.equal(bad(convertRecord(systemInMiddle, sharegpt, ctx)).field, 'conversations[1].from');
  const badContent = {
    conversations: [
      { from: 'human', value: null },
      { from: 'gpt', value: 'b' },
    ],
  };
  assert.equal(bad(convertRecord(badContent, sharegpt, ctx)).field, 'conversations[0].value');
});

test('sharegpt with remapped tags, ranking and KTO', () => {
  const tags = { role_tag: 'role', content_tag: 'content', user_tag: 'user', assistant_tag: 'assistant' };
  const rank = parseDatasetEntry('r', {
    file_name: 'f',
    formatting: 'sharegpt',
    ranking: true,
    columns: { messages: 'm', chosen: 'c', rejected: 'r' },
    tags,
  });
  const ex = ok(
    convertRecord(
      {
        m: [
          { role: 'user', content: 'q1' },
          { role: 'assistant', content: 'a1' },
          { role: 'user', content: 'q2' },
        ],
        c: { role: 'assistant', content: 'good' },
        r: { role: 'assistant', content: 'bad' },
      },
      rank,
      ctx,
    ),
  );
  assert.deepEqual(
    [ex._prompt, ex._response],
    [
      [u('q1'), a('a1'), u('q2')],
      [a('good'), a('bad')],
    ],
  );
  const evenRanking = {
    m: [
      { role: 'user', content: 'q' },
      { role: 'assistant', content: 'a' },
    ],
    c: { role: 'assistant', content: 'x' },
    r: { role: 'assistant', content: 'y' },
  };
  assert.match(bad(convertRecord(evenRanking, rank, ctx)).rule, /ranking conversation must end with a user turn/);
  const chosenByUser = {
    m: [{ role: 'user', content: 'q' }],
    c: { role: 'user', content: 'x' },
    r: { role: 'assistant', content: 'y' },
  };
  assert.equal(bad(convertRecord(chosenByUser, rank, ctx)).field, 'c');

  const kto = parseDatasetEntry('k', {
    file_name: 'f',
    formatting: 'sharegpt',
    columns: { messages: 'm', kto_tag: 'label' },
    tags,
  });
  const k = ok(
    convertRecord(
      {
        m: [
          { role: 'user', content: 'q' },
          { role: 'assistant', content: 'meh' },
        ],
        label: false,
      },
      kto,
      ctx,
    ),
  );
  assert.deepEqual([k._prompt, k._response], [[u('q')], [a(''), a('meh')]]);
});

test('openai: tool calls become function turns, tool results merge into one observation', () => {
  const attr = parseDatasetEntry('o', {
    file_name: 'f',
    formatting: 'openai',
    columns: { messages: 'messages', tools: 'tools' },
  });
  const row: DataRow = {
    tools: [{ type: 'function', function: { name: 'add' } }],
    messages: [
      { role: 'system', content: 'sys' },
      {
        role: 'user',
        content: [
          { type: 'text', text: 'add 1 and 2, ' },
          { type: 'text', text: 'then 3 and 4' },
        ],
      },
      {
        role: 'assistant',
        content: null,
        tool_calls: [
          { id: 'a', type: 'function', function: { name: 'add', arguments: '{"x": 1, "y": 2}' } },
          { id: 'b', type: 'function', function: { name: 'add', arguments: '{"x": 3, "y": 4}' } },
        ],
      },
      { role: 'tool', tool_call_id: 'a', content: '3' },
      { role: 'tool', tool_call_id: 'b', content: '7' },
      { role: 'assistant', content: '3 and 7.' },
    ],
  };
  const ex = ok(convertRecord(row, attr, ctx));
  assert.deepEqual(ex._prompt, [
    u('add 1 and 2, then 3 and 4'),
    {
      role: 'function',
      content:
        '[{"name": "add", "arguments": "{\\"x\\": 1, \\"y\\": 2}"}, {"name": "add", "arguments": "{\\"x\\": 3, \\"y\\": 4}"}]',
    },
    { role: 'observation', content: '3\n</tool_response>\n<tool_response>\n7' },
  ]);
  assert.deepEqual(ex._response, [a('3 and 7.')]);
  assert.equal(ex._system, 'sys');
  assert.equal(ex._tools, '[{"type": "function", "function": {"name": "add"}}]');
  const twoAssistants = {
    messages: [
      { role: 'user', content: 'a' },
      { role: 'assistant', content: 'b' },
      { role: 'assistant', content: 'c' },
    ],
  };
  assert.match(
    bad(convertRecord(twoAssistants, attr, ctx)).rule,
    /aligned turn 3 is assistant but must be user or observation/,
  );
});

test('media columns: a single path becomes a list; local relative paths resolve against media_dir', () => {
  const dir = tempDataDir({ 'img/cat.png': 'png' });
  const attr = parseDatasetEntry('m', { file_name: 'f', columns: { prompt: 'p', response: 'r', images: 'images' } });
  const ex = ok(
    convertRecord({ p: '<image>what?', r: 'a cat', images: ['img/cat.png', 'img/missing.png'] }, attr, {
      mediaDir: dir,
    }),
  );
  assert.deepEqual(ex._images, [join(dir, 'img/cat.png'), 'img/missing.png']);
  assert.deepEqual(ok(convertRecord({ p: 'x', r: 'y', images: 'img/cat.png' }, attr, { mediaDir: dir }))._images, [
    join(dir, 'img/cat.png'),
  ]);
  assert.equal(ok(convertRecord({ p: 'x', r: 'y', images: [] }, attr, { mediaDir: dir }))._images, null);
});

test("pythonJsonDumps matches Python's json.dumps(ensure_ascii=False)", () => {
  assert.equal(pythonJsonText({ a: [1, 'é', null, true], b: {} }), '{"a": [1, "é", null, true], "b": {}}');
  assert.equal(pythonJsonText('line\n"q"'), '"line\\n\\"q\\""');
});
