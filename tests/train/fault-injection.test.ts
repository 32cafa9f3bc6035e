/**
 * kill -9 at seeded random moments of a short `lmforge train` run (some inside checkpoint writes), re-running the
 * same command after each: the run must end with the weights, log and loss of an uninterrupted run, bit for bit,
 * and leave no half-written folder behind. Prints the figures (kills, where they landed, runs) for the notes.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { lastCheckpoint } from '../../src/train/checkpoints.js';
import { parsePythonJson } from '../../src/train/index.js';
import { tempDir } from '../util/tokenizers.js';

const root = tempDir('lmforge-fault-');
after(() => rmSync(root, { recursive: true, force: true }));

const MAX_STEPS = 48;
const command = (outputDir: string) => [
  '--import',
  'tsx',
  'bin/lmforge.js',
  'train',
  'stage=sft',
  'do_train=true',
  'model_name_or_path=examples/tiny/base',
  'dataset=tiny_sft',
  'dataset_dir=examples/data',
  'template=qwen',
  'default_system=',
  'cutoff_len=64',
  'finetuning_type=lora',
  'lora_rank=4',
  'lora_dropout=0.1', // the dropout generator's state must survive the kills too
  'per_device_train_batch_size=4',
  `max_steps=${MAX_STEPS}`,
  'save_steps=2',
  'logging_steps=1',
  'report_to=none',
  `output_dir=${outputDir}`,
];

interface Run {
  /** null when it ended by itself. */
  signal: NodeJS.Signals | null;
  code: number | null;
  stderr: string;
  /** Milliseconds from spawn to the first "[train] step" line, when one came. */
  firstStepMs: number | null;
  wallMs: number;
}

/** The last step trainer_log.jsonl records (0 before the first). */
function loggedStep(dir: string): number {
  const path = join(dir, 'trainer_log.jsonl');
  if (!existsSync(path)) return 0;
  const lines = readFileSync(path, 'utf8').trim().split('\n');
  for (let i = lines.length - 1; i >= 0; i--) {
    try {
      return (JSON.parse(lines[i] as string) as { current_steps: number }).current_steps;
    } catch {
      // a line being written
    }
  }
  return 0;
}

/**
 * Runs the command; with `kill`, SIGKILLs it `afterMs` after its trainer_log.jsonl reached step `atStep` (0: after
 * spawn). Counting steps, not wall time, keeps every kill inside the run however loaded the machine is.
 */
function run(
  outputDir: string,
  { kill, env }: { kill?: { atStep: number; afterMs: number }; env?: NodeJS.ProcessEnv } = {},
) {
  return new Promise<Run>((resolve) => {
    const started = performance.now();
    const child = spawn(process.execPath, command(outputDir), {
      env: { ...process.env, ...env, LMFORGE_THREADS: '1' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    let firstStepMs: number | null = null;
    let timer: NodeJS.Timeout | null = null;
    const arm = () => {
      if (kill && !timer) timer = setTimeout(() => child.kill('SIGKILL'), kill.afterMs);
    };
    const poll = kill
      ? setInterval(() => {
          if (kill.atStep === 0 || loggedStep(outputDir) >= kill.atStep) arm();
        }, 5)
      : null;
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => {
      stderr += chunk;
      if (firstStepMs === null && stderr.includes('[train] step')) firstStepMs = performance.now() - started;
    });
    child.on('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      if (poll) clearInterval(poll);
      resolve({ signal, code, stderr, firstStepMs, wallMs: performance.now() - started });
    });
  });
}

/** mulberry32: the kill moments are the same on every CI run. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const stepOf = (dir: string) => {
  const last = lastCheckpoint(dir);
  return last ? Number(/checkpoint-(\d+)$/.exec(last)?.[1]) : 0;
};
const logSteps = (dir: string) =>
  readFileSync(join(dir, 'trainer_log.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => (JSON.parse(l) as { current_steps: number }).current_steps);

test('kill -9 at 10 seeded moments, each followed by the same command: bit-identical end, nothing stray', {
  timeout: 600_000,
}, async () => {
  const reference = join(root, 'reference');
  const ref = await run(reference);
  assert.equal(ref.code, 0, ref.stderr);
  assert.ok(ref.firstStepMs !== null, ref.stderr);
  const startupMs = ref.firstStepMs as number;
  const perStepMs = (ref.wallMs - startupMs) / MAX_STEPS;

  const out = join(root, 'killed');
  const random = seeded(20261206);
  const landed: string[] = [];
  let kills = 0;
  for (let i = 0; i < 10; i++) {
    const done = stepOf(out);
    let r: Run;
    if (i % 3 === 2) {
      // Inside a checkpoint write: weights written, the folder not yet renamed into place.
      r = await run(out, { env: { LMFORGE_FAULT_KILL_IN_CHECKPOINT: String(1 + Math.floor(random() * 3)) } });
      landed.push(`in checkpoint write after step ${stepOf(out)}`);
    } else {
      // Anywhere from late startup to well inside the remaining steps (the first 60%, so later runs still have steps
      // left to be killed in): a seeded part of a step after a seeded
      // logged step (startup: 0.8 of the reference's startup after spawn).
      const steps = Math.max(0, Math.floor(random() * 0.6 * (MAX_STEPS - done - 1)));
      const atStep = steps === 0 ? 0 : done + steps;
      const afterMs = steps === 0 ? startupMs * 0.8 : random() * perStepMs;
      r = await run(out, { kill: { atStep, afterMs } });
      landed.push(`step ${atStep} + ${Math.round(afterMs)} ms (checkpoint ${done} -> ${stepOf(out)})`);
    }
    if (r.signal === 'SIGKILL') kills++;
    else assert.equal(r.code, 0, `run ${i} ended without the kill but failed:\n${r.stderr}`);
  }
  const final = await run(out);
  assert.equal(final.code, 0, final.stderr);
  console.log(`# ${kills}/10 runs killed; kill points: ${landed.join('; ')}; reference ${Math.round(ref.wallMs)} ms`);
  assert.ok(kills >= 8, `at least 8 of the 10 runs were killed mid-run (got ${kills})`);

  const bytes = (dir: string, f: string) => readFileSync(join(dir, f));
  assert.ok(
    bytes(out, 'adapter_model.safetensors').equals(bytes(reference, 'adapter_model.safetensors')),
    'final adapter weights are bit-identical to the uninterrupted run',
  );
  assert.deepEqual(logSteps(out), logSteps(reference), 'every step logged once, in order');
  const loss = (dir: string) =>
    (parsePythonJson(bytes(dir, 'train_results.json').toString('utf8')) as Record<string, number>).train_loss;
  assert.ok(Math.abs((loss(out) as number) - (loss(reference) as number)) < 1e-12, 'train_loss over the whole run');
  const stray = readdirSync(out).filter((f) => f.includes('.tmp-'));
  assert.deepEqual(stray, [], 'no half-written folders or files remain');
  for (const f of readdirSync(join(out)).filter((f) => f.startsWith('checkpoint-')))
    assert.ok(existsSync(join(out, f, 'trainer_state.json')), `${f} is complete`);
});
