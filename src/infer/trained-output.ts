/**
 * `lmforge chat train.yaml`: a training YAML names what its run wrote (output_dir), so chatting with it means
 * chatting with the trained result, not the base it started from. With LoRA the adapter in output_dir joins the
 * model (after the adapters the run merged, as LLaMA-Factory's init_adapter stacks them); with full or freeze tuning
 * output_dir is the model. Before the run has written anything the base is used, and either way one line says which.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';

export interface TrainedOutputInput {
  /** output_dir from the YAML (or the command line). */
  outputDir: string;
  modelNameOrPath: string;
  /** adapter_name_or_path as the YAML gives it: what the run started from. */
  adapters: readonly string[] | null;
  finetuningType: string;
  createNewAdapter: boolean;
}

export interface TrainedOutputChoice {
  modelNameOrPath: string;
  adapters: string[] | null;
  /** The line that tells the user which weights they are talking to. */
  message: string;
}

export function trainedOutputChoice(o: TrainedOutputInput): TrainedOutputChoice {
  const started = o.adapters ?? [];
  if (o.finetuningType === 'lora') {
    if (existsSync(join(o.outputDir, 'adapter_config.json'))) {
      // The run trained the last given adapter on (resume), or a new one on top of them all (create_new_adapter).
      const merged = o.createNewAdapter ? started : started.slice(0, -1);
      const adapters = [...merged, o.outputDir];
      return {
        modelNameOrPath: o.modelNameOrPath,
        adapters,
        message: `chatting with ${o.modelNameOrPath} + the adapter trained in ${o.outputDir} (the YAML's output_dir)${merged.length ? `, on top of ${merged.join(', ')}` : ''}`,
      };
    }
  } else if (existsSync(join(o.outputDir, 'config.json'))) {
    return {
      modelNameOrPath: o.outputDir,
      adapters: null,
      message: `chatting with the model trained in ${o.outputDir} (the YAML's output_dir, ${o.finetuningType} fine-tuning)`,
    };
  }
  const what = o.finetuningType === 'lora' ? 'no adapter_config.json' : 'no config.json';
  const adapterNote = started.length ? ` with the adapter(s) ${started.join(', ')}` : '';
  return {
    modelNameOrPath: o.modelNameOrPath,
    adapters: o.adapters ? [...o.adapters] : null,
    message: `${o.outputDir} (the YAML's output_dir) holds no trained weights yet (${what}): chatting with the base model ${o.modelNameOrPath}${adapterNote}. Run lmforge train on the YAML first to chat with its result`,
  };
}
