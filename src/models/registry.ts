/**
 * Model families by config.json `architectures`. A new family is its own file exporting a ModelFamily and one line
 * in FAMILIES; loading, adapters, training modes, the forward paths and saving need nothing else.
 */
import type { ModelConfig } from '../io/model-config.js';
import { chatglmFamily } from './chatglm.js';
import type { CausalLMModule, ModelFamily, WeightSource } from './family.js';
import { gemmaFamily } from './gemma.js';
import { glm4Family } from './glm4.js';
import { llamaFamily } from './llama.js';

const FAMILIES: readonly ModelFamily[] = [llamaFamily, gemmaFamily, chatglmFamily, glm4Family];

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

/** The module tree of `config`'s family. */
export function buildModule(config: ModelConfig, weights: WeightSource): CausalLMModule {
  return familyFor(config).build(config, weights);
}
