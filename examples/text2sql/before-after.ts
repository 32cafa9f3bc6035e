/**
 * Execution accuracy of the tiny base model on the bundled text-to-SQL test questions, before and after the SFT of
 * tiny_full_sft.yaml: the same do_predict (metrics: sql_execution) runs on the base model alone, then after
 * training. Prints both and writes <output_dir>/execution_accuracy.json.
 *
 *   npx tsx examples/text2sql/before-after.ts [config.yaml] [--<argument> <value> ...]
 *   e.g. --max_steps 20 --output_dir saves/t2s, or a LoRA run: --finetuning_type lora --lora_target all
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
  const configPath = args.find((a) => a.endsWith('.yaml')) ?? 'examples/text2sql/tiny_full_sft.yaml';
  const overrides: Record<string, unknown> = {};
  for (let i = 0; i < args.length; i++) {
    const flag = args[i]!;
    if (!flag.startsWith('--')) continue;
    if (args[i + 1] === undefined) throw new Error(`${flag} needs a value`);
    overrides[flag.slice(2)] = parse(args[++i]!); // YAML scalars, as in the config: 20, 1.0e-3, true, all
  }
  const r = await beforeAfter(configPath, overrides, (m) => console.error(`[lmforge] ${m}`));
  const row = (name: string, m: Record<string, number>) =>
    `${name.padEnd(22)} ${m.predict_execution_accuracy!.toFixed(2).padStart(6)}  ${String(m.predict_sql_errors).padStart(6)}  ${String(m.predict_sql_timeouts).padStart(8)}`;
  console.log(`execution accuracy on ${r.samples} test questions (sql_execution)`);
  console.log(`${''.padEnd(22)} ${'EX %'.padStart(6)}  ${'errors'.padStart(6)}  ${'timeouts'.padStart(8)}`);
  console.log(row('before (base model)', r.before));
  const method = String(overrides.finetuning_type ?? parse(readFileSync(configPath, 'utf8')).finetuning_type);
  console.log(row(`after (${method} SFT)`, r.after));
}
