/**
 * Hugging Face checkpoint folders: `model.safetensors`, or shards `model-00001-of-00003.safetensors` listed by
 * `model.safetensors.index.json` (`{"metadata": {"total_size": N}, "weight_map": {name: shard}}`), plus
 * `config.json` and optionally `generation_config.json`.
 *
 * Reading is lazy: opening reads the index and every shard's header (a few KB each) and checks that they agree;
 * `load(name)` reads one tensor. Saving shards the way transformers' `save_pretrained` does (huggingface_hub's
 * `split_state_dict_into_shards_factory`): tensors in the given order, a new shard when the next tensor would push
 * the current one past `maxShardSize`, a tensor larger than the limit alone in its own shard; `total_size` is the
 * sum of the stored tensor bytes (headers excluded); one shard is written as `model.safetensors` with no index.
 *
 * Atomicity: a save into a folder that does not exist yet writes everything into `<dir>.tmp-<pid>` next to it and
 * renames that folder into place, so the checkpoint appears whole or not at all. A save into an existing folder
 * (which usually holds other files: tokenizer, trainer logs) cannot swap the folder without dropping those, so it
 * writes every file atomically (temporary name, fsync, rename), removes the old index first and writes the new
 * index last, then deletes weight files left over from an earlier save. A crash in between leaves shards without an
 * index, which the reader reports as an incomplete save rather than loading a mix of old and new weights.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import type { DType } from '../engine/dtype.js';
import type { Tensor } from '../engine/tensor.js';
import { type PyJson, pythonJsonDumps } from '../util/python-json.js';
import { syncFolder, tempPathFor, writeFileAtomic } from './atomic.js';
import { FormatError } from './errors.js';
import { type ModelConfig, toHfConfigJson } from './model-config.js';
import {
  isRawTensor,
  type LoadOptions,
  type NamedTensors,
  namedTensorEntries,
  SafetensorsFile,
  safetensorsDTypeOf,
  storedBytes,
  type TensorInfo,
  type WritableTensor,
  writeSafetensors,
} from './safetensors.js';

export const SINGLE_FILE = 'model.safetensors';
export const INDEX_FILE = 'model.safetensors.index.json';
export const CONFIG_FILE = 'config.json';
export const GENERATION_CONFIG_FILE = 'generation_config.json';
/** transformers' default `max_shard_size`. */
export const DEFAULT_MAX_SHARD_SIZE = '5GB';

const SHARD_NAME = /^model-(\d{5})-of-(\d{5})\.safetensors$/;

/** HF's shard file name: `model-00001-of-00002.safetensors` (1-based, five digits). */
export function shardFileName(index: number, count: number): string {
  return `model-${String(index + 1).padStart(5, '0')}-of-${String(count).padStart(5, '0')}.safetensors`;
}

/**
 * Bytes for a `max_shard_size` as transformers reads it: a number of bytes, or digits with a unit: KB/MB/GB
 * (powers of 1000), KiB/MiB/GiB (powers of 1024); a lowercase final "b" (e.g. "5Gb") means bits.
 */
export function parseShardSize(size: number | string): number {
  if (typeof size === 'number') {
    if (!Number.isSafeInteger(size) || size <= 0)
      throw new Error(`max_shard_size ${size} must be a positive whole number of bytes`);
    return size;
  }
  const m = /^\s*(\d+(?:\.\d+)?)\s*([KMG])(i?)(B)\s*$/i.exec(size);
  if (!m)
    throw new Error(
      `max_shard_size ${JSON.stringify(size)} is not a size: use bytes (a number) or digits with a unit, e.g. "5GB", "500MB", "2GiB"`,
    );
  const [, digits, unit, binary, b] = m as unknown as [string, string, string, string, string];
  const power = { K: 1, M: 2, G: 3 }[unit.toUpperCase() as 'K' | 'M' | 'G'];
  const bytes = Math.floor(Number(digits) * (binary ? 1024 : 1000) ** power);
  const result = !binary && b === 'b' ? Math.floor(bytes / 8) : bytes;
  if (result <= 0) throw new Error(`max_shard_size ${JSON.stringify(size)} is zero bytes`);
  return result;
}

export interface ShardPlan {
  /** File name -> tensor names, in file order. */
  readonly files: ReadonlyMap<string, readonly string[]>;
  readonly totalSize: number;
  readonly sharded: boolean;
}

/** Splits named tensor sizes into shards exactly as huggingface_hub does (see the file comment). */
export function planShards(sizes: Iterable<[string, number]>, maxShardSize: number): ShardPlan {
  const shards: string[][] = [];
  let current: string[] = [];
  let currentSize = 0;
  let totalSize = 0;
  const names: string[] = [];
  for (const [name, size] of sizes) {
    names.push(name);
    totalSize += size;
    if (size > maxShardSize) {
      shards.push([name]);
      continue;
    }
    if (currentSize + size > maxShardSize) {
      shards.push(current);
      current = [];
      currentSize = 0;
    }
    current.push(name);
    currentSize += size;
  }
  if (current.length > 0) shards.push(current);
  if (shards.length <= 1) return { files: new Map([[SINGLE_FILE, names]]), totalSize, sharded: false };
  const files = new Map<string, string[]>();
  shards.forEach((s, i) => {
    files.set(shardFileName(i, shards.length), s);
  });
  return { files, totalSize, sharded: true };
}

// ---------------------------------------------------------------------------------------------------------------
// Reading

export interface CheckpointTensorInfo extends TensorInfo {
  /** The file (inside the checkpoint folder) that holds the tensor. */
  readonly file: string;
}

/** A checkpoint folder opened for lazy, tensor-by-tensor reading. Call close() when done. */
export class CheckpointReader {
  private constructor(
    readonly dir: string,
    private readonly files: Map<string, SafetensorsFile>,
    private readonly where: Map<string, string>,
    /** `metadata.total_size` from the index, or the single file's data size. */
    readonly totalSize: number,
    readonly sharded: boolean,
  ) {}

  static open(dir: string): CheckpointReader {
    const indexPath = join(dir, INDEX_FILE);
    if (existsSync(indexPath)) return CheckpointReader.openSharded(dir, indexPath);
    const single = join(dir, SINGLE_FILE);
    if (existsSync(single)) {
      const file = SafetensorsFile.open(single);
      const where = new Map<string, string>();
      let total = 0;
      for (const info of file.tensors.values()) {
        where.set(info.name, SINGLE_FILE);
        total += info.end - info.begin;
      }
      return new CheckpointReader(dir, new Map([[SINGLE_FILE, file]]), where, total, false);
    }
    throw new FormatError(dir, null, describeMissingWeights(dir));
  }

  private static openSharded(dir: string, indexPath: string): CheckpointReader {
    let index: unknown;
    try {
      index = JSON.parse(readFileSync(indexPath, 'utf8'));
    } catch (e) {
      throw new FormatError(indexPath, null, `is not valid JSON (${(e as Error).message})`);
    }
    const obj = index as { weight_map?: unknown; metadata?: { total_size?: unknown } };
    if (typeof obj !== 'object' || obj === null || typeof obj.weight_map !== 'object' || obj.weight_map === null)
      throw new FormatError(indexPath, 'weight_map', 'is missing: the index must map every tensor name to its shard');
    const weightMap = obj.weight_map as Record<string, unknown>;
    const where = new Map<string, string>();
    for (const [name, file] of Object.entries(weightMap)) {
      if (typeof file !== 'string' || file.includes('/') || file.includes('\\'))
        throw new FormatError(
          indexPath,
          `weight_map.${name}`,
          `must name a shard file in the folder, got ${JSON.stringify(file)}`,
        );
      where.set(name, file);
    }
    const files = new Map<string, SafetensorsFile>();
    try {
      for (const file of new Set(where.values())) {
        const path = join(dir, file);
        if (!existsSync(path))
          throw new FormatError(indexPath, null, `lists shard ${file}, which is missing from ${dir}`);
        files.set(file, SafetensorsFile.open(path));
      }
      for (const [name, file] of where)
        if (!(files.get(file) as SafetensorsFile).has(name))
          throw new FormatError(
            join(dir, file),
            name,
            `the index places this tensor here but the shard does not hold it`,
          );
      for (const [file, st] of files)
        for (const name of st.tensors.keys())
          if (where.get(name) !== file)
            throw new FormatError(
              indexPath,
              name,
              `missing index entry: shard ${file} holds this tensor but weight_map ${where.has(name) ? `places it in ${where.get(name)}` : 'does not list it'}`,
            );
    } catch (e) {
      for (const f of files.values()) f.close();
      throw e;
    }
    const declared = obj.metadata?.total_size;
    let total = 0;
    for (const st of files.values()) for (const info of st.tensors.values()) total += info.end - info.begin;
    return new CheckpointReader(dir, files, where, typeof declared === 'number' ? declared : total, true);
  }

  /** Tensor names in index (or file) order. */
  get names(): string[] {
    return [...this.where.keys()];
  }

  has(name: string): boolean {
    return this.where.has(name);
  }

  info(name: string): CheckpointTensorInfo {
    const file = this.where.get(name);
    if (file === undefined)
      throw new FormatError(
        this.dir,
        name,
        `no such tensor in the checkpoint${this.sharded ? ` (not in ${INDEX_FILE})` : ''}`,
      );
    return { ...(this.files.get(file) as SafetensorsFile).info(name), file };
  }

  /** Name -> shape of every tensor, for checking against `expectedParameters`. */
  shapes(): Map<string, readonly number[]> {
    const out = new Map<string, readonly number[]>();
    for (const name of this.where.keys()) out.set(name, this.info(name).shape);
    return out;
  }

  /** A tensor's stored bytes as they are (see SafetensorsFile.readBytes). */
  readBytes(name: string): Uint8Array {
    const { file } = this.info(name);
    return (this.files.get(file) as SafetensorsFile).readBytes(name);
  }

  load(name: string, options: LoadOptions = {}): Tensor {
    const { file } = this.info(name);
    return (this.files.get(file) as SafetensorsFile).load(name, options);
  }

  close(): void {
    for (const f of this.files.values()) f.close();
  }
}

function describeMissingWeights(dir: string): string {
  if (!existsSync(dir)) return 'checkpoint folder does not exist';
  const entries = readdirSync(dir);
  if (entries.some((e) => SHARD_NAME.test(e)))
    return `has shard files but no ${INDEX_FILE}: the save was interrupted or the index was not copied`;
  if (entries.some((e) => e === 'pytorch_model.bin' || e.startsWith('pytorch_model-')))
    return 'holds PyTorch pickle weights (pytorch_model*.bin); lmforge reads safetensors only: convert them (e.g. load and save_pretrained(safe_serialization=True) in transformers)';
  return `has neither ${SINGLE_FILE} nor ${INDEX_FILE}`;
}

// ---------------------------------------------------------------------------------------------------------------
// Writing

export interface SaveCheckpointOptions {
  /** transformers' `max_shard_size`: bytes or "5GB", "500MB", "2GiB". Default "5GB". */
  maxShardSize?: number | string;
  /** Store floating tensors in this dtype (and record it as `torch_dtype` in config.json). */
  dtype?: DType;
  /** Written as config.json when given. */
  config?: ModelConfig;
  /** Written as generation_config.json when given (keys as transformers names them). */
  generationConfig?: Record<string, PyJson>;
  /** Called after each tensor is written, with its file and stored bytes (progress on long writes). */
  onTensor?: (file: string, name: string, bytes: number) => void;
}

export interface SavedCheckpoint {
  readonly files: readonly string[];
  readonly totalSize: number;
  readonly sharded: boolean;
}

/**
 * Saves tensors (in the given order, which decides the sharding) as an HF checkpoint folder. See the file comment
 * for the atomicity guarantees.
 */
export function saveCheckpoint(
  folder: string,
  tensors: NamedTensors<WritableTensor>,
  options: SaveCheckpointOptions = {},
): SavedCheckpoint {
  // Absolute, so a trailing slash cannot put the temporary folder inside the target.
  const dir = resolve(folder);
  const entries = namedTensorEntries(tensors);
  const byName = new Map(entries);
  const floatDtype = options.dtype && options.dtype !== 'i32' ? options.dtype : undefined;
  const sizes = entries.map(([name, t]): [string, number] => [
    name,
    isRawTensor(t)
      ? t.bytes.length
      : storedBytes(t.shape, safetensorsDTypeOf(t.dtype === 'i32' || !floatDtype ? t.dtype : floatDtype)),
  ]);
  const plan = planShards(sizes, parseShardSize(options.maxShardSize ?? DEFAULT_MAX_SHARD_SIZE));
  const fresh = !existsSync(dir);
  const target = fresh ? tempPathFor(dir) : dir;
  if (!fresh && !statSync(dir).isDirectory()) throw new Error(`${dir} exists and is not a folder`);
  if (fresh) {
    rmSync(target, { recursive: true, force: true });
    mkdirSync(dirname(dir), { recursive: true });
    mkdirSync(target);
  }
  try {
    // An index from an earlier save must not outlive the shards it describes.
    if (!fresh) rmSync(join(dir, INDEX_FILE), { force: true });
    for (const [file, names] of plan.files)
      writeSafetensors(
        join(target, file),
        names.map((n): [string, WritableTensor] => [n, byName.get(n) as WritableTensor]),
        {
          dtype: floatDtype,
          ...(options.onTensor ? { onTensor: (name, bytes) => options.onTensor?.(file, name, bytes) } : {}),
        },
      );
    if (options.config)
      writeFileAtomic(join(target, CONFIG_FILE), toHfConfigJson(options.config, { torchDtype: floatDtype }));
    if (options.generationConfig)
      writeFileAtomic(
        join(target, GENERATION_CONFIG_FILE),
        `${pythonJsonDumps(options.generationConfig, { indent: 2, sortKeys: true })}\n`,
      );
    if (plan.sharded) {
      const weightMap: Record<string, string> = {};
      for (const [file, names] of plan.files) for (const n of names) weightMap[n] = file;
      const index = { metadata: { total_size: plan.totalSize }, weight_map: weightMap };
      writeFileAtomic(join(target, INDEX_FILE), `${pythonJsonDumps(index, { indent: 2, sortKeys: true })}\n`);
    }
    if (!fresh) removeStaleWeights(dir, new Set(plan.files.keys()));
  } catch (e) {
    if (fresh) rmSync(target, { recursive: true, force: true });
    throw e;
  }
  if (fresh) {
    renameSync(target, dir);
    syncFolder(dirname(dir));
  }
  return { files: [...plan.files.keys()], totalSize: plan.totalSize, sharded: plan.sharded };
}

/** Deletes weight files of an earlier save that the new one did not write (HF cleans the folder the same way). */
function removeStaleWeights(dir: string, keep: Set<string>): void {
  for (const e of readdirSync(dir))
    if ((e === SINGLE_FILE || SHARD_NAME.test(e)) && !keep.has(e)) rmSync(join(dir, e), { force: true });
  syncFolder(dir);
}
