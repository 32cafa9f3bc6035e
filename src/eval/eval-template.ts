/**
 * LLaMA-Factory's EvalTemplate: a multiple-choice question becomes "question\nA. ...\nB. ...\nC. ...\nD. ...<answer>"
 * as a user turn and its letter as the assistant turn; n-shot examples come first as earlier turns, and the
 * subject line (`system`) is prefixed to the FIRST user turn (not a system message).
 */
import type { Message } from '../data/converters.js';

export const CHOICES = ['A', 'B', 'C', 'D'] as const;
export type Choice = (typeof CHOICES)[number];

export interface ChoiceExample {
  question: string;
  A: string;
  B: string;
  C: string;
  D: string;
  /** The right letter ('' when the split has no answers, e.g. C-Eval's test set). */
  answer: string;
}

export interface EvalTemplate {
  /** `{subject}` is replaced by the subject's display name from mapping.json. */
  system: string;
  choice: string;
  answer: string;
}

export const EVAL_TEMPLATES: Readonly<Record<'en' | 'zh', EvalTemplate>> = {
  en: {
    system: 'The following are multiple choice questions (with answers) about {subject}.\n\n',
    choice: '\n{choice}. {content}',
    answer: '\nAnswer:',
  },
  zh: {
    system: '以下是中国关于{subject}考试的单项选择题，请选出其中的正确答案。\n\n',
    choice: '\n{choice}. {content}',
    answer: '\n答案：',
  },
};

export function getEvalTemplate(lang: string): EvalTemplate {
  const t = (EVAL_TEMPLATES as Record<string, EvalTemplate>)[lang];
  if (!t) throw new Error(`Unknown eval language '${lang}': use ${Object.keys(EVAL_TEMPLATES).join(' or ')}.`);
  return t;
}

/** (prompt, response) of one example. */
export function parseExample(t: EvalTemplate, example: ChoiceExample): [string, string] {
  const candidates = CHOICES.map((ch) => t.choice.replace('{choice}', ch).replace('{content}', example[ch]));
  return [example.question + candidates.join('') + t.answer, example.answer];
}

/** The whole conversation, ending with the target's answer as the last (assistant) message. */
export function formatExample(
  t: EvalTemplate,
  target: ChoiceExample,
  supportSet: readonly ChoiceExample[],
  subjectName: string,
): Message[] {
  const messages: Message[] = [];
  for (const ex of [...supportSet, target]) {
    const [prompt, response] = parseExample(t, ex);
    messages.push({ role: 'user', content: prompt }, { role: 'assistant', content: response });
  }
  messages[0]!.content = t.system.replace('{subject}', subjectName) + messages[0]!.content;
  return messages;
}
