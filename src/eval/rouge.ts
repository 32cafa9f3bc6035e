/**
 * ROUGE-1/2/L as the `rouge-chinese` package (a fork of pltrdy's `rouge`) computes them for one hypothesis and one
 * reference, both already space-separated words: each text is cut into sentences at 。！？? (and ...... / ……),
 * each sentence's whitespace runs collapse to one space, and the words of all sentences are pooled.
 * - ROUGE-N: the SETS of n-grams (each distinct n-gram counts once), p = overlap / |hyp|, r = overlap / |ref|.
 * - ROUGE-L ("summary level"): the LCS of the pooled word lists, p = lcs / n, r = lcs / m.
 * - F = 2 * (p * r / (p + r + 1e-8)) for all three.
 */

export interface RougeScore {
  f: number;
  p: number;
  r: number;
}

export interface RougeScores {
  'rouge-1': RougeScore;
  'rouge-2': RougeScore;
  'rouge-l': RougeScore;
}

/** Characters Python's `str.split()` treats as whitespace (JavaScript's \s differs: \x1c-\x1f, \x85, \ufeff). */
const PY_WHITESPACE = '\\t\\n\\v\\f\\r\\x1c-\\x1f \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';
const PY_WS_RUN = new RegExp(`[${PY_WHITESPACE}]+`, 'u');
const PY_WS_TRAIL = new RegExp(`[${PY_WHITESPACE}]+$`, 'u');

/** Python's `s.split()`: words between whitespace runs, no empty strings. */
export function pythonSplit(s: string): string[] {
  return s.split(PY_WS_RUN).filter((w) => w.length > 0);
}

/** rouge-chinese's `cut_sent`. */
export function cutSentences(para: string): string[] {
  para = para.replace(/([。！？?])([^”’])/gu, '$1\n$2');
  para = para.replace(/(\.{6})([^”’])/gu, '$1\n$2');
  para = para.replace(/(…{2})([^”’])/gu, '$1\n$2');
  para = para.replace(/([。！？?][”’])([^，。！？?])/gu, '$1\n$2');
  return para.replace(PY_WS_TRAIL, '').split('\n');
}

function sentenceWords(text: string): string[] {
  const sentences = cutSentences(text)
    .filter((s) => s.length > 0)
    .map((s) => pythonSplit(s).join(' '));
  if (sentences.length === 0) throw new Error('ROUGE needs a non-empty hypothesis and reference.');
  // Python's "".split(" ") is [""], which JavaScript's split reproduces.
  return sentences.flatMap((s) => s.split(' '));
}

function f1(p: number, r: number): number {
  return 2 * ((p * r) / (p + r + 1e-8));
}

function ngramSet(words: readonly string[], n: number): Set<string> {
  const set = new Set<string>();
  for (let i = 0; i + n <= words.length; i++) set.add(JSON.stringify(words.slice(i, i + n)));
  return set;
}

function rougeN(hyp: readonly string[], ref: readonly string[], n: number): RougeScore {
  const h = ngramSet(hyp, n);
  const r = ngramSet(ref, n);
  let overlap = 0;
  for (const g of h) if (r.has(g)) overlap++;
  const p = h.size === 0 ? 0 : overlap / h.size;
  const rec = r.size === 0 ? 0 : overlap / r.size;
  return { f: f1(p, rec), p, r: rec };
}

export function lcsLength(x: readonly string[], y: readonly string[]): number {
  let prev = new Array<number>(y.length + 1).fill(0);
  let cur = new Array<number>(y.length + 1).fill(0);
  for (let i = 1; i <= x.length; i++) {
    for (let j = 1; j <= y.length; j++) {
      cur[j] = x[i - 1] === y[j - 1] ? prev[j - 1]! + 1 : Math.max(prev[j]!, cur[j - 1]!);
    }
    [prev, cur] = [cur, prev];
  }
  return prev[y.length]!;
}

function rougeL(hyp: readonly string[], ref: readonly string[]): RougeScore {
  const lcs = lcsLength(ref, hyp);
  const r = lcs / ref.length;
  const p = lcs / hyp.length;
  return { f: f1(p, r), p, r };
}

/** `Rouge().get_scores(hypothesis, reference)[0]`. */
export function rougeScores(hypothesis: string, reference: string): RougeScores {
  const hyp = sentenceWords(hypothesis);
  const ref = sentenceWords(reference);
  return { 'rouge-1': rougeN(hyp, ref, 1), 'rouge-2': rougeN(hyp, ref, 2), 'rouge-l': rougeL(hyp, ref) };
}
