/**
 * `npm run bench -- predict-rss [--samples 10000] [--batch 32] [--new-tokens 4] [--json]`: resident memory of a long
 * do_predict on the tiny bundled model (issue #21 item 4). The eval set is tiny_sft's prompts repeated to --samples
 * records. A worker thread reads the process's RSS every 100 ms (generation blocks the main thread), and the table
 * gives it at 10%, 50% and 100% of the prediction loop's time, which starts at the progress bar's first line:
 * predictions stream to disk and no logits are kept, so RSS should not grow with the samples done. The peak
 * (getrusage maxRSS) includes tokenizing the eval set, whose ids stay in memory.
 */
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { train } from '../src/train/trainer.js';

function flag(args: string[], name: string, def: number): number {
  const at = args.indexOf(`--${name}`);
  return at >= 0 ? Number(args[at + 1]) : def;
}

export async function run(args: string[]): Promise<void> {
  const samples = flag(args, 'samples', 10000);
  const batch = flag(args, 'batch', 32);
  const newTokens = flag(args, 'new-tokens', 4);
  const dir = mkdtempSync(join(tmpdir(), 'lmforge-predict-rss-'));
  try {
    const base = JSON.parse(readFileSync('examples/data/tiny_sft.json', 'utf8')) as Record<string, string>[];
    const records = Array.from({ length: samples }, (_, i) => {
      const r = base[i % base.length]!;
      return { instruction: `${r.instruction} (${i})`, input: r.input ?? '', output: r.output };
    });
    writeFileSync(join(dir, 'eval.json'), JSON.stringify(records));
    writeFileSync(join(dir, 'dataset_info.json'), JSON.stringify({ rss_eval: { file_name: 'eval.json' } }));
    const sampler = new Worker(
      `const { parentPort } = require('node:worker_threads');
       const readings = [];
       const timer = setInterval(() => readings.push([Date.now(), process.memoryUsage.rss()]), 100);
       parentPort.on('message', () => { clearInterval(timer); parentPort.postMessage(readings); });`,
      { eval: true },
    );
    let loopStart = 0;
    // Main-thread readings at the progress bar's lines (start and end at least): what V8 holds beside native memory.
    const heap: { heap: number; external: number; arrayBuffers: number; rss: number }[] = [];
    const started = performance.now();
    await train(
      {
        stage: 'sft',
        model_name_or_path: 'examples/tiny/base',
        template: 'qwen',
        default_system: '',
        eval_dataset: 'rss_eval',
        dataset_dir: dir,
        cutoff_len: 128,
        do_predict: true,
        predict_with_generate: true,
        per_device_eval_batch_size: batch,
        max_new_tokens: newTokens,
        do_sample: false,
        output_dir: join(dir, 'out'),
        cache_dir: join(dir, 'cache'),
        report_to: 'none',
      },
      {
        log: () => {},
        progress: {
          isTTY: false,
          write: () => {
            loopStart ||= Date.now();
            const m = process.memoryUsage();
            heap.push({ heap: m.heapUsed, external: m.external, arrayBuffers: m.arrayBuffers, rss: m.rss });
            return true;
          },
        },
      },
    );
    const seconds = (performance.now() - started) / 1000;
    const readings = await new Promise<[number, number][]>((resolve) => {
      sampler.once('message', resolve);
      sampler.postMessage('stop');
    });
    await sampler.terminate();
    const rss = readings.filter(([t]) => t >= loopStart).map(([, b]) => b);
    const mb = (b: number) => b / 2 ** 20;
    const at = (fraction: number) => rss[Math.min(rss.length - 1, Math.floor(fraction * (rss.length - 1)))] ?? 0;
    const result = {
      samples,
      batch,
      new_tokens: newTokens,
      seconds,
      rss_samples: rss.length,
      rss_mb_at_10pct: mb(at(0.1)),
      rss_mb_at_50pct: mb(at(0.5)),
      rss_mb_at_100pct: mb(at(1)),
      peak_rss_mb: process.resourceUsage().maxRSS / 1024,
      heap_mb_first: mb(heap[0]?.heap ?? 0),
      heap_mb_last: mb(heap.at(-1)?.heap ?? 0),
      external_mb_first: mb(heap[0]?.external ?? 0),
      external_mb_last: mb(heap.at(-1)?.external ?? 0),
      predictions_mb: mb(statSync(join(dir, 'out', 'generated_predictions.jsonl')).size),
    };
    if (args.includes('--json')) {
      console.log(JSON.stringify(result));
      return;
    }
    console.log(`do_predict on ${samples} samples, batch ${batch}, ${newTokens} new tokens: ${seconds.toFixed(1)} s`);
    console.log('| point | RSS MB |');
    console.log('| --- | ---: |');
    for (const [name, v] of [
      ['10% of the loop', result.rss_mb_at_10pct],
      ['50% of the loop', result.rss_mb_at_50pct],
      ['100% of the loop', result.rss_mb_at_100pct],
      ['peak (maxRSS)', result.peak_rss_mb],
    ] as const)
      console.log(`| ${name} | ${v.toFixed(1)} |`);
    console.log(
      `V8 heap ${result.heap_mb_first.toFixed(1)} -> ${result.heap_mb_last.toFixed(1)} MB, external ${result.external_mb_first.toFixed(1)} -> ${result.external_mb_last.toFixed(1)} MB (loop start -> end)`,
    );
    console.log(
      `generated_predictions.jsonl: ${result.predictions_mb.toFixed(1)} MB on disk (${rss.length} RSS readings)`,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
