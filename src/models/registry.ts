/**
 * Model families by config.json `architectures`. A new family is its own file exporting a ModelFamily and one line
 * in FAMILIES; loading, adapters, training modes, the forward paths and saving need nothing else.
 */
import { expectedParameters, type ModelConfig } from '../io/model-config.js';
import { baichuanFamily } from './baichuan.js';
import { chatglmFamily } from './chatglm.js';
import type { CausalLMModule, ModelFamily, WeightSource } from './family.js';
import { gemmaFamily } from './gemma.js';
import { gemma2Family, gemma3Family } from './gemma2.js';
import { glm4Family } from './glm4.js';
import { internlm2Family } from './internlm2.js';
import { llamaFamily } from './llama.js';
import { moeFamily } from './moe.js';
import { phi3Family } from './phi3.js';

const FAMILIES: readonly ModelFamily[] = [
  llamaFamily,
  gemmaFamily,
  gemma2Family,
  gemma3Family,
  phi3Family,
  internlm2Family,
  baichuanFamily,
  moeFamily,
  chatglmFamily,
  glm4Family,
];

const BY_ARCHITECTURE = new Map<string, ModelFamily>(
  FAMILIES.flatMap((family) => family.architectures.map((a): [string, ModelFamily] => [a, family])),
);

/** Every architecture a family is registered for. */
export function registeredArchitectures(): string[] {
  return [...BY_ARCHITECTURE.keys()];
}

/** The family registered for config.architecture; an unregistered one names those that are. */
export function familyFor(config: Pick<ModelConfig, 'architecture'>): ModelFamily {
  const family = BY_ARCHITECTURE.get(config.architecture);
  if (!family)
    throw new Error(
      `no model family implements ${config.architecture} (registered: ${registeredArchitectures().join(', ')})`,
    );
  return family;
}

/** Every parameter a checkpoint of `config` holds (HF name -> shape), as its family lays them out. */
export function expectedParametersOf(config: ModelConfig): Map<string, number[]> {
  return familyFor(config).expectedParameters?.(config) ?? expectedParameters(config);
}

/** The module tree of `config`'s family. */
export function buildModule(config: ModelConfig, weights: WeightSource): CausalLMModule {
  return familyFor(config).build(config, weights);
}
