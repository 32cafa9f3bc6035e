/**
 * ~2 MB of varied English (about 450k Llama-3 tokens, more with Mistral's): one record or prompt far longer than
 * any context, long enough that spreading its token ids into a call (`ids.push(...ids2)`) overflows the stack.
 */
const SENTENCE = 'The quick brown fox number N jumps over the lazy dog near river N. ';

export const LONG_TEXT = Array.from({ length: 30_000 }, (_, i) => SENTENCE.replaceAll('N', String(i))).join('');
