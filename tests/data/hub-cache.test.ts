import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  getDataset,
  globToRegExp,
  HubDownloadError,
  parseDatasetEntry,
  resolveSplitFiles,
} from '../../src/data/index.js';
import { writeParquet } from '../util/parquet-writer.js';
import { tempDataDir } from './temp-data.js';

const SHA = '0123456789abcdef0123456789abcdef01234567';
const snap = `datasets--org--demo/snapshots/${SHA}`;

const cache = tempDataDir({
  'datasets--org--demo/refs/main': SHA,
  [`${snap}/data/train-00000-of-00001.parquet`]: writeParquet([
    { name: 'instruction', values: ['cached q0', 'cached q1'] },
    { name: 'output', values: ['a0', 'a1'] },
  ]),
  [`${snap}/data/test-00000-of-00001.parquet`]: writeParquet([
    { name: 'instruction', values: ['test q'] },
    { name: 'output', values: ['t'] },
  ]),
  [`${snap}/README.md`]: '# demo\n',
});

test('a dataset already in the HF cache loads without the network, split by file name', async () => {
  const dir = tempDataDir({
    'dataset_info.json': { demo: { hf_hub_url: 'org/demo' }, demo_test: { hf_hub_url: 'org/demo', split: 'test' } },
  });
  const m = await getDataset(
    { dataset: 'demo', eval_dataset: 'demo_test', dataset_dir: dir, cache_dir: cache },
    'sft',
    {
      log: () => {},
    },
  );
  assert.deepEqual(
    m.train_dataset?.map((e) => e._prompt[0]?.content),
    ['cached q0', 'cached q1'],
  );
  assert.deepEqual(
    m.eval_dataset?.map((e) => e._prompt[0]?.content),
    ['test q'],
  );
});

test('README configs pick the subset files; an unknown subset lists the available ones', () => {
  const repo = tempDataDir({
    'README.md':
      '---\nconfigs:\n- config_name: en\n  data_files:\n  - split: train\n    path: en/*.jsonl\n' +
      '- config_name: zh\n  data_dir: zh\n  data_files: "**/*.json"\n---\n# card\n',
    'en/part.jsonl': '{"a": 1}\n',
    'zh/sub/part.json': '[]',
    'other.json': '[]',
  });
  const attr = (over: object) => parseDatasetEntry('d', { hf_hub_url: 'o/r', ...over });
  assert.deepEqual(resolveSplitFiles(repo, attr({ subset: 'en' })), [join(repo, 'en/part.jsonl')]);
  assert.deepEqual(resolveSplitFiles(repo, attr({ subset: 'zh' })), [join(repo, 'zh/sub/part.json')]);
  assert.throws(() => resolveSplitFiles(repo, attr({ subset: 'fr' })), /has no subset "fr"; available: en, zh/);
  assert.throws(() => resolveSplitFiles(repo, attr({})), /several subsets \(en, zh\); set "subset"/);
  assert.throws(() => resolveSplitFiles(repo, attr({ subset: 'en', split: 'test' })), /no data files for split "test"/);
});

test('globs: ** spans folders, * does not', () => {
  assert.ok(globToRegExp('**/*.json').test('a/b/c.json'));
  assert.ok(globToRegExp('**/*.json').test('c.json'));
  assert.ok(!globToRegExp('*.json').test('a/c.json'));
  assert.ok(globToRegExp('data/train-*').test('data/train-0001.parquet'));
});

test('dataset_dir REMOTE:<repo> fails fast offline with the repo named', async () => {
  const started = Date.now();
  await assert.rejects(
    getDataset(
      { dataset: 'x', dataset_dir: 'REMOTE:lmforge-test/no-such-repo-91c2', cache_dir: cache, hub_timeout_ms: 5000 },
      'sft',
    ),
    (e: Error) => e instanceof HubDownloadError && /"lmforge-test\/no-such-repo-91c2"/.test(e.message),
  );
  assert.ok(Date.now() - started < 15_000);
});
