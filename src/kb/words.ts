/**
 * The words BM25 indexes and queries: jieba words (search mode, HMM on) for Chinese runs and lower-cased English
 * word pieces with a light suffix stemmer, so "retrieves"/"retrieval"/"retrieved" meet. Stop words of both
 * languages are dropped: they would match every chunk and drown the rare words BM25 should weigh.
 */
import { Jieba } from '@node-rs/jieba';
import { dict } from '@node-rs/jieba/dict.js';

let jieba: Jieba | undefined;

const HAN = /[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+/gu;
const LATIN_OR_DIGIT = /[\p{L}\p{N}]+/gu;

const ENGLISH_STOP = new Set(
  (
    'a an the and or but if of to in on at by for with from as is are was were be been being it its this that ' +
    'these those there here he she they we you i me him her them his their our your my not no do does did have ' +
    'has had which who whom whose what when where why how than then so such can could would should will shall ' +
    'may might must about into over after before up down out s t'
  ).split(' '),
);
const CHINESE_STOP = new Set(
  '的 了 是 在 和 与 及 或 也 都 就 而 之 其 这 那 哪 些 个 一 不 有 我 你 他 她 它 们 吗 呢 吧 啊 什么 怎么 如何 为什么 哪个 哪些 谁 请问 请 中 里 上 下 说 写 首 句'.split(
    ' ',
  ),
);

/** "retrieves" -> "retriev", "stories" -> "stori": enough to meet plural and tense forms, not a full Porter stemmer. */
export function stem(word: string): string {
  if (word.length <= 3) return word;
  if (word.endsWith("'s")) word = word.slice(0, -2);
  for (const suffix of ['ingly', 'edly', 'ing', 'ies', 'ied', 'ed', 'es', 'ly', 's']) {
    if (word.endsWith(suffix) && word.length - suffix.length >= 3) {
      if (suffix === 's' && /(ss|us|is)$/.test(word)) return word;
      return word.slice(0, -suffix.length);
    }
  }
  return word;
}

/** The index words of `text`, in order (repeats kept: BM25 counts them). */
export function words(text: string): string[] {
  const out: string[] = [];
  let last = 0;
  for (const m of text.matchAll(HAN)) {
    latinWords(text.slice(last, m.index), out);
    jieba ??= Jieba.withDict(dict);
    for (const w of jieba.cutForSearch(m[0], true)) if (!CHINESE_STOP.has(w)) out.push(w);
    last = m.index + m[0].length;
  }
  latinWords(text.slice(last), out);
  return out;
}

function latinWords(text: string, out: string[]): void {
  for (const m of text.toLowerCase().matchAll(LATIN_OR_DIGIT)) {
    if (!ENGLISH_STOP.has(m[0])) out.push(stem(m[0]));
  }
}

/** Whether a text is mostly Chinese (picks the zh prompt template). */
export function isMostlyChinese(text: string): boolean {
  const han = text.match(HAN)?.join('').length ?? 0;
  const latin = text.match(/[A-Za-z]/g)?.length ?? 0;
  return han > 0 && han >= latin / 4;
}
