/**
 * LoRA adapters in PEFT's format on a model's module tree: add a new one, load, save, merge, run without it
 * (disable_adapter) and switch to a second frozen one (load_adapter + set_adapter). Holds the live adapter's config
 * and PEFT's original_module copies of the modules_to_save.
 */
import { Generator, kaimingUniform_, keep, scope, Tensor } from '../engine/index.js';
import {
  isModuleToSave,
  isTargetModule,
  LoraAdapter,
  type LoraConfig,
  loraConfig,
  loraParamsFor,
  PEFT_PREFIX,
  saveLoraAdapter,
} from '../io/peft.js';
import type { Linear } from '../nn/linear.js';
import { LoraLinear, rowNorms } from '../nn/lora-linear.js';
import type { Module } from '../nn/module.js';
import { type CausalLMModule, headPathOf } from './family.js';
import { allLinearModuleNames, loraCandidates, refuseQuantizedModulesToSave } from './lora-targets.js';
import { copyInto, findParameter, moduleAt, parentAndName } from './parameters.js';
import { applyPissa, pissaInitName, pissaIterationsOf, savePissaAdapter } from './pissa.js';
import { freezeAll } from './training-modes.js';

/** LoRA settings in LLaMA-Factory's terms (lora_rank, lora_alpha, lora_dropout, lora_target, additional_target). */
export interface AddLoraOptions {
  r: number;
  /** Default 2 * r (LLaMA-Factory's default lora_alpha). */
  alpha?: number;
  dropout?: number;
  /** Module names (q_proj, ...) or 'all' = every linear layer but the output head. */
  targetModules?: readonly string[] | 'all';
  /** Modules trained fully and saved with the adapter (embed_tokens, lm_head, norm...). */
  modulesToSave?: readonly string[];
  useRslora?: boolean;
  /** DoRA: a trainable magnitude per output row, starting at the base weight's row norms (PEFT's use_dora). */
  useDora?: boolean;
  /** PiSSA (pissa_init): factors from the base weight's top-r singular directions, the base keeps the residual;
   * `iterations` is pissa_iter (-1: until converged). */
  pissa?: { iterations: number };
  /** Seeds A's Kaiming-uniform init (B starts at zero, so the adapter starts as a no-op). */
  seed?: number;
}

export class Adapters {
  /** The live LoRA adapter's config, if any. */
  private lora: LoraConfig | null = null;
  /**
   * modules_to_save: trained parameter -> a frozen copy of its weights before the adapter (PEFT's original_module,
   * which disable_adapter() runs instead of the trained copy).
   */
  private readonly modulesToSaveOriginals = new Map<Tensor, Tensor>();
  /** PiSSA's initial factors per module path (pissa_convert subtracts them). */
  private readonly pissaInitial = new Map<string, [Tensor, Tensor]>();

  constructor(
    private readonly module: CausalLMModule,
    /** The stream LoRA dropout draws from (the model's). */
    private readonly rng: Generator,
    /** The base model's name or path as given to loadModel: PEFT's base_model_name_or_path. */
    private readonly baseNameOrPath: string | null,
  ) {}

  get config(): LoraConfig | null {
    return this.lora;
  }

  /**
   * Adds a new trainable LoRA adapter (PEFT init: A Kaiming-uniform, B zero); freezes everything else. One adapter
   * trains at a time: with one already there (loaded or added) this stops and says how to go on.
   */
  add(o: AddLoraOptions): LoraConfig {
    if (this.lora) throw new Error(secondAdapterMessage(this.loraLayers().some(([, l]) => l.loraA.requiresGrad)));
    if (!(Number.isInteger(o.r) && o.r > 0)) throw new Error(`LoRA rank must be a positive integer, got ${o.r}`);
    const targets =
      o.targetModules === undefined ||
      o.targetModules === 'all' ||
      (o.targetModules.length === 1 && o.targetModules[0] === 'all')
        ? [...(this.module.linearModuleNames ?? allLinearModuleNames(this.module, headPathOf(this.module)))]
        : [...o.targetModules];
    const cfg = loraConfig({
      r: o.r,
      loraAlpha: o.alpha ?? o.r * 2,
      loraDropout: o.dropout ?? 0,
      targetModules: targets,
      modulesToSave: o.modulesToSave && o.modulesToSave.length > 0 ? [...o.modulesToSave] : null,
      useRslora: o.useRslora ?? false,
      useDora: o.useDora ?? false,
      ...(o.pissa ? { initLoraWeights: pissaInitName(o.pissa.iterations) } : {}),
      inferenceMode: false,
      baseModelNameOrPath: this.baseNameOrPath,
    });
    const gen = new Generator(o.seed ?? 42);
    freezeAll(this.module);
    const wrapped = this.wrapLinears(cfg, (base, rank, path) => {
      const [a, b] = o.pissa
        ? this.pissaFactors(base, rank, loraParamsFor(cfg, path).scaling, o.pissa.iterations, gen, path)
        : [
            keep(kaimingUniform_(Tensor.empty([rank, base.inFeatures]), gen, { a: Math.sqrt(5) })),
            keep(Tensor.zeros([base.outFeatures, rank])),
          ];
      a.requiresGrad = b.requiresGrad = true;
      if (!cfg.useDora) return [a, b];
      if (base.quantized) throw new Error('use_dora: DoRA over a quantized base is not implemented; drop use_dora');
      // B = 0: the adapted weight is W, so m = ||W||_row and the adapter starts as a no-op (PEFT's init)
      const m = keep(
        Tensor.from(
          scope(() => rowNorms(base.weight.to('f32'))),
          [base.outFeatures],
        ),
      );
      m.requiresGrad = true;
      return [a, b, m];
    });
    if (wrapped === 0)
      throw new Error(
        `lora_target ${JSON.stringify(targets)} matches no linear layer (layers: ${allLinearModuleNames(this.module).join(', ')})`,
      );
    this.keepModulesToSaveOriginals(cfg);
    this.enableModulesToSave(cfg);
    this.lora = cfg;
    return cfg;
  }

  /**
   * Loads a PEFT adapter folder. An adapter already present is merged into the weights first (LLaMA-Factory's rule
   * for several adapters). `trainable` keeps training it (resume); otherwise it is frozen.
   */
  load(dir: string, { trainable = false }: { trainable?: boolean } = {}): LoraConfig {
    if (this.lora) this.merge();
    const adapter = LoraAdapter.open(dir);
    try {
      const cfg = adapter.config;
      const modules = adapter.loraModules();
      freezeAll(this.module);
      const seen = new Set<string>();
      const pissaIterations = pissaIterationsOf(cfg.initLoraWeights);
      const pissaGen = new Generator(42);
      this.wrapLinears(cfg, (base, rank, path) => {
        // a PiSSA adapter adapts the residual: recompute it from the base, as PEFT does when loading one
        const scaling = loraParamsFor(cfg, path).scaling;
        if (pissaIterations !== null)
          for (const t of applyPissa(base, rank, scaling, pissaIterations, pissaGen)) t.dispose();
        const keys = modules.get(path);
        if (!keys)
          throw new Error(`${dir}: adapter_config.json targets ${path} but the weights have no lora_A/lora_B for it`);
        seen.add(path);
        const a = keep(adapter.load(keys.A, { dtype: 'f32' }));
        const b = keep(adapter.load(keys.B, { dtype: 'f32' }));
        if (
          a.shape[0] !== rank ||
          a.shape[1] !== base.inFeatures ||
          b.shape[0] !== base.outFeatures ||
          b.shape[1] !== rank
        )
          throw new Error(
            `${dir}: ${keys.A} / ${keys.B} have shapes [${a.shape}] / [${b.shape}], expected [${rank}, ${base.inFeatures}] / [${base.outFeatures}, ${rank}]`,
          );
        a.requiresGrad = trainable;
        b.requiresGrad = trainable;
        if (cfg.useDora !== (keys.magnitude !== undefined))
          throw new Error(
            `${dir}: adapter_config.json has use_dora: ${cfg.useDora} but ${path} ${keys.magnitude ? 'has' : 'has no'} lora_magnitude_vector`,
          );
        if (!keys.magnitude) return [a, b];
        const m = keep(adapter.load(keys.magnitude, { dtype: 'f32' }));
        m.requiresGrad = trainable;
        return [a, b, m];
      });
      for (const path of modules.keys())
        if (!seen.has(path))
          throw new Error(`${dir}: weights for ${path} do not match any targeted linear layer of this model`);
      this.keepModulesToSaveOriginals(cfg);
      for (const [saved, k] of adapter.keys) {
        if (k.kind === 'lora' || k.kind === 'magnitude') continue;
        const name = k.kind === 'bias' ? `${k.module}.bias` : `${k.module}.${k.param}`;
        const target = this.module.parameter(name) ?? findParameter(this.module, name);
        if (!target) throw new Error(`${dir}: ${saved} has no matching parameter ${name} in this model`);
        const loaded = adapter.load(saved, { dtype: target.dtype });
        if (loaded.numel !== target.numel)
          throw new Error(`${dir}: ${saved} has shape [${loaded.shape}], the model's ${name} is [${target.shape}]`);
        copyInto(loaded, target);
        loaded.dispose();
        target.requiresGrad = trainable;
      }
      this.lora = cfg;
      return cfg;
    } finally {
      adapter.close();
    }
  }

  /**
   * Writes adapter_config.json + adapter_model.safetensors in PEFT's format. As PEFT's save_pretrained, an adapter
   * whose config names no base gets the base model's name or path.
   */
  save(dir: string): void {
    if (!this.lora) throw new Error('the model has no LoRA adapter to save (addLora() or loadAdapter() first)');
    const weights = new Map<string, Tensor>();
    for (const [path, m] of this.loraLayers()) {
      weights.set(`${PEFT_PREFIX}${path}.lora_A.weight`, m.loraA);
      weights.set(`${PEFT_PREFIX}${path}.lora_B.weight`, m.loraB);
      if (m.magnitude) weights.set(`${PEFT_PREFIX}${path}.lora_magnitude_vector`, m.magnitude);
    }
    for (const name of this.modulesToSaveParameters(this.lora))
      weights.set(`${PEFT_PREFIX}${name}`, findParameter(this.module, name) as Tensor);
    const baseModelNameOrPath = this.lora.baseModelNameOrPath ?? this.baseNameOrPath;
    saveLoraAdapter(dir, { ...this.lora, baseModelNameOrPath, inferenceMode: true }, weights);
  }

  /** PiSSA's initial factors, with copies kept for pissa_convert. */
  private pissaFactors(base: Linear, r: number, scaling: number, iterations: number, gen: Generator, path: string) {
    const [a, b] = applyPissa(base, r, scaling, iterations, gen);
    this.pissaInitial.set(path, [keep(a.to('f32')), keep(b.to('f32'))]);
    return [a, b] as const;
  }

  /** LLaMA-Factory's pissa_convert files: the starting adapter (pissa_init) or the trained one converted (pissa.ts). */
  savePissa(dir: string, which: 'initial' | 'converted'): void {
    const cfg = this.lora;
    if (!cfg || this.pissaInitial.size === 0) throw new Error('the model has no PiSSA adapter (pissa_init)');
    const layers = this.loraLayers().map(
      ([path, m]) => [path, m, this.pissaInitial.get(path) as [Tensor, Tensor]] as const,
    );
    savePissaAdapter(
      dir,
      which,
      { ...cfg, baseModelNameOrPath: cfg.baseModelNameOrPath ?? this.baseNameOrPath },
      layers,
    );
  }

  /** W += scaling * B @ A for every adapted layer; the model is a plain model again. */
  merge(): void {
    if (!this.lora) throw new Error('the model has no LoRA adapter to merge');
    for (const [path, m] of this.loraLayers()) {
      const [parentPath, name] = parentAndName(path);
      const merged = m.merge();
      merged.weight.requiresGrad = false;
      moduleAt(this.module, parentPath).replaceChild(name, merged);
    }
    // merged, the trained modules_to_save are the model's weights (PEFT's merge_and_unload)
    for (const original of this.modulesToSaveOriginals.values()) original.dispose();
    this.modulesToSaveOriginals.clear();
    this.lora = null;
  }

  /**
   * Runs fn as the model without its adapter (DPO's reference model without a second copy of the weights): every
   * LoRA layer switched off and the modules_to_save back on their original weights, as PEFT's disable_adapter().
   */
  withDisabled<T>(fn: () => T): T {
    const modules = [...this.module.namedModules()].map(([, m]) => m);
    const layers = this.loraLayers().map(([, l]) => l);
    // every slot holding a trained modules_to_save tensor (a tied head shares the embedding's; a LoraLinear's base)
    const swaps: [Module, string, Tensor][] = [];
    for (const m of [...modules, ...layers.map((l) => l.base)])
      for (const [name, t] of m.ownParameters()) if (this.modulesToSaveOriginals.has(t)) swaps.push([m, name, t]);
    for (const l of layers) l.enabled = false;
    for (const [m, name, t] of swaps) m.swapParameter(name, this.modulesToSaveOriginals.get(t) as Tensor);
    try {
      return fn();
    } finally {
      for (const [m, name, t] of swaps) m.swapParameter(name, t);
      for (const l of layers) l.enabled = true;
    }
  }

  /**
   * Loads a PEFT adapter folder as a frozen adapter named `name` beside the live one (PEFT's load_adapter(dir, name);
   * LLaMA-Factory's PPO keeps the reward model's LoRA this way). It is not a parameter: never trained, saved or
   * merged; `withNamed(name, fn)` switches it in. Every module it targets must already carry the live LoRA.
   */
  attach(name: string, dir: string): LoraConfig {
    if (!this.lora) throw new Error(`attaching adapter ${name} needs a live LoRA adapter (addLora() or loadAdapter())`);
    const layers = new Map(this.loraLayers());
    if ([...layers.values()].some((l) => l.namedAdapters().includes(name)))
      throw new Error(`the model already has an adapter named ${name}`);
    const adapter = LoraAdapter.open(dir);
    try {
      const cfg = adapter.config;
      if (cfg.useDora) throw new Error(`${dir}: a DoRA adapter (use_dora) cannot be attached as a second adapter`);
      for (const [saved, k] of adapter.keys)
        if (k.kind !== 'lora')
          throw new Error(
            `${dir}: ${saved} is a fully trained module (modules_to_save); a second adapter can only hold LoRA factors`,
          );
      for (const [path, keys] of adapter.loraModules()) {
        const layer = layers.get(path);
        if (!layer)
          throw new Error(
            `${dir}: the adapter targets ${path}, which the trained LoRA adapter does not; set lora_target to cover it (e.g. all)`,
          );
        const { r, scaling } = loraParamsFor(cfg, path);
        const a = adapter.load(keys.A, { dtype: 'f32' });
        const b = adapter.load(keys.B, { dtype: 'f32' });
        if (a.shape[0] !== r)
          throw new Error(`${dir}: ${keys.A} has rank ${a.shape[0]}, adapter_config.json says ${r}`);
        layer.addNamedAdapter(name, a, b, scaling);
      }
      return cfg;
    } finally {
      adapter.close();
    }
  }

  /** Runs fn with the named adapter (attach) in place of the live one, as PEFT's set_adapter(name). */
  withNamed<T>(name: string, fn: () => T): T {
    const layers = this.loraLayers().map(([, l]) => l);
    if (!layers.some((l) => l.namedAdapters().includes(name)))
      throw new Error(`the model has no adapter named ${name}`);
    for (const l of layers) l.activeAdapter = name;
    try {
      return fn();
    } finally {
      for (const l of layers) l.activeAdapter = 'default';
    }
  }

  /** Frees the named adapters and the modules_to_save originals (the module tree frees the rest). */
  dispose(): void {
    for (const f of this.pissaInitial.values()) for (const t of f) t.dispose();
    this.pissaInitial.clear();
    for (const [, m] of this.loraLayers()) m.disposeNamedAdapters();
    for (const original of this.modulesToSaveOriginals.values()) original.dispose();
    this.modulesToSaveOriginals.clear();
  }

  /** Wraps every targeted Linear but the top-level one (the head: lm_head, InternLM2's output); returns how many. */
  private wrapLinears(
    cfg: LoraConfig,
    factors: (base: Linear, rank: number, path: string) => [Tensor, Tensor, Tensor?],
  ): number {
    let count = 0;
    for (const [path, m] of loraCandidates(this.module, headPathOf(this.module))) {
      if (!isTargetModule(cfg, path)) continue;
      const { r, scaling } = loraParamsFor(cfg, path);
      const [a, b, magnitude] = factors(m, r, path);
      const [parentPath, name] = parentAndName(path);
      moduleAt(this.module, parentPath).replaceChild(
        name,
        new LoraLinear(m, { rank: r, scaling, dropout: cfg.loraDropout }, a, b, this.rng, magnitude),
      );
      count++;
    }
    return count;
  }

  private modulesToSaveParameters(cfg: LoraConfig): string[] {
    const list = cfg.modulesToSave ?? [];
    refuseQuantizedModulesToSave(this.module, list);
    return [...this.module.namedParameters()].map(([n]) => n).filter((n) => isModuleToSave(list, n));
  }

  /** [path, layer] of every LoRA-wrapped linear layer, in module order (a list: merging replaces them in the tree). */
  private loraLayers(): [string, LoraLinear][] {
    return [...this.module.namedModules()].filter((e): e is [string, LoraLinear] => e[1] instanceof LoraLinear);
  }

  /** Copies the weights of the modules_to_save before the adapter trains or overwrites them. */
  private keepModulesToSaveOriginals(cfg: LoraConfig): void {
    for (const name of this.modulesToSaveParameters(cfg)) {
      const t = findParameter(this.module, name) as Tensor;
      if (this.modulesToSaveOriginals.has(t)) continue;
      const original = keep(t.to(t.dtype));
      original.name = t.name;
      this.modulesToSaveOriginals.set(t, original);
    }
  }

  /** modules_to_save train fully: their weights must be f32 and trainable. */
  private enableModulesToSave(cfg: LoraConfig): void {
    for (const name of this.modulesToSaveParameters(cfg)) {
      const t = findParameter(this.module, name) as Tensor;
      if (t.dtype !== 'f32')
        throw new Error(`additional_target ${name} is stored as ${t.dtype}; trainable weights must be f32`);
      t.requiresGrad = true;
    }
  }
}

/**
 * PEFT keeps a second adapter under its own name beside 'default' and trains only the active one; lmforge holds one
 * live adapter, so the two ways on are PEFT's other two: train the one there, or merge it and start a new one
 * (LLaMA-Factory's create_new_adapter).
 */
function secondAdapterMessage(trainable: boolean): string {
  const from = trainable ? 'a trainable LoRA adapter' : 'a frozen LoRA adapter (loaded for inference)';
  return (
    `addLora: the model already has ${from}, and lmforge trains one adapter at a time. ` +
    'To keep training it, load it with loadModel(dir, { adapter, trainable: true }) or loadAdapter(dir, { trainable: true }); ' +
    'to train a new adapter on top of it, call mergeAdapter() first, then addLora()'
  );
}
