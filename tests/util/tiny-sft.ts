/**
 * The end-to-end training tests' run: SFT of the bundled alpaca demo data on a tiny Llama over Mistral's tokenizer
 * (HF's 0.02 init), and the small settings most of those tests vary from.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { train } from '../../src/train/trainer.js';
import { tinyMistralDir } from './tiny-model.js';
import { tempDir } from './tokenizers.js';

/** A fresh tiny model folder to train (256 positions: room for cutoff_len 64). */
export function tinySftModelDir(): string {
  return tinyMistralDir(5, { std: 0.02, maxPositionEmbeddings: 256 });
}

/** What every such run sets: the stage and the data. */
export const SFT_DEMO = {
  stage: 'sft',
  do_train: true,
  dataset: 'alpaca_en_demo',
  dataset_dir: 'examples/data',
  template: 'alpaca',
};

/** A rank-2 LoRA over 8 samples of 32 tokens, 4 steps of batch 2: seconds on two cores. */
export const TINY_LORA_RUN = {
  cutoff_len: 32,
  max_samples: 8,
  finetuning_type: 'lora',
  lora_rank: 2,
  per_device_train_batch_size: 2,
  max_steps: 4,
};

/**
 * A full-finetuning run long enough for the loss to fall (8 steps at lr 1e-2 over 16 samples of 64 tokens) with the
 * optimizer's keys in `optimizer`, in a temporary folder removed afterwards: its logged losses and log lines.
 */
export async function trainFullSft(optimizer: Record<string, unknown>): Promise<{ losses: number[]; lines: string[] }> {
  const root = tempDir('lmforge-full-sft-');
  const lines: string[] = [];
  try {
    const result = await train(
      {
        ...SFT_DEMO,
        model_name_or_path: tinySftModelDir(),
        cutoff_len: 64,
        max_samples: 16,
        finetuning_type: 'full',
        ...optimizer,
        per_device_train_batch_size: 2,
        learning_rate: 1e-2,
        max_steps: 8,
        logging_steps: 2,
        save_steps: 100,
        seed: 7,
        report_to: 'none',
        output_dir: join(root, 'out'),
      },
      { progress: false, log: (l: string) => lines.push(l) },
    );
    const losses = result.logHistory.filter((e) => typeof e.loss === 'number').map((e) => e.loss as number);
    return { losses, lines };
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}
