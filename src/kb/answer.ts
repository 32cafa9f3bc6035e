/**
 * Answering from a knowledge base: rewrite a follow-up with the history (by the model), retrieve the top k over
 * the rewritten and the literal question, and either say "not found in the knowledge base" (nothing passed the
 * threshold: the model is not asked) or stream the model's answer to a prompt that numbers the sources.
 */
import type { GenerationOptions, Message, StreamPiece } from '../infer/chat-engine.js';
import { answerPrompt, NOT_FOUND, type PromptLanguage, rewritePrompt } from './prompt.js';
import type { Hit } from './types.js';
import { isMostlyChinese } from './words.js';

/** The part of ChatModel answering uses (tests may pass another engine). */
export interface AnsweringModel {
  chat(messages: readonly Message[], opts: GenerationOptions): Promise<Array<{ text: string }>>;
  chatLive(
    messages: readonly Message[],
    opts: GenerationOptions,
    onPiece: (piece: StreamPiece) => void,
  ): Promise<unknown>;
}

export interface AskOptions {
  /** Ranked chunks for a question, already cut at the score threshold (retriever.ts's makeRetriever). */
  retrieve: (question: string) => Promise<Hit[]>;
  /** Earlier turns (user question, assistant answer), oldest first. */
  history: readonly Message[];
  /** 'auto' picks zh when the question is mostly Chinese. */
  language: PromptLanguage | 'auto';
  generation: GenerationOptions;
}

export interface Answer {
  answer: string;
  hits: Hit[];
  /** The standalone question retrieval used (the question itself without history). */
  searchedFor: string;
  found: boolean;
}

export async function ask(
  model: AnsweringModel,
  question: string,
  options: AskOptions,
  onText: (text: string) => void,
): Promise<Answer> {
  const language = options.language === 'auto' ? (isMostlyChinese(question) ? 'zh' : 'en') : options.language;
  let searchedFor = question;
  if (options.history.length > 0) {
    const [rewritten] = await model.chat(
      [{ role: 'user', content: rewritePrompt(options.history, question, language) }],
      {
        ...options.generation,
        maxTokens: 64,
        temperature: 0,
      },
    );
    const standalone = rewritten?.text.trim().split('\n')[0]?.trim() ?? '';
    // The literal question stays in the query: a poor rewrite adds words, it cannot take the question's away.
    if (standalone && standalone !== question) searchedFor = `${standalone} ${question}`;
  }
  const hits = await options.retrieve(searchedFor);
  if (hits.length === 0) {
    const answer = NOT_FOUND[language];
    onText(answer);
    return { answer, hits, searchedFor, found: false };
  }
  const messages: Message[] = [...options.history, { role: 'user', content: answerPrompt(question, hits, language) }];
  let answer = '';
  await model.chatLive(messages, options.generation, (piece) => {
    answer += piece.text;
    if (piece.text) onText(piece.text);
  });
  return { answer, hits, searchedFor, found: true };
}
