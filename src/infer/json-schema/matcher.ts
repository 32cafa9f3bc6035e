/**
 * A byte-level pushdown matcher for JSON text valid against a compiled schema (compile.ts). A state is an
 * immutable stack of frames (what is being written: an object, a key, a string...), so advancing never mutates and
 * the token trie can branch from one state into many; anyOf and literal prefixes make it nondeterministic, hence a
 * state set. JSON is written compactly (no whitespace between tokens) and numbers are bounded (at most 16 integer
 * digits, 16 fraction digits, 3 exponent digits), so a constrained generation always has a way to finish.
 */
import type { SchemaNode } from './compile.js';

const MAX_INT_DIGITS = 16;
const MAX_FRAC_DIGITS = 16;
const MAX_EXP_DIGITS = 3;

type ObjectNode = Extract<SchemaNode, { kind: 'object' }>;
type NumPhase = 'start' | 'minus' | 'zero' | 'int' | 'dot' | 'frac' | 'e' | 'esign' | 'exp';

type Frame =
  | { t: 'value'; node: SchemaNode }
  /** Matching one of `texts` (UTF-8); `keys[i]` is the property index a key text stands for (-1 for values). */
  | { t: 'lit'; texts: Uint8Array[]; keys: number[]; pos: number }
  /**
   * Inside a string; `esc` 0 = none, 1 = after a backslash, 2..5 = hex digits of \u left + 1; `cont` UTF-8
   * continuation bytes still due, the next one in [lo, hi] (only valid UTF-8: a byte-fallback decoder turns a
   * broken sequence, quote included, into U+FFFD).
   */
  | { t: 'str'; min: number; max: number; len: number; esc: number; key: boolean; cont: number; lo: number; hi: number }
  | { t: 'num'; integer: boolean; phase: NumPhase; digits: number }
  /** `next`: index of the first declared property that may still come; `prop`: the key just written. */
  | { t: 'obj'; node: ObjectNode; next: number; phase: 'open' | 'comma' | 'key' | 'colon' | 'after'; prop: number }
  | { t: 'arr'; items: SchemaNode; min: number; max: number; count: number; phase: 'open' | 'after' };

/** null = the top-level value is complete. */
export type Stack = { top: Frame; rest: Stack | null } | null;

const encoder = new TextEncoder();
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const ANY_OBJECT: ObjectNode = { kind: 'object', properties: [], additional: { kind: 'any' } };

const isDigit = (b: number) => b >= 0x30 && b <= 0x39;
const isHex = (b: number) => isDigit(b) || (b >= 0x41 && b <= 0x46) || (b >= 0x61 && b <= 0x66);

export function initialStates(root: SchemaNode): Stack[] {
  return [{ top: { t: 'value', node: root }, rest: null }];
}

/** The states after `byte` from any of `states` (empty: the byte cannot come next). */
export function advance(states: readonly Stack[], byte: number): Stack[] {
  const out: Stack[] = [];
  for (const s of states) step(s, byte, out);
  return out;
}

export function advanceBytes(states: readonly Stack[], bytes: Uint8Array): Stack[] {
  let cur = states as Stack[];
  for (const b of bytes) {
    cur = advance(cur, b);
    if (cur.length === 0) break;
  }
  return cur;
}

/** Whether the text so far is a complete value (a number ends here if nothing follows it). */
export function canEnd(states: readonly Stack[]): boolean {
  return states.some((s) => s === null || (s.top.t === 'num' && numAccepts(s.top) && s.rest === null));
}

function push(rest: Stack, top: Frame): Stack {
  return { top, rest };
}

/** A finished value or key on top of `rest`: the container moves on (a key tells which property it named). */
function pop(rest: Stack, key = -1): Stack {
  if (rest === null) return null;
  const f = rest.top;
  if (f.t === 'obj' && f.phase === 'key') return push(rest.rest, { ...f, phase: 'colon', prop: key });
  return rest;
}

function deref(node: SchemaNode): SchemaNode {
  let n = node;
  while (n.kind === 'ref') n = n.target as SchemaNode;
  return n;
}

function literal(texts: readonly string[], keys?: number[]): Frame {
  return { t: 'lit', texts: texts.map((x) => encoder.encode(x)), keys: keys ?? texts.map(() => -1), pos: 0 };
}

function step(s: Stack, b: number, out: Stack[]): void {
  if (s === null) return; // nothing may follow a complete value
  const f = s.top;
  const rest = s.rest;
  switch (f.t) {
    case 'value':
      startValue(deref(f.node), rest, b, out);
      return;
    case 'lit': {
      const texts: Uint8Array[] = [];
      const keys: number[] = [];
      for (const [i, text] of f.texts.entries()) {
        if (text[f.pos] !== b) continue;
        if (text.length === f.pos + 1) out.push(pop(rest, f.keys[i]));
        else {
          texts.push(text);
          keys.push(f.keys[i] as number);
        }
      }
      if (texts.length > 0) out.push(push(rest, { t: 'lit', texts, keys, pos: f.pos + 1 }));
      return;
    }
    case 'str':
      stepString(f, rest, b, out);
      return;
    case 'num':
      stepNumber(f, rest, b, out);
      return;
    case 'obj':
      stepObject(f, rest, b, out);
      return;
    case 'arr':
      stepArray(f, rest, b, out);
      return;
  }
}

function startValue(node: SchemaNode, rest: Stack, b: number, out: Stack[]): void {
  switch (node.kind) {
    case 'anyOf':
      for (const o of node.options) startValue(deref(o), rest, b, out);
      return;
    case 'any':
      if (b === 0x7b) out.push(push(rest, objectFrame(ANY_OBJECT)));
      else if (b === 0x5b) out.push(push(rest, arrayFrame({ kind: 'any' }, 0, Number.MAX_SAFE_INTEGER)));
      else if (b === QUOTE) out.push(push(rest, stringFrame(0, Number.MAX_SAFE_INTEGER, false)));
      else if (b === 0x2d || isDigit(b)) stepNumber(numberFrame(false), rest, b, out);
      else step(push(rest, literal(['true', 'false', 'null'])), b, out);
      return;
    case 'object':
      if (b === 0x7b) out.push(push(rest, objectFrame(node)));
      return;
    case 'array':
      if (b === 0x5b) out.push(push(rest, arrayFrame(node.items, node.minItems, node.maxItems)));
      return;
    case 'string':
      if (b === QUOTE) out.push(push(rest, stringFrame(node.minLength, node.maxLength, false)));
      return;
    case 'number':
    case 'integer':
      stepNumber(numberFrame(node.kind === 'integer'), rest, b, out);
      return;
    case 'literal':
      step(push(rest, literal(node.texts)), b, out);
      return;
    case 'ref':
      startValue(deref(node), rest, b, out);
      return;
  }
}

const objectFrame = (node: ObjectNode): Frame => ({ t: 'obj', node, next: 0, phase: 'open', prop: -1 });
const arrayFrame = (items: SchemaNode, min: number, max: number): Frame => ({
  t: 'arr',
  items,
  min,
  max,
  count: 0,
  phase: 'open',
});
const stringFrame = (min: number, max: number, key: boolean): Frame => ({
  t: 'str',
  min,
  max,
  len: 0,
  esc: 0,
  key,
  cont: 0,
  lo: 0x80,
  hi: 0xbf,
});
const numberFrame = (integer: boolean): Extract<Frame, { t: 'num' }> => ({
  t: 'num',
  integer,
  phase: 'start',
  digits: 0,
});

function stepString(f: Extract<Frame, { t: 'str' }>, rest: Stack, b: number, out: Stack[]): void {
  if (f.esc === 1) {
    if (b === 0x75) out.push(push(rest, { ...f, esc: 5 }));
    else if ('"\\/bfnrt'.includes(String.fromCharCode(b))) out.push(push(rest, { ...f, esc: 0 }));
    return;
  }
  if (f.esc > 1) {
    if (isHex(b)) out.push(push(rest, { ...f, esc: f.esc === 2 ? 0 : f.esc - 1 }));
    return;
  }
  if (f.cont > 0) {
    if (b >= f.lo && b <= f.hi) out.push(push(rest, { ...f, cont: f.cont - 1, lo: 0x80, hi: 0xbf }));
    return;
  }
  if (b === QUOTE) {
    if (f.len >= f.min) out.push(pop(rest));
    return;
  }
  if (b < 0x20) return; // control characters must be escaped
  const len = f.len + 1;
  if (len > f.max) return;
  if (b < 0x80) return void out.push(push(rest, { ...f, len, esc: b === BACKSLASH ? 1 : 0 }));
  // A UTF-8 lead byte: how many continuation bytes follow and the range of the first (no overlongs, surrogates).
  let cont = 0;
  let lo = 0x80;
  let hi = 0xbf;
  if (b >= 0xc2 && b <= 0xdf) cont = 1;
  else if (b >= 0xe0 && b <= 0xef) {
    cont = 2;
    if (b === 0xe0) lo = 0xa0;
    if (b === 0xed) hi = 0x9f;
  } else if (b >= 0xf0 && b <= 0xf4) {
    cont = 3;
    if (b === 0xf0) lo = 0x90;
    if (b === 0xf4) hi = 0x8f;
  } else return;
  out.push(push(rest, { ...f, len, cont, lo, hi }));
}

function numAccepts(f: Extract<Frame, { t: 'num' }>): boolean {
  return f.phase === 'zero' || f.phase === 'int' || f.phase === 'frac' || f.phase === 'exp';
}

function stepNumber(f: Extract<Frame, { t: 'num' }>, rest: Stack, b: number, out: Stack[]): void {
  const to = (phase: NumPhase, digits: number) => out.push(push(rest, { ...f, phase, digits }));
  const digit = isDigit(b);
  switch (f.phase) {
    case 'start':
      if (b === 0x2d) return void to('minus', 0);
      if (digit) return void to(b === 0x30 ? 'zero' : 'int', 1);
      return;
    case 'minus':
      if (digit) return void to(b === 0x30 ? 'zero' : 'int', 1);
      return;
    case 'int':
      if (digit) return void (f.digits < MAX_INT_DIGITS && to('int', f.digits + 1));
      break;
    case 'dot':
      if (digit) return void to('frac', 1);
      return;
    case 'frac':
      if (digit) return void (f.digits < MAX_FRAC_DIGITS && to('frac', f.digits + 1));
      break;
    case 'e':
      if (b === 0x2b || b === 0x2d) return void to('esign', 0);
      if (digit) return void to('exp', 1);
      return;
    case 'esign':
      if (digit) return void to('exp', 1);
      return;
    case 'exp':
      if (digit) return void (f.digits < MAX_EXP_DIGITS && to('exp', f.digits + 1));
      break;
    case 'zero':
      break;
  }
  // An accepting phase: '.', 'e' continue the number, anything else ends it and goes to the container.
  if (!f.integer && b === 0x2e && (f.phase === 'zero' || f.phase === 'int')) return void to('dot', 0);
  if (!f.integer && (b === 0x65 || b === 0x45) && f.phase !== 'exp') return void to('e', 0);
  if (rest !== null) step(pop(rest), b, out);
}

/** Declared properties that may come next: from `next` up to and including the first required one. */
function candidates(node: ObjectNode, next: number): number[] {
  const out: number[] = [];
  for (let i = next; i < node.properties.length; i++) {
    out.push(i);
    if (node.properties[i]?.required) break;
  }
  return out;
}

function requiredLeft(node: ObjectNode, next: number): boolean {
  for (let i = next; i < node.properties.length; i++) if (node.properties[i]?.required) return true;
  return false;
}

function stepObject(f: Extract<Frame, { t: 'obj' }>, rest: Stack, b: number, out: Stack[]): void {
  const node = f.node;
  switch (f.phase) {
    case 'open':
    case 'comma': {
      if (b === 0x7d && f.phase === 'open' && !requiredLeft(node, f.next)) return void out.push(pop(rest));
      if (b !== QUOTE) return;
      const keyed = push(rest, { ...f, phase: 'key' });
      const ids = candidates(node, f.next);
      if (ids.length > 0) {
        const lit = literal(
          ids.map((i) => JSON.stringify(node.properties[i]?.name)),
          ids,
        ) as Extract<Frame, { t: 'lit' }>;
        out.push(push(keyed, { ...lit, pos: 1 }));
      }
      if (node.additional && !requiredLeft(node, f.next))
        out.push(push(keyed, stringFrame(0, Number.MAX_SAFE_INTEGER, true)));
      return;
    }
    case 'colon': {
      if (b !== 0x3a) return;
      const declared = f.prop >= 0;
      const value = declared ? (node.properties[f.prop]?.node as SchemaNode) : (node.additional as SchemaNode);
      const after = push(rest, { ...f, phase: 'after', next: declared ? f.prop + 1 : f.next });
      out.push(push(after, { t: 'value', node: value }));
      return;
    }
    case 'after': {
      const more = f.next < node.properties.length || node.additional !== null;
      if (b === 0x2c && more) out.push(push(rest, { ...f, phase: 'comma' }));
      else if (b === 0x7d && !requiredLeft(node, f.next)) out.push(pop(rest));
      return;
    }
    case 'key':
      return; // the key frame above this one consumes bytes
  }
}

function stepArray(f: Extract<Frame, { t: 'arr' }>, rest: Stack, b: number, out: Stack[]): void {
  if (f.phase === 'open' && b === 0x5d) {
    if (f.min === 0) out.push(pop(rest));
    return;
  }
  if (f.phase === 'after') {
    if (b === 0x5d && f.count >= f.min) out.push(pop(rest));
    else if (b === 0x2c && f.count < f.max)
      out.push(push(push(rest, { ...f, count: f.count + 1 }), { t: 'value', node: f.items }));
    return;
  }
  // phase open: the first element starts with this byte
  if (f.max === 0) return;
  startValue(deref(f.items), push(rest, { ...f, phase: 'after', count: 1 }), b, out);
}

/**
 * When every state is inside a string between characters (no escape or UTF-8 sequence under way): how many more
 * characters the roomiest one may take. null otherwise. A token of plain string characters then fits iff its
 * length is within this room, whatever the stacks below hold (token-mask.ts's fast path).
 */
export function stringRoom(states: readonly Stack[]): number | null {
  let room = -1;
  for (const s of states) {
    if (s === null || s.top.t !== 'str' || s.top.esc !== 0 || s.top.cont !== 0) return null;
    room = Math.max(room, s.top.max - s.top.len);
  }
  return room < 0 ? null : room;
}

/**
 * Characters in `bytes` if it is plain string content (printable ASCII other than quote and backslash, or complete
 * valid UTF-8 sequences), else -1.
 */
export function plainStringChars(bytes: Uint8Array): number {
  let chars = 0;
  let s: Stack = { top: stringFrame(0, Number.MAX_SAFE_INTEGER, false), rest: null };
  for (const b of bytes) {
    if (b === QUOTE || b === BACKSLASH) return -1;
    const out: Stack[] = [];
    stepString(s?.top as Extract<Frame, { t: 'str' }>, null, b, out);
    if (out.length === 0) return -1;
    s = out[0] as Stack;
    if ((b & 0xc0) !== 0x80) chars++;
  }
  const top = s?.top as Extract<Frame, { t: 'str' }>;
  return top.cont === 0 && bytes.length > 0 ? chars : -1;
}
