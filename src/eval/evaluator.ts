/**
 * `lmforge eval`: LLaMA-Factory's multiple-choice evaluation (MMLU, C-Eval, CMMLU). For every subject in
 * mapping.json, each question of the split is asked with `n_shot` examples drawn from the subject's dev set, the
 * model's next-token logits for A/B/C/D at the answer position pick the letter (argmax), and accuracy is reported
 * per category. Scoring is the caller's `ChoiceScorer`, so this layer needs no model.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Message } from '../data/converters.js';
import { SeededRandom } from '../data/random.js';
import { pushAll } from '../util/arrays.js';
import { pythonJsonDumps } from '../util/python-json.js';
import { type Category, EvalDataError, loadSubject, parseTask, readMapping } from './benchmark-data.js';
import { CHOICES, type Choice, type ChoiceExample, formatExample, getEvalTemplate } from './eval-template.js';
import { pythonRound } from './python-math.js';

/**
 * Scores a batch of prompts. Each prompt is the conversation up to and including the last user turn; the scorer
 * encodes it as the template's prompt for the next assistant turn (LLaMA-Factory's encode_oneturn prompt ids) and
 * returns, per prompt, the logits of the tokens 'A', 'B', 'C', 'D' (the last token of each letter's encoding) at
 * the prompt's last position.
 */
export interface ChoiceScorer {
  choiceLogits(prompts: readonly (readonly Message[])[]): Promise<number[][]>;
}

/** LLaMA-Factory's EvaluationArguments. */
export interface EvalArgs {
  task: string;
  taskDir: string;
  batchSize: number;
  seed: number;
  lang: 'en' | 'zh';
  nShot: number;
  saveDir?: string;
}

/** The rows of the printed table, in LLaMA-Factory's order; empty categories are left out. */
export const SCORE_ROWS = ['Average', 'STEM', 'Social Sciences', 'Humanities', 'Other'] as const;
export type ScoreRow = (typeof SCORE_ROWS)[number];

/** One scored question (results_detail.json): its index in the subject's split, the pick, the answer, the verdict. */
export interface QuestionRecord {
  index: number;
  choice: Choice;
  gold: string;
  correct: boolean;
}

export interface EvalResult {
  /** Predicted letter per question, per subject (what results.json holds). */
  predictions: Record<string, Record<string, Choice>>;
  /** Each question's choice, gold answer and correctness, per subject (what results_detail.json holds). */
  questions: Record<string, QuestionRecord[]>;
  /** Right or wrong per question, per subject. */
  corrects: Record<string, boolean[]>;
  /** Accuracy x100 per row, for rows with questions. */
  scores: Partial<Record<ScoreRow, number>>;
  /** The printed table (also results.log). */
  scoreInfo: string;
}

export interface EvalHooks {
  /** Called once per subject when its questions are scored. */
  onSubject?: (subject: string, done: number, total: number) => void;
  /** Called with each batch of prompts (tests read the exact prompts). */
  onBatch?: (subject: string, prompts: readonly (readonly Message[])[]) => void;
}

export async function runEvaluation(args: EvalArgs, scorer: ChoiceScorer, hooks: EvalHooks = {}): Promise<EvalResult> {
  const task = parseTask(args.task);
  const template = getEvalTemplate(args.lang);
  if (!Number.isInteger(args.nShot) || args.nShot < 0)
    throw new EvalDataError(`--n_shot must be an integer >= 0, got ${args.nShot}.`);
  if (!Number.isInteger(args.batchSize) || args.batchSize < 1) {
    throw new EvalDataError(`--batch_size must be an integer >= 1, got ${args.batchSize}.`);
  }
  if (args.saveDir && existsSync(args.saveDir)) {
    throw new EvalDataError(
      `--save_dir ${args.saveDir} already exists: choose a new folder (results are never overwritten).`,
    );
  }
  const subjects = readMapping(args.taskDir, task.name);
  const rng = new SeededRandom(args.seed);
  const byRow = new Map<ScoreRow, boolean[]>(SCORE_ROWS.map((r) => [r, []]));
  const predictions: EvalResult['predictions'] = {};
  const corrects: EvalResult['corrects'] = {};
  const questions: EvalResult['questions'] = {};
  let done = 0;
  for (const [subject, info] of subjects) {
    const rows = loadSubject(args.taskDir, task.name, subject, task.split);
    const dev = args.nShot > 0 ? loadSubject(args.taskDir, task.name, subject, 'train') : [];
    const prompts: Message[][] = [];
    const labels: string[] = [];
    for (const row of rows) {
      // A fresh random support set per question, as LLaMA-Factory shuffles the dev split for each one.
      const support = pickSupport(dev, args.nShot, rng);
      const messages = formatExample(template, row, support, info.name);
      labels.push(messages.at(-1)!.content);
      prompts.push(messages.slice(0, -1));
    }
    const outputs: Choice[] = [];
    for (let i = 0; i < prompts.length; i += args.batchSize) {
      const batch = prompts.slice(i, i + args.batchSize);
      hooks.onBatch?.(subject, batch);
      const logits = await scorer.choiceLogits(batch);
      if (logits.length !== batch.length || logits.some((l) => l.length !== CHOICES.length)) {
        throw new Error(
          `ChoiceScorer returned ${logits.length} rows for ${batch.length} prompts; each needs ${CHOICES.length} logits.`,
        );
      }
      pushAll(outputs, logits.map(argmaxChoice));
    }
    const right = outputs.map((o, i) => o === labels[i]);
    corrects[subject] = right;
    questions[subject] = outputs.map((choice, index) => ({
      index,
      choice,
      gold: labels[index]!,
      correct: right[index]!,
    }));
    predictions[subject] = Object.fromEntries(outputs.map((o, i) => [String(i), o]));
    pushAll(byRow.get(info.category)!, right);
    pushAll(byRow.get('Average')!, right);
    hooks.onSubject?.(subject, ++done, subjects.size);
  }
  const scores: EvalResult['scores'] = {};
  const lines: string[] = [];
  for (const [row, list] of byRow) {
    if (list.length === 0) continue;
    const accuracy = 100 * (list.filter(Boolean).length / list.length);
    scores[row] = accuracy;
    lines.push(`${row.padStart(15)}: ${pythonRound(accuracy, 2).toFixed(2)}`);
  }
  const scoreInfo = lines.join('\n');
  if (args.saveDir) {
    mkdirSync(args.saveDir, { recursive: true });
    writeFileSync(join(args.saveDir, 'results.json'), pythonJsonDumps(predictions, { indent: 2 }), 'utf8');
    writeFileSync(join(args.saveDir, 'results.log'), scoreInfo, 'utf8');
    writeFileSync(join(args.saveDir, 'results_detail.json'), `${JSON.stringify(questions, null, 2)}\n`, 'utf8');
  }
  return { predictions, questions, corrects, scores, scoreInfo };
}

function pickSupport(dev: readonly ChoiceExample[], nShot: number, rng: SeededRandom): ChoiceExample[] {
  if (nShot === 0 || dev.length === 0) return [];
  return rng
    .permutation(dev.length)
    .slice(0, Math.min(nShot, dev.length))
    .map((i) => dev[i]!);
}

/** torch.argmax over the four logits: the first of equal maxima wins. */
function argmaxChoice(logits: readonly number[]): Choice {
  let best = 0;
  for (let i = 1; i < logits.length; i++) if (logits[i]! > logits[best]!) best = i;
  return CHOICES[best]!;
}

export type { Category };
