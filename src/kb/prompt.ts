/**
 * The prompts of knowledge-base answering, in Chinese and English (picked by the question's script): the
 * retrieved chunks numbered [1]..[k] with their source, the question, and the instruction to answer only from
 * them and cite them by number; and the follow-up prompt that turns a question depending on the history into
 * one that stands alone.
 */

import { basename } from 'node:path';
import type { Message } from '../infer/chat-engine.js';
import type { Hit } from './types.js';

export type PromptLanguage = 'zh' | 'en';

/** `[2] guide.md, Install > Linux: <text>` lines. */
export function numberedSources(hits: readonly Hit[]): string {
  return hits
    .map((h, i) => {
      const where = [basename(h.source), h.heading, h.page === null ? null : `p. ${h.page}`].filter(Boolean).join(', ');
      return `[${i + 1}] ${where}\n${h.text}`;
    })
    .join('\n\n');
}

export function answerPrompt(question: string, hits: readonly Hit[], language: PromptLanguage): string {
  const sources = numberedSources(hits);
  if (language === 'zh') {
    return (
      `请只根据下面编号的资料回答问题，并用 [1]、[2] 这样的编号注明答案出自哪条资料。` +
      `资料里没有答案时，直接说明知识库中没有相关信息，不要编造。\n\n资料：\n${sources}\n\n问题：${question}`
    );
  }
  return (
    'Answer the question using only the numbered sources below, and cite the sources you use as [1], [2]. ' +
    `If the sources do not contain the answer, say so instead of guessing.\n\nSources:\n${sources}\n\nQuestion: ${question}`
  );
}

/** The message that asks the model for a standalone version of a follow-up question. */
export function rewritePrompt(history: readonly Message[], question: string, language: PromptLanguage): string {
  const lines = history
    .filter((m) => m.role === 'user' || m.role === 'assistant')
    .map(
      (m) =>
        `${m.role === 'user' ? (language === 'zh' ? '用户' : 'User') : language === 'zh' ? '助手' : 'Assistant'}: ${m.content}`,
    )
    .join('\n');
  if (language === 'zh') {
    return `根据下面的对话，把最后的追问改写成一个不依赖上下文、可以单独理解的问题。只输出改写后的问题。\n\n对话：\n${lines}\n\n追问：${question}\n\n改写后的问题：`;
  }
  return (
    'Rewrite the follow-up question below as a standalone question that can be understood without the ' +
    `conversation. Reply with the question only.\n\nConversation:\n${lines}\n\nFollow-up: ${question}\n\nStandalone question:`
  );
}

export const NOT_FOUND: Record<PromptLanguage, string> = {
  zh: '知识库中没有找到相关内容（not found in the knowledge base）。',
  en: 'Not found in the knowledge base: no chunk passed the score threshold.',
};
