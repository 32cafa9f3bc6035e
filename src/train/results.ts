/**
 * {split}_results.json and all_results.json as HF's Trainer.save_metrics writes them (indent=4, sorted keys), and
 * the metric dictionaries that go in them (speed_metrics, perplexity for pre-training).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../io/atomic.js';
import { pyJsonDumps, pyRound } from './py-format.js';
import { parsePythonJson } from './trainer-state.js';

export type Metrics = Record<string, number>;

const RESULT_INT_KEYS: ReadonlySet<string> = new Set(['num_input_tokens_seen', 'train_samples', 'eval_samples']);

/** speed_metrics(split, ...): runtime rounded to 4 digits, rates to 3; rates are left out when runtime is 0. */
export function speedMetrics(
  split: string,
  runtimeSeconds: number,
  counts: { samples?: number; steps?: number; tokens?: number } = {},
): Metrics {
  const out: Metrics = { [`${split}_runtime`]: pyRound(runtimeSeconds, 4) };
  if (runtimeSeconds === 0) return out;
  if (counts.samples !== undefined) out[`${split}_samples_per_second`] = pyRound(counts.samples / runtimeSeconds, 3);
  if (counts.steps !== undefined) out[`${split}_steps_per_second`] = pyRound(counts.steps / runtimeSeconds, 3);
  if (counts.tokens !== undefined) out[`${split}_tokens_per_second`] = pyRound(counts.tokens / runtimeSeconds, 3);
  return out;
}

/** LLaMA-Factory's pt workflow: perplexity = exp(eval_loss), inf when it overflows. */
export function perplexity(evalLoss: number): number {
  return Math.exp(evalLoss);
}

/** Trainer.save_metrics(split, metrics, combined=True): writes {split}_results.json and merges all_results.json. */
export function saveMetrics(outputDir: string, split: string, metrics: Metrics, combined = true): void {
  // Strict JSON: a metric that could not be computed or overflowed (NaN, or a perplexity of inf) is null, with a
  // note saying which, never the NaN/Infinity that Python's json writes and JSON parsers refuse.
  const strict = (m: Metrics): Metrics =>
    Object.fromEntries(
      Object.entries(m).map(([k, v]) => [k, typeof v === 'number' && !Number.isFinite(v) ? null : v]),
    ) as Metrics;
  const nulled = Object.entries(metrics).filter(([, v]) => typeof v === 'number' && !Number.isFinite(v));
  if (nulled.length > 0)
    process.stderr.write(
      `note: ${split}_results.json: ${nulled.map(([k, v]) => `${k} is ${v}`).join(', ')}; written as null (strict JSON)\n`,
    );
  const dump = (m: Metrics) => pyJsonDumps(strict(m), { indent: 4, sortKeys: true, intKeys: RESULT_INT_KEYS });
  writeFileAtomic(join(outputDir, `${split}_results.json`), dump(metrics));
  if (!combined) return;
  const allPath = join(outputDir, 'all_results.json');
  const all = existsSync(allPath) ? (parsePythonJson(readFileSync(allPath, 'utf8')) as Metrics) : {};
  writeFileAtomic(allPath, dump({ ...all, ...metrics }));
}
