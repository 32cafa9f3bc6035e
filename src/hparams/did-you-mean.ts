/** "Did you mean" for misspelled argument names and choices. */

/**
 * Edit distance counting insert, delete, substitute and swapping two neighbours as 1 each (optimal string
 * alignment): a swapped pair is the most common typo (`stf` -> `sft`).
 */
export function editDistance(a: string, b: string): number {
  const rows: number[][] = [Array.from({ length: b.length + 1 }, (_, j) => j)];
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    const prev = rows[i - 1] as number[];
    for (let j = 1; j <= b.length; j++) {
      let d = Math.min(
        (prev[j - 1] as number) + (a[i - 1] === b[j - 1] ? 0 : 1),
        (prev[j] as number) + 1,
        (cur[j - 1] as number) + 1,
      );
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        d = Math.min(d, ((rows[i - 2] as number[])[j - 2] as number) + 1);
      }
      cur.push(d);
    }
    rows.push(cur);
  }
  return (rows[a.length] as number[])[b.length] as number;
}

/**
 * The closest candidate, or undefined when nothing is close enough to be a plausible typo: within a third of the
 * word's length (at least 2 edits), or a candidate that contains the word / is contained in it (`lora_r` ->
 * `lora_rank`).
 */
export function didYouMean(word: string, candidates: Iterable<string>): string | undefined {
  const w = word.toLowerCase();
  let best: string | undefined;
  let bestScore = Number.POSITIVE_INFINITY;
  for (const c of candidates) {
    const d = editDistance(w, c.toLowerCase());
    // A shared prefix or containment is a strong hint even when the edit distance is large.
    const contained = w.length >= 4 && (c.includes(w) || w.includes(c));
    const score = contained ? Math.min(d, 1.5) : d;
    if (score < bestScore) {
      bestScore = score;
      best = c;
    }
  }
  return bestScore <= Math.max(2, Math.floor(w.length / 3)) ? best : undefined;
}
