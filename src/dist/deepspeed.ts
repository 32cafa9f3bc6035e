/**
 * A DeepSpeed config under data parallelism: LLaMA-Factory users pass `deepspeed: ds_z*_config.json` (a path or the
 * JSON itself). Stage 0 is plain DDP, which is what lmforge runs. ZeRO's sharding stages are refused with what to
 * do: stage 1 (optimizer-state sharding) needs the checkpoint to gather every rank's AdamW shard, which lmforge
 * does not do yet; stages 2 and 3 shard gradients and weights, which the CPU engine's whole-tensor kernels do not.
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

/** Refuses the ZeRO stages lmforge's data parallelism cannot honour (see above); stage 0 passes. */
export function checkDeepspeed(deepspeed: string | null | undefined): void {
  if (!deepspeed) return;
  const stage = zeroStage(deepspeed);
  if (stage === 0) return;
  const what =
    stage === 1
      ? 'optimizer-state sharding (ZeRO-1) is not implemented on the MPI backend yet'
      : `ZeRO-${stage} shards ${stage === 2 ? 'gradients' : 'gradients and weights'}, which lmforge's data parallelism does not do`;
  throw userError(
    `deepspeed ${deepspeed}: ${what}. Every rank keeps the whole model and AdamW state (DDP, ZeRO stage 0): remove deepspeed or use a config with "zero_optimization": {"stage": 0}`,
  );
}
