/**
 * HF's Trainer.log_metrics: the "***** predict metrics *****" block a run prints. Values are shown as
 * metrics_format shows them (floats rounded to 4 places, runtimes as H:MM:SS.cc), while the *_results.json files keep
 * the raw numbers, as save_metrics writes them.
 */
import { formatTimedelta, pyRound } from './py-format.js';

/** One metric as HF's metrics_format shows it. */
export function formatMetricValue(key: string, value: number): string {
  if (key.includes('_runtime')) return secondsAsTimedelta(value);
  if (key === 'total_flos') return `${Math.trunc(value / 2 ** 30)}GF`;
  return String(pyRound(value, 4));
}

/** The header and one aligned `key = value` line per metric, keys sorted (as log_metrics prints them). */
export function metricsReport(split: string, metrics: Record<string, number>): string[] {
  const rows = Object.keys(metrics)
    .sort()
    .map((k) => [k, formatMetricValue(k, metrics[k] as number)] as const);
  const keyWidth = rows.reduce((w, [k]) => Math.max(w, k.length), 0);
  const valueWidth = rows.reduce((w, [, v]) => Math.max(w, v.length), 0);
  return [
    `***** ${split} metrics *****`,
    ...rows.map(([k, v]) => `  ${k.padEnd(keyWidth)} = ${v.padStart(valueWidth)}`),
  ];
}

/** HF's _secs2timedelta: whole seconds as a timedelta, then two digits of the fraction. */
function secondsAsTimedelta(seconds: number): string {
  const whole = Math.trunc(seconds);
  const centis = Math.trunc(Math.abs(seconds - whole) * 100);
  return `${formatTimedelta(whole)}.${String(centis).padStart(2, '0')}`;
}
