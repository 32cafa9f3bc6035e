/**
 * Execution accuracy of the tiny base model on the bundled text-to-SQL test questions, before and after the LoRA
 * SFT of tiny_lora_sft.yaml: the same do_predict (metrics: sql_execution) runs on the base model alone, then after
 * training. Prints both and writes <output_dir>/execution_accuracy.json.
 *
 *   npx tsx examples/text2sql/before-after.ts [config.yaml] [--max_steps N] [--output_dir DIR]
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { train } from '../../src/index.js';

export interface BeforeAfter {
  samples: number;
  before: Record<string, number>;
  after: Record<string, number>;
}

const KEYS = ['predict_execution_accuracy', 'predict_sql_errors', 'predict_sql_timeouts', 'predict_exact_match'];

function pick(metrics: Record<string, number> | undefined): Record<string, number> {
  if (!metrics) throw new Error('do_predict did not finish: no metrics');
  return Object.fromEntries(KEYS.filter((k) => k in metrics).map((k) => [k, metrics[k]!]));
}

/** Runs both predictions for a config (overrides win) and returns their SQL metrics. */
export async function beforeAfter(
  configPath: string,
  overrides: Record<string, unknown> = {},
  log: (m: string) => void = () => {},
): Promise<BeforeAfter> {
  const config = { ...(parse(readFileSync(configPath, 'utf8')) as Record<string, unknown>), ...overrides };
  const outputDir = config.output_dir as string;
  const quiet = { progress: false as const, log };
  const base = await train({ ...config, do_train: false, output_dir: join(outputDir, 'before') }, quiet);
  const tuned = await train(config, quiet);
  const before = pick(base.predictMetrics as Record<string, number>);
  const after = pick(tuned.predictMetrics as Record<string, number>);
  const samples = readFileSync(join(outputDir, 'generated_predictions.jsonl'), 'utf8').trimEnd().split('\n').length;
  const result = { samples, before, after };
  writeFileSync(join(outputDir, 'execution_accuracy.json'), `${JSON.stringify(result, null, 2)}\n`);
  return result;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const args = process.argv.slice(2);
  const configPath = args.find((a) => a.endsWith('.yaml')) ?? 'examples/text2sql/tiny_lora_sft.yaml';
  const overrides: Record<string, unknown> = {};
  for (const flag of ['max_steps', 'output_dir']) {
    const at = args.indexOf(`--${flag}`);
    if (at >= 0) overrides[flag] = flag === 'max_steps' ? Number(args[at + 1]) : args[at + 1];
  }
  const r = await beforeAfter(configPath, overrides, (m) => console.error(`[lmforge] ${m}`));
  const row = (name: string, m: Record<string, number>) =>
    `${name.padEnd(22)} ${m.predict_execution_accuracy!.toFixed(2).padStart(6)}  ${String(m.predict_sql_errors).padStart(6)}  ${String(m.predict_sql_timeouts).padStart(8)}`;
  console.log(`execution accuracy on ${r.samples} test questions (sql_execution)`);
  console.log(`${''.padEnd(22)} ${'EX %'.padStart(6)}  ${'errors'.padStart(6)}  ${'timeouts'.padStart(8)}`);
  console.log(row('before (base model)', r.before));
  console.log(row('after (LoRA SFT)', r.after));
}
