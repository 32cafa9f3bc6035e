/**
 * Fault injection for the failure tests and for trying ddp_timeout by hand: LMFORGE_DDP_FAULT=<rank>:<step>:<kind>
 * makes rank <rank> die (kind `kill`: SIGKILL, as the OOM killer ends a process) or hang (kind `hang`: SIGSTOP, as a
 * stuck node looks to its peers) when it begins training step <step> (1-based, the step global_step becomes).
 */
import { currentWorld } from './world.js';

export function injectFaultAt(step: number): void {
  const spec = process.env.LMFORGE_DDP_FAULT;
  if (!spec) return;
  const [rank, at, kind] = spec.split(':');
  if (Number(rank) !== currentWorld().rank || Number(at) !== step) return;
  if (kind !== 'kill' && kind !== 'hang')
    throw new Error(`LMFORGE_DDP_FAULT=${spec}: the kind must be kill or hang (<rank>:<step>:<kind>)`);
  process.stderr.write(`[lmforge] rank ${currentWorld().rank}: LMFORGE_DDP_FAULT ${kind} at step ${step}\n`);
  process.kill(process.pid, kind === 'kill' ? 'SIGKILL' : 'SIGSTOP');
}
