/**
 * Token logprobs in the two OpenAI response shapes: chat's `{content: [{token, logprob, bytes, top_logprobs}],
 * refusal}` and legacy completions' parallel lists `{tokens, token_logprobs, top_logprobs: [{token: logprob}],
 * text_offset}` (offsets into the completion text, counted in UTF-16 units as JavaScript and Python 3.x str do for BMP text).
 */
import type { TokenLogprob } from '../infer/chat-engine.js';

export function chatLogprobs(requested: boolean, entries: readonly TokenLogprob[] | undefined) {
  return requested ? { content: entries ?? [], refusal: null } : null;
}

export interface CompletionLogprobs {
  tokens: string[];
  token_logprobs: number[];
  top_logprobs: Record<string, number>[];
  text_offset: number[];
}

/** `start`: offset of the first token in the completion text (a stream's earlier chunks came before it). */
export function completionLogprobs(
  requested: boolean,
  entries: readonly TokenLogprob[] | undefined,
  start = 0,
): CompletionLogprobs | null {
  if (!requested) return null;
  const out: CompletionLogprobs = { tokens: [], token_logprobs: [], top_logprobs: [], text_offset: [] };
  let offset = start;
  for (const e of entries ?? []) {
    out.tokens.push(e.token);
    out.token_logprobs.push(e.logprob);
    out.top_logprobs.push(Object.fromEntries(e.top_logprobs.map((t) => [t.token, t.logprob])));
    out.text_offset.push(offset);
    offset += e.token.length;
  }
  return out;
}
