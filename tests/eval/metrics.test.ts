import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { brevityPenalty, modifiedPrecision, sentenceBleu } from '../../src/eval/bleu.js';
import { computeSimilarity, jiebaCut, sampleSimilarity, writePredictions } from '../../src/eval/metrics.js';
import { fsum } from '../../src/eval/python-math.js';
import { cutSentences, lcsLength, pythonSplit, rougeScores } from '../../src/eval/rouge.js';

const f1 = (p: number, r: number) => 2 * ((p * r) / (p + r + 1e-8));
const chars = (s: string) => Array.from(s);

test('jieba cuts as Python jieba does (HMM on), keeping spaces as words', () => {
  assert.deepEqual(jiebaCut('今天天气很好'), ['今天天气', '很', '好']);
  assert.deepEqual(jiebaCut('今天天气不错'), ['今天天气', '不错']);
  assert.deepEqual(jiebaCut('the cat'), ['the', ' ', 'cat']);
});

test('NLTK modified precision clips by the reference count and never divides by 0', () => {
  // hyp a a a b / ref a b a b: unigrams a:min(3,2) + b:min(1,2) = 3 of 4; bigrams aa:0 + ab:min(1,2) = 1 of 3.
  assert.deepEqual(modifiedPrecision(chars('abab'), chars('aaab'), 1), { numerator: 3, denominator: 4 });
  assert.deepEqual(modifiedPrecision(chars('abab'), chars('aaab'), 2), { numerator: 1, denominator: 3 });
  assert.deepEqual(modifiedPrecision(chars('abab'), chars('aaab'), 3), { numerator: 0, denominator: 2 });
  assert.deepEqual(modifiedPrecision(chars('abc'), chars('ab'), 3), { numerator: 0, denominator: 1 });
  assert.equal(brevityPenalty(3, 2), Math.exp(1 - 3 / 2));
  assert.equal(brevityPenalty(3, 4), 1);
  assert.equal(brevityPenalty(3, 0), 0);
  assert.equal(brevityPenalty(4, 4), Math.exp(0));
});

test('sentence BLEU-4 with method3 smoothing, by hand', () => {
  // Unmatched orders become 1/(2^k * raw n-gram count), k counting the unmatched orders: 3-grams 1/(2*2), 4-grams 1/(4*1).
  assert.equal(
    sentenceBleu(chars('abab'), chars('aaab')),
    1 *
      Math.exp(fsum([0.25 * Math.log(3 / 4), 0.25 * Math.log(1 / 3), 0.25 * Math.log(1 / 4), 0.25 * Math.log(1 / 4)])),
  );
  // Shorter than 4 characters: no 3- or 4-grams at all (denominators 1), plus the brevity penalty exp(1 - 3/2).
  assert.equal(
    sentenceBleu(chars('abc'), chars('ab')),
    Math.exp(1 - 3 / 2) *
      Math.exp(0.25 * Math.log(1) + 0.25 * Math.log(1) + (0.25 * Math.log(0.5) + 0.25 * Math.log(0.25))),
  );
  // Chinese characters: 4/6, 3/5, 2/4, 1/3 matched, equal lengths.
  assert.equal(
    sentenceBleu(chars('今天天气不错'), chars('今天天气很好')),
    Math.exp(fsum([0.25 * Math.log(4 / 6), 0.25 * Math.log(3 / 5), 0.25 * Math.log(2 / 4), 0.25 * Math.log(1 / 3)])),
  );
  assert.equal(sentenceBleu(chars('abcd'), chars('abcd')), 1);
  assert.equal(sentenceBleu(chars('abc'), []), 0);
  assert.equal(sentenceBleu(chars('abc'), chars('xyz')), 0); // no unigram match: 0 before smoothing
});

test('rouge-chinese: sentence cutting and Python whitespace', () => {
  assert.deepEqual(cutSentences('我爱北京。天安门上太阳升！好'), ['我爱北京。', '天安门上太阳升！', '好']);
  assert.deepEqual(cutSentences('他说：“好。”然后走了'), ['他说：“好。”', '然后走了']);
  assert.deepEqual(cutSentences('end.   '), ['end.']);
  assert.deepEqual(pythonSplit(' a\u3000b\x1cc\ufeffd '), ['a', 'b', 'c\ufeffd']);
  assert.equal(lcsLength(['a', 'b', 'c', 'd'], ['b', 'd', 'a']), 2);
});

test('rouge-chinese ROUGE-1/2 count distinct n-grams; ROUGE-L uses the LCS of all words', () => {
  // hyp: the cat sat on the mat / ref: the cat is on the mat
  const s = rougeScores('the cat sat on the mat', 'the cat is on the mat');
  assert.deepEqual(s['rouge-1'], { p: 4 / 5, r: 4 / 5, f: f1(4 / 5, 4 / 5) }); // {the,cat,sat,on,mat} vs {the,cat,is,on,mat}
  assert.deepEqual(s['rouge-2'], { p: 3 / 5, r: 3 / 5, f: f1(3 / 5, 3 / 5) }); // the-cat, on-the, the-mat
  assert.deepEqual(s['rouge-l'], { p: 5 / 6, r: 5 / 6, f: f1(5 / 6, 5 / 6) }); // the cat on the mat
  // Repeated words count once in ROUGE-N but every time in ROUGE-L; sentences pool their words
  // ('a b 。c' -> 'a b 。' + 'c' -> a, b, 。, c), and punctuation without a space stays part of a word.
  const r = rougeScores('a a a b', 'a b 。c');
  assert.deepEqual(r['rouge-1'], { p: 2 / 2, r: 2 / 4, f: f1(1, 2 / 4) });
  assert.deepEqual(r['rouge-l'], { p: 2 / 4, r: 2 / 4, f: f1(2 / 4, 2 / 4) });
  const glued = rougeScores('a b', 'a b。c');
  assert.deepEqual(glued['rouge-1'], { p: 1 / 2, r: 1 / 3, f: f1(1 / 2, 1 / 3) }); // 'b。' is not 'b'
});

test('per-sample scores: x100, rounded to 4 decimals; empty and short predictions', () => {
  const round4 = (x: number) => Math.round(x * 1e4) / 1e4; // no ties in these values
  // jieba: [今天天气, 很, 好] vs [今天天气, 不错]: ROUGE-1 1/3 and 1/2, no shared bigram, LCS 1.
  const bleu = Math.exp(
    fsum([0.25 * Math.log(4 / 6), 0.25 * Math.log(3 / 5), 0.25 * Math.log(2 / 4), 0.25 * Math.log(1 / 3)]),
  );
  const zh = sampleSimilarity('今天天气很好', '今天天气不错');
  assert.deepEqual(zh, {
    'bleu-4': round4(bleu * 100),
    'rouge-1': round4(f1(1 / 3, 1 / 2) * 100),
    'rouge-2': 0,
    'rouge-l': round4(f1(1 / 3, 1 / 2) * 100),
  });
  // (2/3 * 3/5 * 1/2 * 1/3)^(1/4) = (1/15)^(1/4) = 0.508133...; F(1/3, 1/2) = 0.4.
  assert.deepEqual(zh, { 'bleu-4': 50.8133, 'rouge-1': 40, 'rouge-2': 0, 'rouge-l': 40 });
  // Identical: F = 2 / (2 + 1e-8) rounds to 100.
  assert.deepEqual(sampleSimilarity('机器学习很有趣', '机器学习很有趣'), {
    'bleu-4': 100,
    'rouge-1': 100,
    'rouge-2': 100,
    'rouge-l': 100,
  });
  // Empty or blank prediction: LLaMA-Factory's zero scores; BLEU 0 (no unigram).
  assert.deepEqual(sampleSimilarity('', '机器学习'), { 'bleu-4': 0, 'rouge-1': 0, 'rouge-2': 0, 'rouge-l': 0 });
  assert.deepEqual(sampleSimilarity('  ', '机器学习'), { 'bleu-4': 0, 'rouge-1': 0, 'rouge-2': 0, 'rouge-l': 0 });
  // Two identical characters: full precision on 1- and 2-grams, smoothed 3/4-grams 1/2 and 1/4.
  const short = sampleSimilarity('好的', '好的');
  assert.equal(short['bleu-4'], round4(Math.exp(0.25 * Math.log(0.5) + 0.25 * Math.log(0.25)) * 100));
  assert.equal(short['bleu-4'], 59.4604);
  assert.equal(short['rouge-1'], 100);
});

test('computeSimilarity averages the rounded per-sample scores under predict_ keys', () => {
  const m = computeSimilarity(['今天天气很好', '机器学习很有趣', ''], ['今天天气不错', '机器学习很有趣', '机器学习']);
  assert.deepEqual(m, {
    'predict_bleu-4': (50.8133 + 100 + 0) / 3,
    'predict_rouge-1': (40 + 100 + 0) / 3,
    'predict_rouge-2': (0 + 100 + 0) / 3,
    'predict_rouge-l': (40 + 100 + 0) / 3,
  });
  assert.throws(() => computeSimilarity(['a'], []), /1 predictions but 0 labels/);
});

test('writePredictions writes the jsonl and predict_results.json as Python would', () => {
  const dir = join(mkdtempSync(join(tmpdir(), 'lmf-pred-')), 'out');
  writePredictions(
    dir,
    [
      { prompt: '问：你好', predict: '你好！', label: '你好' },
      { prompt: 'q "x"', predict: 'a\nb', label: 'c' },
    ],
    { 'predict_bleu-4': 50, 'predict_rouge-1': 12.345678, predict_runtime: 0.00001 },
  );
  assert.equal(
    readFileSync(join(dir, 'generated_predictions.jsonl'), 'utf8'),
    '{"prompt": "问：你好", "predict": "你好！", "label": "你好"}\n{"prompt": "q \\"x\\"", "predict": "a\\nb", "label": "c"}\n',
  );
  assert.equal(
    readFileSync(join(dir, 'predict_results.json'), 'utf8'),
    '{\n    "predict_bleu-4": 50.0,\n    "predict_rouge-1": 12.345678,\n    "predict_runtime": 1e-05\n}',
  );
});
