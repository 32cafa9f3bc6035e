/**
 * The configuration a tracker records for a run: every argument group, with secrets masked as LLaMA-Factory's
 * to_dict does (ModelArguments masks fields ending in `token`, FinetuningArguments those ending in `api_key`, each
 * replaced by `<FIELD_NAME>`), and HF's rewrite_logs naming of logged metrics.
 */
import type { TrainArgs } from '../../hparams/index.js';

export type ArgsDict = Record<string, unknown>;

/** `hf_hub_token: abc` -> `hf_hub_token: <HF_HUB_TOKEN>`; other fields unchanged. */
export function maskSecrets(group: Readonly<Record<string, unknown>>): ArgsDict {
  return Object.fromEntries(
    Object.entries(group).map(([k, v]) => [
      k,
      k.endsWith('token') || k.endsWith('api_key') ? `<${k.toUpperCase()}>` : v,
    ]),
  );
}

/** The run's arguments by LLaMA-Factory's group names (ReporterCallback's wandb/swanlab config), masked. */
export function groupedConfig(args: TrainArgs): Record<string, ArgsDict> {
  return {
    model_args: maskSecrets(args.model),
    data_args: maskSecrets(args.data),
    finetuning_args: maskSecrets(args.finetuning),
    generating_args: maskSecrets(args.generating),
    training_args: maskSecrets(args.training),
  };
}

/** Every argument in one flat mapping (MLflow params, TensorBoard's args text), masked. */
export function flatConfig(args: TrainArgs): ArgsDict {
  const g = groupedConfig(args);
  return { ...g.training_args, ...g.model_args, ...g.data_args, ...g.finetuning_args, ...g.generating_args };
}

/**
 * HF's rewrite_logs: `eval_loss` -> `eval/loss`, `test_x` -> `test/x`, everything else -> `train/<name>`; only
 * numbers are kept (trackers log scalars) and `step` is the x axis, not a series.
 */
export function rewriteLogs(entry: Readonly<Record<string, unknown>>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(entry)) {
    if (k === 'step' || typeof v !== 'number') continue;
    if (k.startsWith('eval_')) out[`eval/${k.slice(5)}`] = v;
    else if (k.startsWith('test_')) out[`test/${k.slice(5)}`] = v;
    else out[`train/${k}`] = v;
  }
  return out;
}

/** Python's str() of a config value, as MLflow params and HF's text summaries show them. */
export function pyStr(v: unknown): string {
  if (v === null || v === undefined) return 'None';
  if (v === true) return 'True';
  if (v === false) return 'False';
  if (Array.isArray(v)) return `[${v.map(pyRepr).join(', ')}]`;
  if (typeof v === 'object') {
    return `{${Object.entries(v as object)
      .map(([k, x]) => `${pyRepr(k)}: ${pyRepr(x)}`)
      .join(', ')}}`;
  }
  return String(v);
}

function pyRepr(v: unknown): string {
  return typeof v === 'string' ? `'${v.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'` : pyStr(v);
}
