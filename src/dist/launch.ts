/**
 * `lmforge train cfg.yaml --nproc_per_node N [--nnodes M --node_rank R --master_addr A --hostfile H]`: torchrun's
 * flags (and, with FORCE_TORCHRUN=1, LLaMA-Factory's NPROC_PER_NODE / NNODES / NODE_RANK / MASTER_ADDR), carried out by starting
 * `mpirun` over this same command, which then runs as the ranks (src/dist/world.ts joins them).
 *
 * torchrun is started once per node; an MPI job is started once, from one node, and mpirun starts the ranks of every
 * node over ssh. So with --nnodes above 1, node_rank 0 launches the whole job on the nodes of --hostfile (one line
 * per node: `host slots=N`), and the other nodes have nothing to start.
 */
import { spawn } from 'node:child_process';
import { MPI_INSTALL_HINT } from '../engine/mpi.js';

export interface LaunchSpec {
  nprocPerNode: number;
  nnodes: number;
  nodeRank: number;
  masterAddr: string | null;
  hostfile: string | null;
}

const FLAGS = ['nproc_per_node', 'nnodes', 'node_rank', 'master_addr', 'master_port', 'hostfile'] as const;
type Flag = (typeof FLAGS)[number];

function userError(message: string): Error {
  return Object.assign(new Error(message), { userFacing: true });
}

/** Takes the launcher's flags out of `argv` (`--flag v`, `--flag=v` or `flag=v`); null spec when none is given. */
export function splitLaunchArgs(
  argv: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
): { spec: LaunchSpec | null; rest: string[] } {
  const given = new Map<Flag, string>();
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    const m = /^(?:--)?([a-z_]+)(?:=(.*))?$/.exec(a);
    const name = m?.[1] as Flag | undefined;
    if (!m || !name || !FLAGS.includes(name) || (!a.startsWith('--') && m[2] === undefined)) {
      rest.push(a);
      continue;
    }
    const value = m[2] ?? argv[++i];
    if (value === undefined) throw userError(`--${name} needs a value`);
    given.set(name, value);
  }
  // LLaMA-Factory reads NPROC_PER_NODE and the others only with FORCE_TORCHRUN set; so does this.
  const envOn = ['1', 'true', 'y', 'yes'].includes((env.FORCE_TORCHRUN ?? '').toLowerCase());
  const fromEnv = (flag: Flag, envName: string) => given.get(flag) ?? (envOn ? env[envName] : undefined);
  const nproc = fromEnv('nproc_per_node', 'NPROC_PER_NODE');
  if (nproc === undefined) {
    if (given.size > 0) throw userError(`--${[...given.keys()][0]} needs --nproc_per_node N (the ranks per node)`);
    return { spec: null, rest };
  }
  const int = (flag: Flag, v: string | undefined, min: number, fallback: number) => {
    if (v === undefined) return fallback;
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) throw userError(`--${flag} ${v}: give a whole number of at least ${min}`);
    return n;
  };
  const spec: LaunchSpec = {
    nprocPerNode: int('nproc_per_node', nproc, 1, 1),
    nnodes: int('nnodes', fromEnv('nnodes', 'NNODES'), 1, 1),
    nodeRank: int('node_rank', fromEnv('node_rank', 'NODE_RANK'), 0, 0),
    masterAddr: fromEnv('master_addr', 'MASTER_ADDR') ?? null,
    hostfile: given.get('hostfile') ?? null,
  };
  if (spec.nodeRank >= spec.nnodes)
    throw userError(`--node_rank ${spec.nodeRank} is not below --nnodes ${spec.nnodes}`);
  if (spec.nnodes > 1 && spec.nodeRank === 0 && !spec.hostfile)
    throw userError(
      `--nnodes ${spec.nnodes}: mpirun starts every node's ranks from node 0, so it needs the nodes: add --hostfile FILE (one line per node, \`host slots=${spec.nprocPerNode}\`)`,
    );
  return { spec, rest };
}

/** mpirun's command line for the job (`command`: this process's node, script and train arguments). */
export function mpirunArgs(spec: LaunchSpec, command: readonly string[], isRoot: boolean): string[] {
  const total = spec.nprocPerNode * spec.nnodes;
  const args = ['-np', String(total)];
  if (isRoot) args.push('--allow-run-as-root');
  // Each rank sets its engine threads from its node's share of the cores (world.ts), so mpirun binds nothing;
  // --oversubscribe lets a node run more ranks than mpirun counts slots (a 2-core VM has 2).
  args.push('--bind-to', 'none', '--oversubscribe');
  if (spec.hostfile) args.push('--hostfile', spec.hostfile, '--map-by', `ppr:${spec.nprocPerNode}:node`);
  return [...args, ...command];
}

/** Starts the job and waits for it; the exit status is mpirun's (non-zero when any rank failed). */
export function launchRanks(spec: LaunchSpec, trainArgs: readonly string[], log: (m: string) => void): Promise<number> {
  if (spec.nnodes > 1 && spec.nodeRank > 0) {
    log(
      `node_rank ${spec.nodeRank}: with MPI the job is started once, on node_rank 0, which starts this node's ranks over ssh (from its --hostfile); nothing to start here`,
    );
    return Promise.resolve(0);
  }
  const script = process.argv[1] as string;
  const args = mpirunArgs(spec, [process.execPath, script, 'train', ...trainArgs], process.getuid?.() === 0);
  log(`starting ${spec.nprocPerNode * spec.nnodes} ranks: mpirun ${args.join(' ')}`);
  return new Promise((resolve, reject) => {
    const child = spawn('mpirun', args, { stdio: 'inherit' });
    child.on('error', (e: NodeJS.ErrnoException) =>
      reject(
        e.code === 'ENOENT'
          ? userError(`--nproc_per_node starts mpirun, which is not installed: \`${MPI_INSTALL_HINT}\``)
          : e,
      ),
    );
    child.on('exit', (code, signal) => resolve(code ?? (signal ? 128 + 9 : 1)));
  });
}
