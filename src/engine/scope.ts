/**
 * Explicit ownership. Tensors created inside `scope(fn)` are disposed when fn returns, except the tensors it
 * returns (which pass to the enclosing scope) and tensors marked with `keep`. Parameters, gradients and optimizer
 * state are created outside any scope or kept; activations of a training step live and die in the step's scope.
 */
import type { Tensor } from './tensor.js';

const stack: Set<Tensor>[] = [];

/** Called by the Tensor constructor. */
export function trackTensor(t: Tensor): void {
  stack[stack.length - 1]?.add(t);
}

/** Removes t from every open scope: it lives until disposed explicitly. */
export function keep<T extends Tensor>(t: T): T {
  for (const s of stack) s.delete(t);
  return t;
}

/** Runs fn; disposes every tensor created inside that fn neither returned nor kept. Synchronous fns only. */
export function scope<T>(fn: () => T): T {
  const created = new Set<Tensor>();
  stack.push(created);
  let result: T;
  try {
    result = fn();
  } catch (e) {
    stack.pop();
    for (const t of created) t.dispose();
    throw e;
  }
  stack.pop();
  const returned = new Set<Tensor>();
  collectTensors(result, returned, 0);
  const parent = stack[stack.length - 1];
  for (const t of created) {
    if (returned.has(t)) parent?.add(t);
    else t.dispose();
  }
  return result;
}

function isTensorLike(v: unknown): v is Tensor {
  return typeof v === 'object' && v !== null && (v as { isTensor?: unknown }).isTensor === true;
}

function collectTensors(v: unknown, out: Set<Tensor>, depth: number): void {
  if (depth > 4 || typeof v !== 'object' || v === null) return;
  if (isTensorLike(v)) {
    out.add(v);
    if (v.grad) out.add(v.grad);
    return;
  }
  if (Array.isArray(v)) for (const x of v) collectTensors(x, out, depth + 1);
  else if (v instanceof Map) for (const x of v.values()) collectTensors(x, out, depth + 1);
  else if (Object.getPrototypeOf(v) === Object.prototype)
    for (const x of Object.values(v as Record<string, unknown>)) collectTensors(x, out, depth + 1);
}
