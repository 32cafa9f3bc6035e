/** training_args.yaml: the arguments the user gave, as LLaMA-Factory saves them next to the run's outputs. */
import { stringify } from 'yaml';
import { writeFileAtomic } from '../io/atomic.js';
import type { TrainArgs } from './train-args.js';

/**
 * LLaMA-Factory dumps the user's arguments with PyYAML's safe_dump (keys sorted). Comma-list arguments go back
 * to the comma string the user would write, so the file can be passed to `lmforge train` again.
 */
export function trainingArgsYaml(args: Pick<TrainArgs, 'given'>): string {
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(args.given).sort()) {
    const v = args.given[key];
    out[key] = Array.isArray(v) ? v.join(',') : v;
  }
  return stringify(out, { lineWidth: 0 });
}

export function writeTrainingArgsYaml(path: string, args: Pick<TrainArgs, 'given'>): void {
  writeFileAtomic(path, trainingArgsYaml(args));
}
