/** OpenAI's `usage` object of a response: tokens read, tokens generated (absent for embeddings) and their sum. */
export interface TokenUsage {
  prompt_tokens: number;
  completion_tokens?: number;
  total_tokens: number;
}

export function tokenUsage(promptTokens: number, completionTokens?: number): TokenUsage {
  if (completionTokens === undefined) return { prompt_tokens: promptTokens, total_tokens: promptTokens };
  return {
    prompt_tokens: promptTokens,
    completion_tokens: completionTokens,
    total_tokens: promptTokens + completionTokens,
  };
}
