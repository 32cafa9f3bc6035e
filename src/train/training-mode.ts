/**
 * The training mode of the model being tuned (LLaMA-Factory's _setup_full/_setup_freeze/_setup_lora_tuning): full,
 * freeze (the last layers' chosen modules), or LoRA (a new or resumed adapter, earlier adapters merged first).
 */
import type { TrainArgs } from '../hparams/index.js';
import { LLAMA_LINEAR_MODULES } from '../io/peft.js';
import type { CausalLM } from '../models/causal-lm.js';
import { expandedLayerIds } from '../models/llama-pro.js';
import { freezePatterns } from '../models/training-modes.js';

/** LoRA (new or resumed adapter, earlier adapters merged), freeze, or full fine-tuning (_setup_*_tuning). */
export function setupTraining(model: CausalLM, args: TrainArgs, log: (m: string) => void): void {
  const alpha = args.training.neftune_noise_alpha;
  if (alpha !== null) {
    model.setNeftune(alpha);
    log(`Using noisy embedding with alpha=${alpha}`);
  }
  setupMethod(model, args, log);
}

/**
 * Under freeze tuning, which parameters will train (f32 masters), from the layer count alone: the rest can load
 * straight into the run's bf16/f16 storage, as castFrozen would convert them after setup.
 */
export function freezeTrainedParameters(args: TrainArgs, numHiddenLayers: number): (name: string) => boolean {
  const fa = args.finetuning;
  const patterns = freezePatterns(numHiddenLayers, {
    trainableLayers: fa.freeze_trainable_layers,
    trainableModules: fa.freeze_trainable_modules,
    extraModules: fa.freeze_extra_modules ?? [],
    ...(fa.use_llama_pro ? { layerIds: expandedLayerIds(numHiddenLayers, fa.freeze_trainable_layers) } : {}),
  });
  return (name) => patterns.some((p) => name.includes(p));
}

function setupMethod(model: CausalLM, args: TrainArgs, log: (m: string) => void): void {
  const { model: ma, finetuning: fa, training: ta } = args;
  if (fa.finetuning_type === 'full') {
    model.setFullTraining();
    log('Fine-tuning method: Full');
    return;
  }
  // LLaMA Pro: only the expanded blocks train (freeze: their modules; LoRA: adapters on their projections)
  const expanded = fa.use_llama_pro ? expandedLayerIds(model.config.numHiddenLayers, fa.freeze_trainable_layers) : null;
  if (fa.finetuning_type === 'freeze') {
    const patterns = model.setFreezeTraining({
      trainableLayers: fa.freeze_trainable_layers,
      trainableModules: fa.freeze_trainable_modules,
      extraModules: fa.freeze_extra_modules ?? [],
      ...(expanded ? { layerIds: expanded } : {}),
    });
    log(`Fine-tuning method: Freeze; trainable layers: ${patterns.join(',')}`);
    return;
  }
  const adapters = ma.adapter_name_or_path ?? [];
  const resume = adapters.length > 0 && !fa.create_new_adapter ? adapters.at(-1) : undefined;
  for (const a of adapters.slice(0, resume ? -1 : undefined)) {
    model.loadAdapter(a);
    model.mergeAdapter();
    log(`merged adapter ${a}`);
  }
  if (resume) {
    model.loadAdapter(resume, { trainable: true });
    log(`resumed LoRA training of ${resume}`);
  } else {
    const all = fa.lora_target.length === 1 && fa.lora_target[0] === 'all';
    const targets = expanded
      ? expandedModules(model, expanded, all ? LLAMA_LINEAR_MODULES : fa.lora_target)
      : all
        ? 'all'
        : fa.lora_target;
    model.addLora({
      r: fa.lora_rank,
      alpha: fa.lora_alpha ?? fa.lora_rank * 2,
      dropout: fa.lora_dropout,
      targetModules: targets,
      ...(fa.additional_target ? { modulesToSave: fa.additional_target } : {}),
      useRslora: fa.use_rslora,
      useDora: fa.use_dora,
      ...(fa.pissa_init ? { pissa: { iterations: fa.pissa_iter } } : {}),
      seed: ta.seed,
    });
    log(
      `Fine-tuning method: ${fa.use_dora ? 'DoRA' : 'LoRA'}${fa.pissa_init ? ' with PiSSA init' : ''} (rank ${fa.lora_rank}, alpha ${fa.lora_alpha}, targets ${Array.isArray(targets) ? targets.join(',') : targets})`,
    );
  }
}

/** LLaMA-Factory's find_expanded_modules: the full paths of the targeted projections inside the expanded layers. */
function expandedModules(model: CausalLM, layers: readonly number[], targets: readonly string[]): string[] {
  const prefixes = layers.map((i) => `model.layers.${i}.`);
  return model
    .namedParameters()
    .map(([name]) => name.replace(/\.weight$/, ''))
    .filter((path) => prefixes.some((p) => path.startsWith(p)) && targets.some((t) => path.endsWith(`.${t}`)));
}
