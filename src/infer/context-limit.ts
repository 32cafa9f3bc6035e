/**
 * The model's context bounds every generation: prompt + new tokens <= max_model_len (vLLM's name; the default is
 * the config's max_position_embeddings). A request that asks for more is refused before any compute with a
 * ContextLengthError, which the API answers as OpenAI does (400, code `context_length_exceeded`) and the terminal
 * chat reports before it goes on. A request that names no max_tokens gets what is left of the context, at most the
 * generating default.
 */

/** Thrown (and rebuilt across the worker boundary by name) when a request does not fit the context. */
export class ContextLengthError extends Error {
  readonly userFacing = true;
  constructor(message: string) {
    super(message);
    this.name = 'ContextLengthError';
  }
}

export function isContextLengthError(e: unknown): boolean {
  return e instanceof Error && e.name === 'ContextLengthError';
}

/** What the request calls its input, for the message: chat `messages`, a completion's `prompt`, an `input`. */
export type InputName = 'messages' | 'prompt' | 'input';

/**
 * The new-token budget of one generation: `requested` (the request's max_tokens) when prompt + requested fits,
 * else what is left of the context capped at `fallback` (the generating default) when none was requested.
 */
export function newTokenBudget(
  promptTokens: number,
  requested: number | undefined,
  fallback: number,
  maxModelLen: number,
  input: InputName,
): number {
  const room = maxModelLen - promptTokens;
  const limit = `This model's maximum context length is ${maxModelLen} tokens`;
  if (room < 1) {
    throw new ContextLengthError(
      `${limit}, but your ${input} ${input === 'messages' ? 'are' : 'is'} ${promptTokens} tokens long, which leaves ` +
        `no room for a reply. Shorten the ${input}.`,
    );
  }
  if (requested === undefined) return Math.min(fallback, room);
  if (requested > room) {
    throw new ContextLengthError(
      `${limit}, but you requested ${promptTokens + requested} tokens (${promptTokens} in the ${input}, ` +
        `${requested} in the completion). Shorten the ${input} or lower max_tokens to at most ${room}.`,
    );
  }
  return requested;
}

/** One input of an embedding or scoring batch must fit the context on its own. */
export function checkInputLength(tokens: number, index: number, maxModelLen: number): void {
  if (tokens > maxModelLen) {
    throw new ContextLengthError(
      `This model's maximum context length is ${maxModelLen} tokens, but input ${index} is ${tokens} tokens long. ` +
        'Shorten it.',
    );
  }
}

/** max_model_len as given (vLLM's rule: no longer than the positions the model was built for), or the default. */
export function resolveMaxModelLen(requested: number | null | undefined, maxPositionEmbeddings: number): number {
  if (requested == null) return maxPositionEmbeddings;
  if (!Number.isInteger(requested) || requested < 1) {
    throw new RangeError(`max_model_len must be an integer >= 1, got ${requested}`);
  }
  if (requested > maxPositionEmbeddings) {
    throw new RangeError(
      `max_model_len ${requested} is more than the model's max_position_embeddings ${maxPositionEmbeddings}: ` +
        `choose at most ${maxPositionEmbeddings}`,
    );
  }
  return requested;
}
