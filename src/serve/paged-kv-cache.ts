/**
 * The paged KV cache: per layer one key pool and one value pool [blocks, blockSize, KVH, D], shared by every
 * sequence the scheduler runs, and the BlockPool that hands their blocks out. A forward step over any mix of
 * sequences (decode tokens and prefill chunks in one row of N tokens) gets a PagedStep: its block tables, the
 * sequence and position of every token, and the pool slot each token's key and value go to.
 */
import { keep, pagedAttention, pagedKvWrite, Tensor } from '../engine/index.js';
import type { AttentionScoring, PagedAttentionStep } from '../models/family.js';
import { BlockPool } from './block-pool.js';

export interface KVShape {
  numLayers: number;
  numKvHeads: number;
  headDim: number;
}

/** Bytes one block takes over all layers (keys and values, f32). */
export function bytesPerBlock(shape: KVShape, blockSize: number): number {
  return 2 * shape.numLayers * blockSize * shape.numKvHeads * shape.headDim * 4;
}

/** One sequence's part of a step: its block table and the positions of the tokens it feeds (consecutive). */
export interface StepSequence {
  blocks: readonly number[];
  /** Position of its first fed token; it feeds `count` tokens. */
  start: number;
  count: number;
}

export class PagedKVCache {
  readonly keys: Tensor[] = [];
  readonly values: Tensor[] = [];
  readonly pool: BlockPool;

  constructor(
    readonly shape: KVShape,
    readonly numBlocks: number,
    readonly blockSize: number,
    prefixCaching = true,
  ) {
    this.pool = new BlockPool(numBlocks, blockSize, prefixCaching);
    for (let l = 0; l < shape.numLayers; l++) {
      this.keys.push(keep(Tensor.zeros([numBlocks, blockSize, shape.numKvHeads, shape.headDim])));
      this.values.push(keep(Tensor.zeros([numBlocks, blockSize, shape.numKvHeads, shape.headDim])));
    }
  }

  get bytes(): number {
    return this.numBlocks * bytesPerBlock(this.shape, this.blockSize);
  }

  /** The attention context of one forward over `seqs` (tokens flattened in this order); dispose it after. */
  step(seqs: readonly StepSequence[]): PagedStep {
    const bs = this.blockSize;
    const maxBlocks = Math.max(1, ...seqs.map((s) => s.blocks.length));
    const table = new Int32Array(seqs.length * maxBlocks);
    const n = seqs.reduce((sum, s) => sum + s.count, 0);
    const seqOf = new Int32Array(n);
    const posOf = new Int32Array(n);
    const slots = new Int32Array(n);
    let i = 0;
    seqs.forEach((s, r) => {
      table.set(s.blocks, r * maxBlocks);
      for (let p = s.start; p < s.start + s.count; p++, i++) {
        const block = s.blocks[Math.floor(p / bs)];
        if (block === undefined) throw new Error(`position ${p} has no block (the table holds ${s.blocks.length})`);
        seqOf[i] = r;
        posOf[i] = p;
        slots[i] = block * bs + (p % bs);
      }
    });
    return new PagedStep(
      this,
      Tensor.from(table, [seqs.length, maxBlocks], 'i32'),
      Tensor.from(seqOf, [n], 'i32'),
      Tensor.from(posOf, [n], 'i32'),
      Tensor.from(slots, [n], 'i32'),
    );
  }

  dispose(): void {
    for (const t of [...this.keys, ...this.values]) t.dispose();
  }
}

export class PagedStep implements PagedAttentionStep {
  constructor(
    private readonly cache: PagedKVCache,
    private readonly blockTable: Tensor,
    private readonly seqOf: Tensor,
    private readonly posOf: Tensor,
    private readonly slots: Tensor,
  ) {}

  /** q [1, N, H, D], k, v [1, N, KVH, D] -> [1, N, H, D]: the step's keys are stored first, then attended. */
  attend(layer: number, q: Tensor, k: Tensor, v: Tensor, scoring: AttentionScoring = {}): Tensor {
    const kPool = this.cache.keys[layer] as Tensor;
    const vPool = this.cache.values[layer] as Tensor;
    pagedKvWrite(k, v, kPool, vPool, this.slots);
    return pagedAttention(q, kPool, vPool, {
      blockTable: this.blockTable,
      seqOf: this.seqOf,
      posOf: this.posOf,
      ...scoring,
    });
  }

  dispose(): void {
    for (const t of [this.blockTable, this.seqOf, this.posOf, this.slots]) t.dispose();
  }
}
