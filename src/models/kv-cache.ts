/**
 * Per-layer key/value buffers for incremental decoding: k, v [B, capacity, KVH, D]. New positions are copied in
 * place; attention reads the whole buffer with queryOffset = the position of the first new token, so causality
 * excludes the unused tail without a copy or a per-step allocation.
 */
import { keep, native, Tensor } from '../engine/index.js';

export class KVCache {
  readonly keys: Tensor[] = [];
  readonly values: Tensor[] = [];
  /** Positions filled so far (the same for every row: prompts are left-padded to one length). */
  length = 0;
  /** 1 for real tokens, 0 for padding and not-yet-written slots: [B, capacity]. */
  readonly keyMask: Tensor;
  private readonly maskHost: Int32Array;

  constructor(
    readonly batch: number,
    readonly capacity: number,
    readonly numLayers: number,
    readonly numKvHeads: number,
    readonly headDim: number,
  ) {
    for (let i = 0; i < numLayers; i++) {
      this.keys.push(keep(Tensor.zeros([batch, capacity, numKvHeads, headDim])));
      this.values.push(keep(Tensor.zeros([batch, capacity, numKvHeads, headDim])));
    }
    this.maskHost = new Int32Array(batch * capacity);
    this.keyMask = keep(Tensor.zeros([batch, capacity], 'i32'));
  }

  /** Marks the next t positions as real (1) or padding (0) per row, before the layers write them. */
  extendMask(mask: Int32Array, t: number): void {
    if (this.length + t > this.capacity) throw new Error(`KV cache full: ${this.length} + ${t} > ${this.capacity}`);
    for (let b = 0; b < this.batch; b++)
      for (let j = 0; j < t; j++) this.maskHost[b * this.capacity + this.length + j] = mask[b * t + j] as number;
    native.write(this.keyMask.handle, 0, this.maskHost);
  }

  /** Copies k, v [B, T, KVH, D] of one layer into slots [length, length + T). */
  write(layer: number, k: Tensor, v: Tensor): void {
    const t = k.shape[1] as number;
    const row = this.numKvHeads * this.headDim * 4;
    for (let b = 0; b < this.batch; b++) {
      const src = b * t * row;
      const dst = (b * this.capacity + this.length) * row;
      native.copy(k.handle, src, (this.keys[layer] as Tensor).handle, dst, t * row);
      native.copy(v.handle, src, (this.values[layer] as Tensor).handle, dst, t * row);
    }
  }

  /** Called once all layers have written the step's T positions. */
  advance(t: number): void {
    this.length += t;
  }

  get bytes(): number {
    return 2 * this.numLayers * this.batch * this.capacity * this.numKvHeads * this.headDim * 4;
  }

  dispose(): void {
    for (const t of [...this.keys, ...this.values, this.keyMask]) t.dispose();
  }
}
