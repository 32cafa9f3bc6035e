/**
 * Vocabulary resizing of a checkpoint folder, as LLaMA-Factory's resize_embedding_layer does it: the embedding (and
 * an untied LM head) grow to the tokenizer's length rounded up to a multiple of 64, and every new row is the mean of
 * the old rows plus Gaussian noise of std 1/sqrt(hidden) (its _noisy_mean_initialization). Old rows keep their
 * values, so old token ids mean what they meant.
 */
import { copyFileSync, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { add, full, Generator, matmul, randn, scale, scope, Tensor } from '../engine/index.js';
import { writeFileAtomic } from '../io/atomic.js';
import { CheckpointReader, CONFIG_FILE, GENERATION_CONFIG_FILE, saveCheckpoint } from '../io/checkpoint.js';

export const EMBEDDING_NAME = 'model.embed_tokens.weight';
export const LM_HEAD_NAME = 'lm_head.weight';

/** The row count HF's resize_token_embeddings(n, pad_to_multiple_of) gives. */
export function paddedVocabSize(tokens: number, multiple: number): number {
  return multiple > 1 ? Math.ceil(tokens / multiple) * multiple : tokens;
}

/** weight [V, H] -> [rows, H]: old rows kept, new ones noisy means of the old (f32). */
export function noisyMeanResize(weight: Tensor, rows: number, gen: Generator): Tensor {
  const [V, H] = weight.shape as [number, number];
  if (rows <= V) throw new Error(`noisyMeanResize: ${rows} rows do not grow ${V}`);
  return scope(() => {
    const old = weight.dtype === 'f32' ? weight : weight.to('f32');
    // mean [1, H] = ones[1, V] @ old / V; new rows [n, H] = ones[n, 1] @ mean + noise
    const mean = scale(matmul(full([1, V], 1), old), 1 / V);
    const fresh = add(matmul(full([rows - V, 1], 1), mean), randn([rows - V, H], gen, 1 / Math.sqrt(H)));
    const values = new Float32Array(rows * H);
    values.set(old.toTypedArray() as Float32Array);
    values.set(fresh.toTypedArray() as Float32Array, V * H);
    return Tensor.from(values, [rows, H]);
  });
}

export interface ResizeReport {
  oldRows: number;
  newRows: number;
  /** Tensors that grew. */
  resized: string[];
}

/**
 * Writes `from`'s checkpoint into `to` with the embedding (and untied lm_head) grown to `rows`, and config.json's
 * vocab_size set to it; other tensors keep their dtype and bytes. generation_config.json is copied.
 */
export function resizeCheckpointVocab(from: string, to: string, rows: number, seed = 42): ResizeReport {
  const rawConfig = JSON.parse(readFileSync(join(from, CONFIG_FILE), 'utf8')) as Record<string, unknown>;
  const reader = CheckpointReader.open(from);
  try {
    if (!reader.has(EMBEDDING_NAME))
      throw Object.assign(new Error(`${from}: the checkpoint has no ${EMBEDDING_NAME} to resize`), {
        userFacing: true,
      });
    const oldRows = (reader.info(EMBEDDING_NAME).shape as number[])[0] as number;
    if (rows < oldRows)
      throw Object.assign(
        new Error(`${from}: the embedding has ${oldRows} rows, more than the ${rows} asked for; nothing to extend`),
        { userFacing: true },
      );
    const gen = new Generator(seed);
    const resized: string[] = [];
    return scope(() => {
      const tensors: [string, Tensor][] = [];
      for (const name of reader.names) {
        const t = reader.load(name);
        const grow = rows > oldRows && (name === EMBEDDING_NAME || name === LM_HEAD_NAME);
        if (!grow) {
          tensors.push([name, t]);
          continue;
        }
        const bigger = noisyMeanResize(t, rows, gen);
        tensors.push([name, t.dtype === 'f32' ? bigger : bigger.to(t.dtype)]);
        resized.push(name);
      }
      saveCheckpoint(to, tensors);
      writeFileAtomic(join(to, CONFIG_FILE), `${JSON.stringify({ ...rawConfig, vocab_size: rows }, null, 2)}\n`);
      const generation = join(from, GENERATION_CONFIG_FILE);
      if (existsSync(generation)) copyFileSync(generation, join(to, GENERATION_CONFIG_FILE));
      return { oldRows, newRows: rows, resized };
    });
  } finally {
    reader.close();
  }
}
