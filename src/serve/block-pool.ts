/**
 * The block allocator of the paged KV cache, with prefix caching. The pool has `numBlocks` blocks of `blockSize`
 * positions; a block is in one of three states:
 *   - in use: refcount > 0 (one count per sequence whose block table holds it);
 *   - cached: refcount 0 but it holds a full block of a known token prefix, kept for reuse (LRU order);
 *   - free: refcount 0 and nothing worth keeping.
 * A full block's key is a chained hash: hash(parent block's key, the block's tokens), so equal keys mean equal
 * whole prefixes (up to a SHA-1 collision), not just equal blocks. A new sequence takes the cached blocks of its
 * prompt's longest cached prefix instead of recomputing them; when no free block is left, the least recently
 * released cached block is evicted.
 */
import { createHash } from 'node:crypto';

export type BlockHash = string;

/** The key of a full block of `tokens` after the prefix whose last block key is `parent` (null: the first block). */
export function chainHash(parent: BlockHash | null, tokens: readonly number[]): BlockHash {
  const h = createHash('sha1');
  h.update(parent ?? 'root');
  h.update(new Uint8Array(Int32Array.from(tokens).buffer));
  return h.digest('hex');
}

export interface BlockPoolStats {
  /** Blocks held by sequences. */
  used: number;
  /** Unused blocks holding a cached prefix (evictable). */
  cached: number;
  /** Unused blocks with nothing cached. */
  free: number;
  /** Blocks a sequence took from the prefix cache instead of computing them, since the pool was made. */
  prefixHits: number;
  /** Cached blocks evicted to make room. */
  evictions: number;
}

export class BlockPool {
  private readonly refcount: Int32Array;
  private readonly freeList: number[] = [];
  /** hash -> block for every block registered in the prefix cache (in use or cached). */
  private readonly byHash = new Map<BlockHash, number>();
  private readonly hashOf = new Map<number, BlockHash>();
  /** Cached blocks with refcount 0, least recently released first (Map keeps insertion order). */
  private readonly lru = new Map<number, true>();
  private hits = 0;
  private evicted = 0;

  constructor(
    readonly numBlocks: number,
    readonly blockSize: number,
    /** Off: full blocks are never registered, so nothing is shared or kept. */
    readonly prefixCaching = true,
  ) {
    if (!Number.isInteger(numBlocks) || numBlocks < 1) throw new RangeError(`numBlocks must be >= 1, got ${numBlocks}`);
    if (!Number.isInteger(blockSize) || blockSize < 1) throw new RangeError(`blockSize must be >= 1, got ${blockSize}`);
    this.refcount = new Int32Array(numBlocks);
    for (let b = numBlocks - 1; b >= 0; b--) this.freeList.push(b);
  }

  /** Blocks a new allocation could get now (free + evictable cached). */
  get available(): number {
    return this.freeList.length + this.lru.size;
  }

  get stats(): BlockPoolStats {
    const free = this.freeList.length;
    const cached = this.lru.size;
    return { used: this.numBlocks - free - cached, cached, free, prefixHits: this.hits, evictions: this.evicted };
  }

  /** A block for one sequence (refcount 1), or null when every block is in use. */
  allocate(): number | null {
    let b = this.freeList.pop();
    if (b === undefined) {
      const oldest = this.lru.keys().next();
      if (oldest.done) return null;
      b = oldest.value;
      this.lru.delete(b);
      this.byHash.delete(this.hashOf.get(b) as BlockHash);
      this.hashOf.delete(b);
      this.evicted++;
    }
    this.refcount[b] = 1;
    return b;
  }

  /** The cached block with this key, shared (refcount + 1), or null. */
  lookup(hash: BlockHash): number | null {
    if (!this.prefixCaching) return null;
    const b = this.byHash.get(hash);
    if (b === undefined) return null;
    if (this.refcount[b] === 0) this.lru.delete(b);
    this.refcount[b] = (this.refcount[b] as number) + 1;
    this.hits++;
    return b;
  }

  /** Whether a block with this key is cached (no reference taken). */
  has(hash: BlockHash): boolean {
    return this.prefixCaching && this.byHash.has(hash);
  }

  /** Records that block `b` (in use, now full) holds the prefix `hash`; a prefix already cached keeps its block. */
  register(b: number, hash: BlockHash): void {
    if (!this.prefixCaching || this.byHash.has(hash) || this.hashOf.has(b)) return;
    this.byHash.set(hash, b);
    this.hashOf.set(b, hash);
  }

  /** Drops one reference; an unreferenced block becomes cached (when registered) or free. */
  release(b: number): void {
    const n = (this.refcount[b] as number) - 1;
    if (n < 0) throw new Error(`block ${b} released more often than taken`);
    this.refcount[b] = n;
    if (n > 0) return;
    if (this.hashOf.has(b)) this.lru.set(b, true);
    else this.freeList.push(b);
  }
}
