/**
 * A DeepSpeed config under data parallelism: LLaMA-Factory users pass `deepspeed: ds_z*_config.json` (a path or the
 * JSON itself). Stage 0 is plain DDP. Stage 1 shards the optimizer state over the ranks (zero.ts). Stages 2 and 3
 * shard gradients and weights, which the CPU engine's whole-tensor kernels do not: they are refused with what to do.
 */
import { existsSync, readFileSync } from 'node:fs';

function userError(message: string): Error {
  return Object.assign(new Error(message), { userFacing: true });
}

/** The zero_optimization.stage of a deepspeed config ("auto" and absent count as 0). */
export function zeroStage(deepspeed: string): number {
  let text = deepspeed.trim();
  if (!text.startsWith('{')) {
    if (!existsSync(text)) throw userError(`deepspeed: ${deepspeed} is neither a JSON object nor a file`);
    text = readFileSync(text, 'utf8');
  }
  let cfg: { zero_optimization?: { stage?: unknown } };
  try {
    cfg = JSON.parse(text);
  } catch (e) {
    throw userError(`deepspeed: ${deepspeed} is not valid JSON (${(e as Error).message})`);
  }
  const stage = cfg.zero_optimization?.stage;
  if (stage === undefined || stage === 'auto') return 0;
  if (typeof stage !== 'number' || ![0, 1, 2, 3].includes(stage))
    throw userError(`deepspeed: zero_optimization.stage ${JSON.stringify(stage)} in ${deepspeed}: use 0, 1, 2 or 3`);
  return stage;
}

/**
 * The ZeRO stage a data-parallel run honours (0 or 1); refuses stages 2 and 3, and stage 1 with an optimizer whose
 * state is not one buffer per parameter element (GaLore's low-rank moments, BAdam's block switching).
 */
export function checkDeepspeed(
  deepspeed: string | null | undefined,
  optimizer: 'galore' | 'badam' | null = null,
): 0 | 1 {
  if (!deepspeed) return 0;
  const stage = zeroStage(deepspeed);
  if (stage === 0) return 0;
  if (stage === 1) {
    if (optimizer)
      throw userError(
        `deepspeed ${deepspeed}: ZeRO-1 shards AdamW/SGD state by parameter, and use_${optimizer} keeps its own state: turn use_${optimizer} off or use a config with "zero_optimization": {"stage": 0}`,
      );
    return 1;
  }
  throw userError(
    `deepspeed ${deepspeed}: ZeRO-${stage} shards ${stage === 2 ? 'gradients' : 'gradients and weights'}, which lmforge's data parallelism does not do. Every rank keeps the whole model (DDP, or ZeRO-1 to shard the optimizer state): use a config with "zero_optimization": {"stage": 0} or {"stage": 1}`,
  );
}
