/**
 * Module: a named tree of parameters, as in torch.nn. Parameter paths are exactly HF's
 * (`model.layers.0.self_attn.q_proj.weight`), so checkpoints load and save by name with no mapping table.
 */
import type { Tensor } from '../engine/index.js';

export abstract class Module {
  private readonly ownParams = new Map<string, Tensor>();
  private readonly childModules = new Map<string, Module>();
  /** Training mode (dropout active). */
  training = false;

  /** Registers (or replaces) a parameter under `name`. */
  protected registerParameter(name: string, t: Tensor): Tensor {
    this.ownParams.set(name, t);
    return t;
  }

  protected registerModule<M extends Module>(name: string, m: M): M {
    this.childModules.set(name, m);
    return m;
  }

  /** Replaces a child (used to wrap a Linear in a LoraLinear in place). */
  replaceChild(name: string, m: Module): void {
    if (!this.childModules.has(name)) throw new Error(`no child module '${name}' to replace`);
    this.childModules.set(name, m);
  }

  parameter(name: string): Tensor | undefined {
    return this.ownParams.get(name);
  }

  /** [name, tensor] of this module's own parameters (not its children's). */
  ownParameters(): [string, Tensor][] {
    return [...this.ownParams];
  }

  /**
   * Points an existing parameter slot at another tensor of the same shape (a LoRA model's reference pass swaps in
   * the original weights of its modules_to_save). The caller owns both tensors.
   */
  swapParameter(name: string, t: Tensor): void {
    const old = this.ownParams.get(name);
    if (!old) throw new Error(`no parameter '${name}' to swap`);
    if (old.shape.length !== t.shape.length || old.shape.some((d, i) => d !== t.shape[i]))
      throw new Error(`parameter '${name}' is [${old.shape}], the replacement is [${t.shape}]`);
    this.ownParams.set(name, t);
  }

  child(name: string): Module | undefined {
    return this.childModules.get(name);
  }

  /** [path, module] for this module and every descendant, depth first, in registration order. */
  *namedModules(prefix = ''): Generator<[string, Module]> {
    yield [prefix, this];
    for (const [name, m] of this.childModules) yield* m.namedModules(prefix ? `${prefix}.${name}` : name);
  }

  /** [path, tensor] for every parameter (shared tensors, e.g. tied embeddings, are listed once). */
  *namedParameters(prefix = ''): Generator<[string, Tensor]> {
    const seen = new Set<Tensor>();
    for (const [path, m] of this.namedModules(prefix)) {
      for (const [name, t] of m.ownParams) {
        if (seen.has(t)) continue;
        seen.add(t);
        yield [path ? `${path}.${name}` : name, t];
      }
    }
  }

  parameters(): Tensor[] {
    return [...this.namedParameters()].map(([, t]) => t);
  }

  trainableParameters(): [string, Tensor][] {
    return [...this.namedParameters()].filter(([, t]) => t.requiresGrad);
  }

  /** Sets training mode on the whole tree. */
  train(on = true): this {
    for (const [, m] of this.namedModules()) m.training = on;
    return this;
  }

  eval(): this {
    return this.train(false);
  }

  /** Frees every parameter's native memory (and gradients), and what modules hold beside parameters. */
  dispose(): void {
    for (const [, t] of this.namedParameters()) {
      t.grad?.dispose();
      t.dispose();
    }
    for (const [, m] of this.namedModules()) m.releaseBuffers();
  }

  /** Frees native memory this module holds that is not a parameter (a quantized weight); dispose() calls it. */
  protected releaseBuffers(): void {}
}
