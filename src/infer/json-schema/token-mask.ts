/**
 * Grammar-constrained decoding over a tokenizer's vocabulary: every token whose bytes cannot extend the text
 * written so far into a valid value is masked (-Infinity) before sampling, and the stop tokens are allowed only
 * once the value is complete. The vocabulary's byte strings sit in a trie built once per tokenizer, so one step
 * walks the matcher down shared prefixes and abandons a whole subtree at its first impossible byte instead of
 * testing every token byte by byte.
 */
import type { TokenBytes } from '../token-bytes.js';
import type { SchemaNode } from './compile.js';
import { advance, advanceBytes, canEnd, initialStates, plainStringChars, type Stack, stringRoom } from './matcher.js';

interface TrieNode {
  /** Tokens whose bytes end at this node. */
  ids: number[];
  children: Map<number, TrieNode>;
}

/**
 * The vocabulary's tries: `all` tokens, and `special` ones only (those that are not plain string characters);
 * `plainChars[id]` is a plain token's length in characters, -1 for the others. Inside a string, plain tokens are
 * decided by length alone and only the few special ones are walked.
 */
interface VocabIndex {
  all: TrieNode;
  special: TrieNode;
  plainChars: Int32Array;
}

const indexes = new WeakMap<TokenBytes, VocabIndex>();

function indexOf(table: TokenBytes): VocabIndex {
  let index = indexes.get(table);
  if (index) return index;
  const plainChars = Int32Array.from(table.bytes, (b) => (b ? plainStringChars(b) : -1));
  index = {
    all: trieOf(table, () => true),
    special: trieOf(table, (id) => plainChars[id] === -1),
    plainChars,
  };
  indexes.set(table, index);
  return index;
}

function trieOf(table: TokenBytes, keep: (id: number) => boolean): TrieNode {
  const root: TrieNode = { ids: [], children: new Map() };
  for (const [id, bytes] of table.bytes.entries()) {
    if (!bytes || bytes.length === 0 || !keep(id)) continue;
    let node = root;
    for (const b of bytes) {
      let child = node.children.get(b);
      if (!child) {
        child = { ids: [], children: new Map() };
        node.children.set(b, child);
      }
      node = child;
    }
    node.ids.push(id);
  }
  return root;
}

export class GrammarConstraint {
  private states: Stack[];
  private readonly index: VocabIndex;
  private readonly allowed: Uint8Array;

  constructor(
    root: SchemaNode,
    private readonly table: TokenBytes,
    private readonly stopIds: readonly number[],
  ) {
    this.states = initialStates(root);
    this.index = indexOf(table);
    this.allowed = new Uint8Array(table.bytes.length);
  }

  /** Whether the text written so far is a complete value. */
  get complete(): boolean {
    return canEnd(this.states);
  }

  /** Masks row [V] in place: -Infinity for every token that cannot come next. */
  mask(row: Float32Array): void {
    const allowed = this.allowed;
    allowed.fill(0);
    let any = false;
    const walk = (node: TrieNode, states: Stack[]) => {
      for (const [b, child] of node.children) {
        const next = advance(states, b);
        if (next.length === 0) continue;
        for (const id of child.ids) {
          allowed[id] = 1;
          any = true;
        }
        if (child.children.size > 0) walk(child, next);
      }
    };
    const room = stringRoom(this.states);
    if (room === null) walk(this.index.all, this.states);
    else {
      const plain = this.index.plainChars;
      for (let id = 0; id < plain.length; id++) {
        const chars = plain[id] as number;
        if (chars >= 0 && chars <= room) {
          allowed[id] = 1;
          any = true;
        }
      }
      walk(this.index.special, this.states);
    }
    // A dead end (no token fits) ends the generation rather than writing something invalid.
    if (this.complete || !any) for (const id of this.stopIds) allowed[id] = 1;
    const n = Math.min(row.length, allowed.length);
    for (let i = 0; i < n; i++) if (allowed[i] === 0) row[i] = Number.NEGATIVE_INFINITY;
    for (let i = n; i < row.length; i++) row[i] = Number.NEGATIVE_INFINITY; // padded vocabulary rows
  }

  /** Moves past the chosen token (a stop token changes nothing). */
  accept(token: number): void {
    const bytes = this.table.bytes[token];
    if (!bytes || this.stopIds.includes(token)) return;
    this.states = advanceBytes(this.states, bytes);
  }
}
