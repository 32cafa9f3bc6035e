/**
 * `custom_metric: path/to/metric.mjs`: a user's metric, loaded at run time. The module's default export (or its
 * `computeMetrics` export) is called once after prediction as `(predictions, references, records)` and returns
 * (or resolves to) `{ name: number }`; each name lands in predict_results.json as `predict_<name>` (a name that
 * already starts with `predict_` is kept).
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

/** One prediction as the metric sees it: the generated_predictions.jsonl row, plus the record's db_id if any. */
export interface PredictionRecord {
  prompt: string;
  predict: string;
  label: string;
  db_id?: string;
}

export type CustomMetricFn = (
  predictions: string[],
  references: string[],
  records: PredictionRecord[],
) => Record<string, number> | Promise<Record<string, number>>;

export class CustomMetricError extends Error {
  override name = 'CustomMetricError';
  readonly userFacing = true;
}

/** Imports the module and checks that it exports a function. */
export async function loadCustomMetric(path: string): Promise<CustomMetricFn> {
  const file = resolve(path);
  if (!existsSync(file))
    throw new CustomMetricError(`custom_metric ${path} does not exist: give the path of a .mjs file.`);
  let mod: Record<string, unknown>;
  try {
    mod = (await import(pathToFileURL(file).href)) as Record<string, unknown>;
  } catch (e) {
    throw new CustomMetricError(`custom_metric ${path} does not load: ${(e as Error).message}`);
  }
  const fn = mod.default ?? mod.computeMetrics;
  if (typeof fn !== 'function')
    throw new CustomMetricError(
      `custom_metric ${path} exports no function: export default (predictions, references, records) => ({ name: number })`,
    );
  return fn as CustomMetricFn;
}

/** Calls the metric and checks its answer: an object of finite numbers. */
export async function runCustomMetric(
  path: string,
  fn: CustomMetricFn,
  predictions: string[],
  references: string[],
  records: PredictionRecord[],
): Promise<Record<string, number>> {
  let result: unknown;
  try {
    result = await fn(predictions, references, records);
  } catch (e) {
    throw new CustomMetricError(`custom_metric ${path} threw: ${(e as Error).message}`);
  }
  if (typeof result !== 'object' || result === null || Array.isArray(result))
    throw new CustomMetricError(
      `custom_metric ${path} must return an object of numbers, got ${JSON.stringify(result)}`,
    );
  const out: Record<string, number> = {};
  for (const [key, value] of Object.entries(result)) {
    if (typeof value !== 'number' || !Number.isFinite(value))
      throw new CustomMetricError(
        `custom_metric ${path}: "${key}" must be a finite number, got ${JSON.stringify(value)}`,
      );
    out[key.startsWith('predict_') ? key : `predict_${key}`] = value;
  }
  return out;
}
