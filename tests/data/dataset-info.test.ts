import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { DatasetConfigError, getDatasetList, parseDatasetEntry, UnknownDatasetError } from '../../src/data/index.js';
import { tempDataDir } from './temp-data.js';

function withEnv(vars: Record<string, string | undefined>, fn: () => void): void {
  const saved = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
  for (const [k, v] of Object.entries(vars)) v === undefined ? delete process.env[k] : (process.env[k] = v);
  try {
    fn();
  } finally {
    for (const [k, v] of Object.entries(saved)) v === undefined ? delete process.env[k] : (process.env[k] = v);
  }
}

test('an entry with only file_name gets every LLaMA-Factory default', () => {
  const a = parseDatasetEntry('x', { file_name: 'x.json' });
  assert.equal(a.load_from, 'file');
  assert.equal(a.dataset_name, 'x.json');
  assert.equal(a.formatting, 'alpaca');
  assert.equal(a.ranking, false);
  assert.equal(a.split, 'train');
  assert.equal(a.subset, null);
  assert.equal(a.folder, null);
  assert.equal(a.num_samples, null);
  assert.deepEqual(a.columns, {
    prompt: 'instruction',
    query: 'input',
    response: 'output',
    history: null,
    messages: 'conversations',
    system: null,
    tools: null,
    images: null,
    videos: null,
    audios: null,
    chosen: null,
    rejected: null,
    kto_tag: null,
  });
  assert.deepEqual(a.tags, {
    role_tag: 'from',
    content_tag: 'value',
    user_tag: 'human',
    assistant_tag: 'gpt',
    observation_tag: 'observation',
    function_tag: 'function_call',
    system_tag: 'system',
  });
});

test('a columns object resets the columns it does not name, a tags object the tags', () => {
  const pt = parseDatasetEntry('pt', { file_name: 'c4.jsonl', columns: { prompt: 'text' } });
  assert.equal(pt.columns.prompt, 'text');
  assert.equal(pt.columns.query, null);
  assert.equal(pt.columns.response, null);
  const sg = parseDatasetEntry('sg', {
    file_name: 'a.json',
    formatting: 'sharegpt',
    columns: { messages: 'messages' },
    tags: { role_tag: 'role', content_tag: 'content', user_tag: 'user', assistant_tag: 'assistant' },
  });
  assert.equal(sg.tags.role_tag, 'role');
  assert.equal(sg.tags.observation_tag, null);
  assert.equal(sg.tags.system_tag, null);
});

test('every key is read: subset, split, folder, num_samples, ranking, all columns and tags', () => {
  const a = parseDatasetEntry('full', {
    hf_hub_url: 'org/repo',
    subset: 'en',
    split: 'validation',
    folder: 'data',
    num_samples: 7,
    ranking: true,
    formatting: 'sharegpt',
    columns: {
      messages: 'conv',
      system: 'sys',
      tools: 'tl',
      images: 'img',
      videos: 'vid',
      audios: 'aud',
      chosen: 'c',
      rejected: 'r',
      kto_tag: 'k',
    },
    tags: {
      role_tag: 'r',
      content_tag: 'c',
      user_tag: 'u',
      assistant_tag: 'a',
      observation_tag: 'o',
      function_tag: 'f',
      system_tag: 's',
    },
  });
  assert.equal(a.load_from, 'hf_hub');
  assert.deepEqual([a.subset, a.split, a.folder, a.num_samples, a.ranking], ['en', 'validation', 'data', 7, true]);
  assert.deepEqual(
    [a.columns.messages, a.columns.images, a.columns.videos, a.columns.audios, a.columns.kto_tag],
    ['conv', 'img', 'vid', 'aud', 'k'],
  );
  assert.equal(a.tags.function_tag, 'f');
});

test('source precedence and the USE_MODELSCOPE_HUB / USE_OPENMIND_HUB switches', () => {
  const entry = { hf_hub_url: 'hf/r', ms_hub_url: 'ms/r', om_hub_url: 'om/r', file_name: 'f.json' };
  withEnv({ USE_MODELSCOPE_HUB: undefined, USE_OPENMIND_HUB: undefined }, () => {
    assert.equal(parseDatasetEntry('d', entry).load_from, 'hf_hub');
    assert.equal(parseDatasetEntry('d', { ms_hub_url: 'ms/r' }).load_from, 'ms_hub');
    assert.equal(parseDatasetEntry('d', { script_url: 's', file_name: 'f' }).load_from, 'script');
    assert.equal(parseDatasetEntry('d', { cloud_file_name: 's3://b/f.json', file_name: 'f' }).load_from, 'cloud_file');
  });
  withEnv({ USE_MODELSCOPE_HUB: '1', USE_OPENMIND_HUB: undefined }, () => {
    const a = parseDatasetEntry('d', entry);
    assert.deepEqual([a.load_from, a.dataset_name], ['ms_hub', 'ms/r']);
  });
  withEnv({ USE_MODELSCOPE_HUB: undefined, USE_OPENMIND_HUB: 'true' }, () => {
    assert.equal(parseDatasetEntry('d', entry).load_from, 'om_hub');
  });
});

test('openai formatting defaults to the OpenAI keys and roles', () => {
  const a = parseDatasetEntry('o', { file_name: 'o.json', formatting: 'openai' });
  assert.equal(a.columns.messages, 'messages');
  assert.deepEqual(
    [a.tags.role_tag, a.tags.content_tag, a.tags.user_tag, a.tags.observation_tag],
    ['role', 'content', 'user', 'tool'],
  );
});

test('legacy columns.role/content become the role and content tags', () => {
  const a = parseDatasetEntry('l', {
    file_name: 'l.json',
    formatting: 'sharegpt',
    columns: { role: 'r', content: 'c' },
  });
  assert.equal(a.tags.role_tag, 'r');
  assert.equal(a.tags.content_tag, 'c');
});

test('wrong keys and values raise DatasetConfigError naming the file, dataset and key', () => {
  const cases: [object, RegExp][] = [
    [{ file_name: 'a', formatting: 'chatml' }, /cfg › d: "formatting" must be alpaca, sharegpt, openai or text2sql/],
    [{ file_name: 'a', ranking: 'yes' }, /"ranking" must be true or false/],
    [{ file_name: 'a', num_samples: -2 }, /"num_samples" must be a positive integer/],
    [{ file_name: 'a', columns: { promt: 'x' } }, /cfg › d › columns: unknown column "promt"/],
    [{ file_name: 'a', tags: { user: 'x' } }, /unknown tag "user"/],
    [{ file_nme: 'a' }, /unknown key "file_nme"/],
    [{ formatting: 'alpaca' }, /no data source/],
    [{ file_name: 3 }, /"file_name" must be a string/],
  ];
  for (const [entry, re] of cases) {
    assert.throws(
      () => parseDatasetEntry('d', entry as never, 'cfg › d'),
      (e: Error) => {
        assert.ok(e instanceof DatasetConfigError, e.message);
        assert.match(e.message, re);
        return true;
      },
    );
  }
});

test('getDatasetList: comma-separated names, unknown names list the defined ones, malformed JSON names the spot', async () => {
  const dir = tempDataDir({
    'dataset_info.json': { alpha: { file_name: 'a.json' }, beta: { file_name: 'b.json', formatting: 'sharegpt' } },
  });
  const attrs = await getDatasetList(' alpha , beta', dir);
  assert.deepEqual(
    attrs.map((a) => [a.name, a.formatting]),
    [
      ['alpha', 'alpaca'],
      ['beta', 'sharegpt'],
    ],
  );
  await assert.rejects(getDatasetList('alpha,gamma', dir), (e: Error) => {
    assert.ok(e instanceof UnknownDatasetError);
    assert.match(e.message, /Undefined dataset "gamma" in .*dataset_info\.json\. Defined datasets: alpha, beta\./);
    return true;
  });
  const bad = tempDataDir({
    'dataset_info.json': '{\n  "a": {"file_name": "a.json"},\n  "b": {"file_name" "b.json"}\n}',
  });
  await assert.rejects(getDatasetList('a', bad), /dataset_info\.json is not valid JSON: .* at line 3 column 21/);
  await assert.rejects(getDatasetList('a', join(bad, 'nowhere')), /Cannot open .*nowhere.*dataset_info\.json/);
  assert.deepEqual(await getDatasetList('', join(bad, 'nowhere')), []);
  const online = await getDatasetList('org/some-set', 'ONLINE');
  assert.equal(online[0]?.load_from, 'hf_hub');
  assert.equal(online[0]?.dataset_name, 'org/some-set');
});
