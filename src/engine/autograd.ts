/**
 * The tape. An op calls `record(output, name, inputs, backward)` after computing its forward; the node is kept only
 * when grad mode is on and some input requires grad, so inference and frozen paths cost nothing. `backward` walks
 * the graph in reverse topological order; each node's backward receives which inputs need a gradient, so a frozen
 * weight never triggers its weight-gradient GEMM.
 */
import { keep } from './scope.js';
import type { Tensor } from './tensor.js';

/** Computes the gradient of each input from the output's gradient; null where `needsGrad[i]` is false. */
export type BackwardFn = (gradOutput: Tensor, needsGrad: readonly boolean[]) => (Tensor | null)[];

export interface GradNode {
  readonly name: string;
  readonly inputs: readonly Tensor[];
  readonly backward: BackwardFn;
}

let gradEnabled = true;

export function isGradEnabled(): boolean {
  return gradEnabled;
}

/** Runs fn with the tape off (inference, reference log-probs, optimizer updates). */
export function noGrad<T>(fn: () => T): T {
  const prev = gradEnabled;
  gradEnabled = false;
  try {
    return fn();
  } finally {
    gradEnabled = prev;
  }
}

/** Runs fn with the tape on (a checkpointed layer's recompute inside a backward). */
export function withGrad<T>(fn: () => T): T {
  const prev = gradEnabled;
  gradEnabled = true;
  try {
    return fn();
  } finally {
    gradEnabled = prev;
  }
}

/** Records output = op(inputs) on the tape when needed. Returns true when it was recorded. */
export function record(output: Tensor, name: string, inputs: readonly Tensor[], backward: BackwardFn): boolean {
  if (!gradEnabled || !inputs.some((t) => t.requiresGrad)) return false;
  output.requiresGrad = true;
  output.gradFn = { name, inputs, backward };
  return true;
}

// Ops used by backward itself are provided by ops/elementwise.ts at load time (avoids an import cycle).
type GradMath = {
  ones: (shape: readonly number[]) => Tensor;
  addInPlace: (into: Tensor, g: Tensor) => void; // into += g
  clone: (t: Tensor) => Tensor;
};
let math: GradMath | null = null;
export function setGradMath(m: GradMath): void {
  math = m;
}

/**
 * Watches a backward (DDP's overlap, src/dist/overlap.ts): `leafDone` when a leaf's gradient for this backward is
 * complete (a leaf is reached once, after every op that used it), `opDone` after each op's backward.
 */
export interface BackwardObserver {
  leafDone(leaf: Tensor): void;
  opDone(): void;
}
let observer: BackwardObserver | null = null;
/** Sets (or clears, with null) the observer of the backward passes that follow; returns the previous one. */
export function observeBackward(next: BackwardObserver | null): BackwardObserver | null {
  const prev = observer;
  observer = next;
  return prev;
}

export function backward(root: Tensor, gradient?: Tensor): void {
  if (!math) throw new Error('autograd math not registered: import from src/engine/index.ts');
  if (!root.requiresGrad)
    throw new Error('backward() on a tensor that does not require grad (no trainable input reached it)');
  if (!gradient && root.numel !== 1)
    throw new Error(`backward() on a non-scalar tensor of shape [${root.shape.join(', ')}] needs a gradient`);
  const order = topologicalOrder(root);
  const grads = new Map<Tensor, Tensor>();
  grads.set(root, gradient ? math.clone(gradient) : math.ones(root.shape));
  const prev = gradEnabled;
  gradEnabled = false; // backward computations are not themselves recorded
  try {
    for (let i = order.length - 1; i >= 0; i--) {
      const t = order[i] as Tensor;
      const g = grads.get(t);
      if (!g) continue;
      grads.delete(t);
      const node = t.gradFn;
      if (!node) {
        accumulateLeaf(t, g);
        observer?.leafDone(t);
        continue;
      }
      const needs = node.inputs.map((x) => x.requiresGrad);
      const inputGrads = node.backward(g, needs);
      g.dispose();
      node.inputs.forEach((x, k) => {
        const gi = inputGrads[k];
        if (!gi || !needs[k]) {
          gi?.dispose();
          return;
        }
        const existing = grads.get(x);
        grads.set(x, existing ? sum(existing, gi) : gi);
      });
      observer?.opDone();
    }
  } finally {
    gradEnabled = prev;
    for (const g of grads.values()) g.dispose();
    // Release the graph: closures hold saved activations, which their scope frees.
    for (const t of order) if (t.gradFn) t.gradFn = null;
  }
}

/** a + b, reusing a's memory when no other tensor shares it (a backward may return views of one gradient). */
function sum(a: Tensor, b: Tensor): Tensor {
  const m = math as GradMath;
  const into = a.storage.shared ? m.clone(a) : a;
  m.addInPlace(into, b);
  if (into !== a) a.dispose();
  b.dispose();
  return into;
}

function accumulateLeaf(leaf: Tensor, g: Tensor): void {
  const m = math as GradMath;
  if (!leaf.requiresGrad) {
    g.dispose();
    return;
  }
  if (g.dtype !== 'f32' || g.numel !== leaf.numel)
    throw new Error(
      `gradient of ${leaf.name ?? 'a leaf'} has shape [${g.shape.join(', ')}], expected [${leaf.shape.join(', ')}]`,
    );
  if (leaf.grad) {
    m.addInPlace(leaf.grad, g);
    g.dispose();
    return;
  }
  // .grad must own its memory: a later accumulation writes into it in place.
  let owned = g.storage.shared ? m.clone(g) : g;
  if (owned !== g) g.dispose();
  if (owned.shape.some((d, i) => d !== leaf.shape[i])) {
    const view = owned.reshape(leaf.shape); // grad mode is off here: not recorded
    owned.dispose();
    owned = view;
  }
  leaf.grad = keep(owned);
}

/** Tensors reachable from root through gradFn, each after all of its inputs. */
function topologicalOrder(root: Tensor): Tensor[] {
  const order: Tensor[] = [];
  const visited = new Set<Tensor>();
  const stack: [Tensor, number][] = [[root, 0]];
  visited.add(root);
  while (stack.length) {
    const top = stack[stack.length - 1] as [Tensor, number];
    const [t, i] = top;
    const inputs = t.gradFn?.inputs ?? [];
    if (i < inputs.length) {
      top[1]++;
      const x = inputs[i] as Tensor;
      if (!visited.has(x) && x.requiresGrad) {
        visited.add(x);
        stack.push([x, 0]);
      }
    } else {
      stack.pop();
      order.push(t);
    }
  }
  return order;
}
