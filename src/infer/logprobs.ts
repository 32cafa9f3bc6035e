/**
 * Token log-probabilities in OpenAI's chat shape (`choices[].logprobs.content[]`): the chosen token's and the
 * `top` most likely alternatives', from one row of next-token scores [V]. The scores are the distribution the
 * request's logit processors produced (penalties, grammar mask) before temperature and top_p, so a grammar-masked
 * token never appears and the chosen token's logprob is always finite.
 */
import type { TokenBytes } from './token-bytes.js';

export interface TopLogprob {
  token: string;
  logprob: number;
  bytes: number[];
}

export interface TokenLogprob extends TopLogprob {
  top_logprobs: TopLogprob[];
}

/** OpenAI's limit on top_logprobs. */
export const MAX_TOP_LOGPROBS = 20;

/** log-softmax of `scores` [V] at `chosen`, with the `top` best ids (ties: lower id first). */
export function tokenLogprob(scores: Float32Array, chosen: number, top: number, table: TokenBytes): TokenLogprob {
  let max = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < scores.length; i++) if ((scores[i] as number) > max) max = scores[i] as number;
  let total = 0;
  for (let i = 0; i < scores.length; i++) total += Math.exp((scores[i] as number) - max);
  const logZ = max + Math.log(total);
  const entry = (id: number): TopLogprob => ({
    token: table.text[id] ?? '',
    logprob: (scores[id] as number) - logZ,
    bytes: Array.from(table.bytes[id] ?? []),
  });
  return { ...entry(chosen), top_logprobs: topIds(scores, top).map(entry) };
}

/** The `k` ids of largest score, best first: one pass keeping a small sorted list. */
function topIds(scores: Float32Array, k: number): number[] {
  if (k <= 0) return [];
  const ids: number[] = [];
  for (let i = 0; i < scores.length; i++) {
    const s = scores[i] as number;
    if (s === Number.NEGATIVE_INFINITY) continue;
    if (ids.length < k) ids.push(i);
    else if (s > (scores[ids[k - 1] as number] as number)) ids[k - 1] = i;
    else continue;
    for (let j = ids.length - 1; j > 0 && (scores[ids[j - 1] as number] as number) < s; j--) {
      ids[j] = ids[j - 1] as number;
      ids[j - 1] = i;
    }
  }
  return ids;
}
