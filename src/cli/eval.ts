/**
 * `lmforge eval cfg.yaml | --model_name_or_path dir --template t --task mmlu_test [--task_dir evaluation]
 * [--n_shot 5] [--lang en] [--batch_size 4] [--save_dir out]`: LLaMA-Factory's MMLU/C-Eval/CMMLU evaluation. The
 * answer is the argmax of the A/B/C/D logits after the template's answer prompt, scored in left-padded batches.
 */

import { type EvalArgs, runEvaluation } from '../eval/evaluator.js';
import { EVAL_GROUPS, formatHelp, HparamsError, parseCommandArgs } from '../hparams/index.js';
import { ChatModel } from '../infer/chat-model.js';

/**
 * `lmforge eval`'s arguments. LLaMA-Factory names the split inside the task (`mmlu_test`, `ceval_validation`);
 * `--split validation` with `--task mmlu` means `mmlu_validation`, and a split that contradicts the task's is refused.
 */
export function parseEvalCommandArgs(argv: readonly string[]) {
  const typed = parseCommandArgs(argv, EVAL_GROUPS, { command: 'eval' });
  const model = typed.groups.model as Record<string, unknown>;
  const ev = typed.groups.evaluation as Record<string, unknown>;
  const problems: string[] = [];
  if (!model.model_name_or_path) problems.push('model_name_or_path is required: --model_name_or_path <model folder>');
  const split = ev.split as string | null;
  const task = ev.task as string | null;
  if (!task) problems.push('task is required, e.g. --task mmlu_test (a folder under task_dir and its split)');
  else if (split !== null) {
    const [name, taskSplit] = task.split('_');
    if (taskSplit === undefined) ev.task = `${name}_${split}`;
    else if (taskSplit !== split)
      problems.push(
        `--split ${split} contradicts --task ${task} (its split is ${taskSplit}): use --task ${name}_${split}`,
      );
  }
  if (problems.length > 0) throw new HparamsError(problems);
  const evalArgs: EvalArgs = {
    task: ev.task as string,
    taskDir: ev.task_dir as string,
    batchSize: ev.batch_size as number,
    seed: ev.seed as number,
    lang: ev.lang as 'en' | 'zh',
    nShot: ev.n_shot as number,
    ...(ev.save_dir ? { saveDir: ev.save_dir as string } : {}),
  };
  return { ...typed, evalArgs };
}

export async function evalCommand(argv: string[]): Promise<number> {
  if (argv.includes('-h') || argv.includes('--help')) {
    console.log(
      formatHelp(EVAL_GROUPS, 'eval', {
        extra: ['  e.g. lmforge eval --model_name_or_path <dir> --template <name> --task mmlu_test'],
        only: {
          evaluation: ['task', 'split', 'task_dir', 'batch_size', 'seed', 'lang', 'n_shot', 'save_dir'],
          model: ['model_name_or_path', 'adapter_name_or_path', 'infer_dtype'],
          data: ['template', 'enable_thinking'],
          finetuning: [],
        },
      }),
    );
    return 0;
  }
  const typed = parseEvalCommandArgs(argv);
  for (const note of typed.notes) console.error(`[lmforge] note: ${note}`);
  const model = typed.groups.model as Record<string, unknown>;
  const data = typed.groups.data as Record<string, unknown>;
  const { evalArgs } = typed;
  const chat = await ChatModel.load(
    {
      model_name_or_path: model.model_name_or_path as string,
      adapter_name_or_path: (model.adapter_name_or_path as string[] | null) ?? null,
      template: (data.template as string | null) ?? null,
      enable_thinking: data.enable_thinking as boolean,
      infer_dtype: model.infer_dtype as 'auto' | 'float16' | 'bfloat16' | 'float32',
    },
    { inProcess: true },
  );
  try {
    const result = await runEvaluation(evalArgs, chat, {
      onSubject: (subject, done, total) => console.error(`[lmforge] ${done}/${total} ${subject}`),
    });
    console.log(result.scoreInfo);
    if (evalArgs.saveDir)
      console.error(`[lmforge] wrote results.json, results.log and results_detail.json in ${evalArgs.saveDir}`);
    return 0;
  } finally {
    await chat.close();
  }
}
