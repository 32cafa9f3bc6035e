/**
 * PEFT LoRA adapter folders: `adapter_config.json` + `adapter_model.safetensors`, readable by PEFT and back.
 *
 * Key names (PEFT's get_peft_model_state_dict / set_peft_model_state_dict, for a CAUSAL_LM model whose live
 * parameters are named as in HF, e.g. `model.layers.0.self_attn.q_proj`):
 * - LoRA factors: live `base_model.model.<module>.lora_A.default.weight`, saved without the adapter name:
 *   `base_model.model.<module>.lora_A.weight` (A is [r, in], B is [out, r]). Embeddings use
 *   `lora_embedding_A` / `lora_embedding_B`, saved with no `.weight`.
 * - modules_to_save: live `base_model.model.<path>.modules_to_save.default.<param>`, saved as
 *   `base_model.model.<path>.<param>` (PEFT drops "modules_to_save." and ".default").
 * - bias="all" / "lora_only": the trained base biases, saved as `base_model.model.<module>.bias`.
 *
 * adapter_config.json is written as PEFT's `save_pretrained` writes it: `json.dumps(config, indent=2,
 * sort_keys=True)`, no trailing newline. The key set is PEFT 0.5's (which every later PEFT still loads; older PEFT
 * refuses unknown keys), plus any newer key the adapter uses with a non-default value or that the file it was read
 * from had, so reading and writing an adapter keeps its file byte-identical.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import type { DType } from '../engine/dtype.js';
import type { Tensor } from '../engine/tensor.js';
import { type PyJson, pyFloat, pythonJsonDumps } from '../util/python-json.js';
import { syncFolder, tempPathFor, writeFileAtomic } from './atomic.js';
import { FormatError } from './errors.js';
import {
  type LoadOptions,
  type NamedTensors,
  namedTensorEntries,
  SafetensorsFile,
  writeSafetensors,
} from './safetensors.js';

export const ADAPTER_CONFIG_FILE = 'adapter_config.json';
export const ADAPTER_WEIGHTS_FILE = 'adapter_model.safetensors';
/** Prefix PEFT puts before HF parameter names: PeftModel.base_model (LoraModel) .model (the HF model). */
export const PEFT_PREFIX = 'base_model.model.';
/** The adapter name PEFT uses when none is given. */
export const DEFAULT_ADAPTER_NAME = 'default';

/** The module names PEFT's "all-linear" resolves to in the Llama family (every Linear except lm_head). */
export const LLAMA_LINEAR_MODULES = ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'];

export interface LoraConfig {
  readonly r: number;
  readonly loraAlpha: number;
  readonly loraDropout: number;
  /** A list of module names (matched as a suffix), a regex string (full match), "all-linear", or null. */
  readonly targetModules: readonly string[] | string | null;
  readonly bias: 'none' | 'all' | 'lora_only';
  readonly modulesToSave: readonly string[] | null;
  /** scaling = alpha / sqrt(r) instead of alpha / r. */
  readonly useRslora: boolean;
  /** DoRA: each adapted module also has a magnitude vector (`lora_magnitude_vector`). */
  readonly useDora: boolean;
  readonly fanInFanOut: boolean;
  readonly initLoraWeights: boolean | string;
  readonly taskType: string | null;
  readonly peftType: 'LORA';
  readonly baseModelNameOrPath: string | null;
  readonly revision: string | null;
  readonly inferenceMode: boolean;
  readonly layersToTransform: readonly number[] | number | null;
  readonly layersPattern: readonly string[] | string | null;
  /** Per-module overrides of r / lora_alpha, keyed by a module-name pattern. */
  readonly rankPattern: Readonly<Record<string, number>>;
  readonly alphaPattern: Readonly<Record<string, number>>;
  readonly excludeModules: readonly string[] | string | null;
  /** The parsed file (empty for a config built in code); saving keeps keys lmforge does not interpret. */
  readonly raw: Readonly<Record<string, unknown>>;
}

/** A LoRA config with PEFT's defaults for everything not given. */
export function loraConfig(fields: Partial<Omit<LoraConfig, 'peftType' | 'raw'>> & { r: number }): LoraConfig {
  return {
    loraAlpha: 8,
    loraDropout: 0,
    targetModules: null,
    bias: 'none',
    modulesToSave: null,
    useRslora: false,
    useDora: false,
    fanInFanOut: false,
    initLoraWeights: true,
    taskType: 'CAUSAL_LM',
    baseModelNameOrPath: null,
    revision: null,
    inferenceMode: true,
    layersToTransform: null,
    layersPattern: null,
    rankPattern: {},
    alphaPattern: {},
    excludeModules: null,
    ...fields,
    peftType: 'LORA',
    raw: {},
  };
}

// ---------------------------------------------------------------------------------------------------------------
// adapter_config.json

/** Features PEFT can save that change the forward pass in ways lmforge does not implement. */
const UNSUPPORTED_WHEN_SET: Record<string, string> = {
  layer_replication: 'layer_replication is not supported',
  lora_bias: 'lora_bias (a bias on lora_B) is not supported',
  target_parameters: 'target_parameters (LoRA on raw parameters) is not supported',
  trainable_token_indices: 'trainable_token_indices is not supported',
};

export function readLoraConfig(dir: string): LoraConfig {
  const file = join(dir, ADAPTER_CONFIG_FILE);
  if (!existsSync(file))
    throw new FormatError(dir, null, `is not a PEFT adapter folder: ${ADAPTER_CONFIG_FILE} is missing`);
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new FormatError(file, null, `is not valid JSON (${(e as Error).message})`);
  }
  return parseLoraConfig(raw, file);
}

export function parseLoraConfig(raw: unknown, file = ADAPTER_CONFIG_FILE): LoraConfig {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
    throw new FormatError(file, null, 'must be a JSON object');
  const o = raw as Record<string, unknown>;
  const fail = (key: string, problem: string): never => {
    throw new FormatError(file, key, problem);
  };
  const peftType = o.peft_type;
  if (peftType !== 'LORA')
    fail(
      'peft_type',
      `${JSON.stringify(peftType)} adapters are not supported: lmforge loads LoRA adapters (peft_type "LORA") only`,
    );
  for (const [key, why] of Object.entries(UNSUPPORTED_WHEN_SET)) {
    const v = o[key];
    if (v !== undefined && v !== null && v !== false && !(Array.isArray(v) && v.length === 0)) fail(key, why);
  }
  const int = (key: string, fallback: number): number => {
    const v = o[key] ?? fallback;
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v <= 0)
      fail(key, `must be a positive integer, got ${JSON.stringify(v)}`);
    return v as number;
  };
  const num = (key: string, fallback: number): number => {
    const v = o[key] ?? fallback;
    if (typeof v !== 'number' || !Number.isFinite(v)) fail(key, `must be a number, got ${JSON.stringify(v)}`);
    return v as number;
  };
  const bool = (key: string, fallback: boolean): boolean => {
    const v = o[key] ?? fallback;
    if (typeof v !== 'boolean') fail(key, `must be true or false, got ${JSON.stringify(v)}`);
    return v as boolean;
  };
  const str = (key: string): string | null => {
    const v = o[key] ?? null;
    if (v !== null && typeof v !== 'string') fail(key, `must be a string or null, got ${JSON.stringify(v)}`);
    return v as string | null;
  };
  const strOrList = (key: string): string[] | string | null => {
    const v = o[key] ?? null;
    if (v === null || typeof v === 'string') return v;
    if (!Array.isArray(v) || !v.every((x) => typeof x === 'string'))
      fail(key, `must be a list of strings, a string, or null, got ${JSON.stringify(v)}`);
    return v as string[];
  };
  const pattern = (key: string): Record<string, number> => {
    const v = o[key] ?? {};
    if (
      typeof v !== 'object' ||
      v === null ||
      Array.isArray(v) ||
      !Object.values(v).every((x) => typeof x === 'number')
    )
      fail(key, `must map module patterns to numbers, got ${JSON.stringify(v)}`);
    return v as Record<string, number>;
  };
  const bias = o.bias ?? 'none';
  if (bias !== 'none' && bias !== 'all' && bias !== 'lora_only')
    fail('bias', `must be "none", "all" or "lora_only", got ${JSON.stringify(bias)}`);
  const modulesToSave = o.modules_to_save ?? null;
  if (modulesToSave !== null && (!Array.isArray(modulesToSave) || !modulesToSave.every((x) => typeof x === 'string')))
    fail('modules_to_save', `must be a list of module names or null, got ${JSON.stringify(modulesToSave)}`);
  const layers = o.layers_to_transform ?? null;
  if (
    layers !== null &&
    !Number.isSafeInteger(layers) &&
    !(Array.isArray(layers) && layers.every((x) => Number.isSafeInteger(x)))
  )
    fail('layers_to_transform', `must be a layer index, a list of them, or null, got ${JSON.stringify(layers)}`);
  const init = o.init_lora_weights ?? true;
  if (typeof init !== 'boolean' && typeof init !== 'string')
    fail('init_lora_weights', `must be a boolean or an init name, got ${JSON.stringify(init)}`);
  return {
    r: int('r', 8),
    loraAlpha: num('lora_alpha', 8),
    loraDropout: num('lora_dropout', 0),
    targetModules: strOrList('target_modules'),
    bias: bias as LoraConfig['bias'],
    modulesToSave: modulesToSave as string[] | null,
    useRslora: bool('use_rslora', false),
    useDora: bool('use_dora', false),
    fanInFanOut: bool('fan_in_fan_out', false),
    initLoraWeights: init as boolean | string,
    taskType: str('task_type'),
    peftType: 'LORA',
    baseModelNameOrPath: str('base_model_name_or_path'),
    revision: str('revision'),
    inferenceMode: bool('inference_mode', false),
    layersToTransform: layers as number[] | number | null,
    layersPattern: strOrList('layers_pattern'),
    rankPattern: pattern('rank_pattern'),
    alphaPattern: pattern('alpha_pattern'),
    excludeModules: strOrList('exclude_modules'),
    raw: Object.freeze({ ...o }),
  };
}

/** adapter_config.json text exactly as PEFT writes it (see the file comment for the key set). */
export function toAdapterConfigJson(cfg: LoraConfig): string {
  const o: Record<string, PyJson> = {};
  // Keys the source file had and lmforge does not model are written back unchanged.
  for (const [k, v] of Object.entries(cfg.raw)) o[k] = v as PyJson;
  Object.assign(o, {
    auto_mapping: (cfg.raw.auto_mapping as PyJson) ?? null,
    base_model_name_or_path: cfg.baseModelNameOrPath,
    bias: cfg.bias,
    fan_in_fan_out: cfg.fanInFanOut,
    inference_mode: cfg.inferenceMode,
    init_lora_weights: cfg.initLoraWeights,
    layers_pattern:
      cfg.layersPattern === null || typeof cfg.layersPattern === 'string' ? cfg.layersPattern : [...cfg.layersPattern],
    layers_to_transform:
      cfg.layersToTransform === null || typeof cfg.layersToTransform === 'number'
        ? cfg.layersToTransform
        : [...cfg.layersToTransform],
    lora_alpha: cfg.loraAlpha,
    lora_dropout: pyFloat(cfg.loraDropout),
    modules_to_save: cfg.modulesToSave === null ? null : [...cfg.modulesToSave],
    peft_type: 'LORA',
    r: cfg.r,
    revision: cfg.revision,
    target_modules:
      cfg.targetModules === null || typeof cfg.targetModules === 'string' ? cfg.targetModules : [...cfg.targetModules],
    task_type: cfg.taskType,
  });
  const newer: [string, PyJson, boolean][] = [
    ['use_rslora', cfg.useRslora, cfg.useRslora],
    ['use_dora', cfg.useDora, cfg.useDora],
    ['rank_pattern', { ...cfg.rankPattern }, Object.keys(cfg.rankPattern).length > 0],
    ['alpha_pattern', { ...cfg.alphaPattern }, Object.keys(cfg.alphaPattern).length > 0],
    [
      'exclude_modules',
      cfg.excludeModules === null || typeof cfg.excludeModules === 'string'
        ? cfg.excludeModules
        : [...cfg.excludeModules],
      cfg.excludeModules !== null,
    ],
  ];
  for (const [key, value, nonDefault] of newer) if (nonDefault || key in cfg.raw) o[key] = value;
  return pythonJsonDumps(o, { indent: 2, sortKeys: true });
}

// ---------------------------------------------------------------------------------------------------------------
// Which modules, and their scaling

function matchesPatternKey(pattern: string, modulePath: string): boolean {
  return new RegExp(`^(?:.*\\.)?(?:${pattern})$`).test(modulePath);
}

function layerIndexOf(modulePath: string, patterns: readonly string[]): number | null {
  for (const p of patterns) {
    const m = new RegExp(`(?:^|\\.)${p}\\.(\\d+)\\.`).exec(modulePath);
    if (m) return Number(m[1]);
  }
  return null;
}

/**
 * Whether PEFT would put a LoRA on the module at `modulePath` (HF name without `.weight`): a list entry matches
 * the full path or its last components; a string is a regex that must match the whole path; "all-linear" means
 * every Linear except lm_head. `layers_to_transform` then keeps only the listed layer indices.
 */
export function isTargetModule(cfg: LoraConfig, modulePath: string): boolean {
  const t = cfg.targetModules;
  if (t === null) return false;
  const matchList = (list: readonly string[]) => list.some((m) => modulePath === m || modulePath.endsWith(`.${m}`));
  let hit: boolean;
  if (t === 'all-linear') hit = matchList(LLAMA_LINEAR_MODULES);
  else if (typeof t === 'string') hit = new RegExp(`^(?:${t})$`).test(modulePath);
  else hit = matchList(t);
  if (!hit) return false;
  const ex = cfg.excludeModules;
  if (ex !== null) {
    if (typeof ex === 'string' ? new RegExp(`^(?:${ex})$`).test(modulePath) : matchList(ex)) return false;
  }
  if (cfg.layersToTransform === null) return true;
  const patterns =
    cfg.layersPattern === null
      ? ['layers', 'h', 'block', 'blocks', 'layer']
      : typeof cfg.layersPattern === 'string'
        ? [cfg.layersPattern]
        : cfg.layersPattern;
  const idx = layerIndexOf(modulePath, patterns);
  if (idx === null) return false;
  return typeof cfg.layersToTransform === 'number'
    ? idx === cfg.layersToTransform
    : cfg.layersToTransform.includes(idx);
}

/**
 * Whether the parameter `paramName` (HF name, e.g. model.embed_tokens.weight) belongs to one of PEFT's
 * modules_to_save: its module's full path or last components equal a list entry.
 */
export function isModuleToSave(modules: readonly string[], paramName: string): boolean {
  const modulePath = paramName.slice(0, paramName.lastIndexOf('.'));
  return modules.some((m) => modulePath === m || modulePath.endsWith(`.${m}`));
}

/** r and alpha for one module (rank_pattern / alpha_pattern override the defaults), and the LoRA scaling. */
export function loraParamsFor(cfg: LoraConfig, modulePath: string): { r: number; alpha: number; scaling: number } {
  const find = (patterns: Readonly<Record<string, number>>) =>
    Object.keys(patterns).find((p) => matchesPatternKey(p, modulePath));
  const rKey = find(cfg.rankPattern);
  const aKey = find(cfg.alphaPattern);
  const r = rKey === undefined ? cfg.r : (cfg.rankPattern[rKey] as number);
  const alpha = aKey === undefined ? cfg.loraAlpha : (cfg.alphaPattern[aKey] as number);
  return { r, alpha, scaling: cfg.useRslora ? alpha / Math.sqrt(r) : alpha / r };
}

// ---------------------------------------------------------------------------------------------------------------
// Key mapping

export type PeftKey =
  /** A LoRA factor of the module at `module`; `embedding` for lora_embedding_A/B. */
  | { readonly kind: 'lora'; readonly module: string; readonly part: 'A' | 'B'; readonly embedding: boolean }
  /** DoRA's magnitude vector [out] of the module at `module`. */
  | { readonly kind: 'magnitude'; readonly module: string }
  /** A base bias trained because bias is "all" or "lora_only". */
  | { readonly kind: 'bias'; readonly module: string }
  /** A parameter of a fully trained copy of a module listed in modules_to_save. */
  | { readonly kind: 'modules_to_save'; readonly module: string; readonly param: string };

/** Parses a key as PEFT saves it. Throws naming the key when it is none of the kinds above. */
export function parsePeftKey(
  saved: string,
  modulesToSave: readonly string[] | null,
  file = ADAPTER_WEIGHTS_FILE,
): PeftKey {
  if (!saved.startsWith(PEFT_PREFIX))
    throw new FormatError(file, saved, `does not start with "${PEFT_PREFIX}": not a PEFT causal-LM adapter key`);
  const rest = saved.slice(PEFT_PREFIX.length);
  let m = /^(.+)\.lora_(A|B)\.weight$/.exec(rest);
  if (m) return { kind: 'lora', module: m[1] as string, part: m[2] as 'A' | 'B', embedding: false };
  m = /^(.+)\.lora_embedding_(A|B)$/.exec(rest);
  if (m) return { kind: 'lora', module: m[1] as string, part: m[2] as 'A' | 'B', embedding: true };
  m = /^(.+)\.lora_magnitude_vector$/.exec(rest);
  if (m) return { kind: 'magnitude', module: m[1] as string };
  const dot = rest.lastIndexOf('.');
  if (dot > 0) {
    const module = rest.slice(0, dot);
    const param = rest.slice(dot + 1);
    if (modulesToSave?.some((n) => module === n || module.endsWith(`.${n}`)))
      return { kind: 'modules_to_save', module, param };
    if (param === 'bias') return { kind: 'bias', module };
  }
  throw new FormatError(file, saved, 'is not a LoRA factor, a bias, or a modules_to_save parameter');
}

/** The key PEFT saves for `k`. */
export function peftSavedKey(k: PeftKey): string {
  if (k.kind === 'lora')
    return `${PEFT_PREFIX}${k.module}.${k.embedding ? `lora_embedding_${k.part}` : `lora_${k.part}.weight`}`;
  if (k.kind === 'magnitude') return `${PEFT_PREFIX}${k.module}.lora_magnitude_vector`;
  if (k.kind === 'bias') return `${PEFT_PREFIX}${k.module}.bias`;
  return `${PEFT_PREFIX}${k.module}.${k.param}`;
}

/** The key of `k` in a live PEFT model's state_dict (with the adapter name). */
export function peftLiveKey(k: PeftKey, adapterName = DEFAULT_ADAPTER_NAME): string {
  if (k.kind === 'lora')
    return `${PEFT_PREFIX}${k.module}.${k.embedding ? `lora_embedding_${k.part}.${adapterName}` : `lora_${k.part}.${adapterName}.weight`}`;
  if (k.kind === 'magnitude') return `${PEFT_PREFIX}${k.module}.lora_magnitude_vector.${adapterName}.weight`;
  if (k.kind === 'bias') return `${PEFT_PREFIX}${k.module}.bias`;
  return `${PEFT_PREFIX}${k.module}.modules_to_save.${adapterName}.${k.param}`;
}

/** Inverse of peftLiveKey: drops the adapter name (and "modules_to_save.") as get_peft_model_state_dict does. */
export function peftLiveToSaved(live: string, adapterName = DEFAULT_ADAPTER_NAME): string {
  // DoRA's live `lora_magnitude_vector.<name>.weight` is saved as `lora_magnitude_vector` (PEFT drops `.weight`)
  return live
    .replace('.modules_to_save.', '.')
    .split(`.${adapterName}`)
    .join('')
    .replace(/\.lora_magnitude_vector\.weight$/, '.lora_magnitude_vector');
}

// ---------------------------------------------------------------------------------------------------------------
// Folders

/** An adapter folder opened for reading: its config and lazily loaded weights. Call close() when done. */
export class LoraAdapter {
  private constructor(
    readonly dir: string,
    readonly config: LoraConfig,
    private readonly file: SafetensorsFile,
    /** Saved key -> what it is, in file order. */
    readonly keys: ReadonlyMap<string, PeftKey>,
  ) {}

  static open(dir: string): LoraAdapter {
    const config = readLoraConfig(dir);
    const path = join(dir, ADAPTER_WEIGHTS_FILE);
    if (!existsSync(path)) {
      if (existsSync(join(dir, 'adapter_model.bin')))
        throw new FormatError(
          join(dir, 'adapter_model.bin'),
          null,
          `is a PyTorch pickle; lmforge reads ${ADAPTER_WEIGHTS_FILE} only (re-save with PEFT's save_pretrained(safe_serialization=True))`,
        );
      throw new FormatError(dir, null, `${ADAPTER_WEIGHTS_FILE} is missing`);
    }
    const file = SafetensorsFile.open(path);
    try {
      const keys = new Map<string, PeftKey>();
      for (const name of file.tensors.keys()) keys.set(name, parsePeftKey(name, config.modulesToSave, path));
      return new LoraAdapter(dir, config, file, keys);
    } catch (e) {
      file.close();
      throw e;
    }
  }

  /** Modules with a LoRA in this adapter, each with its A and B saved keys. */
  loraModules(): Map<string, { A: string; B: string; embedding: boolean; magnitude?: string }> {
    const out = new Map<string, { A?: string; B?: string; embedding: boolean; magnitude?: string }>();
    for (const [saved, k] of this.keys) {
      if (k.kind === 'magnitude') {
        out.set(k.module, { embedding: false, ...out.get(k.module), magnitude: saved });
        continue;
      }
      if (k.kind !== 'lora') continue;
      const e = out.get(k.module) ?? { embedding: k.embedding };
      e[k.part] = saved;
      out.set(k.module, e);
    }
    for (const [module, e] of out)
      if (e.A === undefined || e.B === undefined)
        throw new FormatError(
          join(this.dir, ADAPTER_WEIGHTS_FILE),
          `${PEFT_PREFIX}${module}`,
          `has lora_${e.A === undefined ? 'A' : 'B'} missing (each adapted module needs both factors)`,
        );
    return out as Map<string, { A: string; B: string; embedding: boolean; magnitude?: string }>;
  }

  load(savedKey: string, options: LoadOptions = {}): Tensor {
    return this.file.load(savedKey, options);
  }

  shape(savedKey: string): readonly number[] {
    return this.file.info(savedKey).shape;
  }

  close(): void {
    this.file.close();
  }
}

/**
 * Writes an adapter folder: weights (keys as PEFT saves them, checked) and adapter_config.json. A new folder is
 * built beside the target and renamed into place; an existing folder gets each file replaced atomically, the
 * weights first and the config last.
 */
export function saveLoraAdapter(
  folder: string,
  config: LoraConfig,
  weights: NamedTensors,
  options: { dtype?: DType } = {},
) {
  // Absolute, so a trailing slash cannot put the temporary folder inside the target.
  const dir = resolve(folder);
  const entries = namedTensorEntries(weights);
  for (const [name] of entries) parsePeftKey(name, config.modulesToSave, join(dir, ADAPTER_WEIGHTS_FILE));
  const fresh = !existsSync(dir);
  if (!fresh && !statSync(dir).isDirectory()) throw new Error(`${dir} exists and is not a folder`);
  const target = fresh ? tempPathFor(dir) : dir;
  if (fresh) {
    rmSync(target, { recursive: true, force: true });
    mkdirSync(dirname(dir), { recursive: true });
    mkdirSync(target);
  }
  try {
    writeSafetensors(join(target, ADAPTER_WEIGHTS_FILE), entries, { dtype: options.dtype });
    writeFileAtomic(join(target, ADAPTER_CONFIG_FILE), toAdapterConfigJson(config));
  } catch (e) {
    if (fresh) rmSync(target, { recursive: true, force: true });
    throw e;
  }
  if (fresh) {
    renameSync(target, dir);
    syncFolder(dirname(dir));
  }
}
