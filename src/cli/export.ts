/**
 * `lmforge export cfg.yaml [key=value ...] | --model_name_or_path dir --adapter_name_or_path a,b --template t
 * --export_dir out [--export_size 5] [--infer_dtype auto]`: LLaMA-Factory's export command (merge the adapters,
 * write a Hugging Face checkpoint folder with tokenizer and Ollama Modelfile, optionally upload it).
 */
import { exportModel, parseExportArgs } from '../export/index.js';
import { formatHelp, INFER_GROUPS } from '../hparams/index.js';
import { Progress } from '../train/progress.js';

/** Errors about the user's files that carry their own explanation: printed as messages, not stack traces. */
const USER_ERRORS = new Set(['FormatError', 'TokenizerError', 'TemplateError']);

export async function exportCommand(argv: string[]): Promise<number> {
  if (argv.includes('-h') || argv.includes('--help')) {
    console.log(
      formatHelp(INFER_GROUPS, 'export', {
        extra: ['  e.g. lmforge export examples/merge_lora/tiny_lora_sft.yaml'],
        only: {
          model: [
            'model_name_or_path',
            'adapter_name_or_path',
            'infer_dtype',
            'export_dir',
            'export_size',
            'export_device',
            'export_legacy_format',
            'export_hub_model_id',
            'hf_hub_token',
            'export_format',
            'gguf_type',
          ],
          data: ['template', 'default_system', 'enable_thinking', 'tool_format'],
          finetuning: ['stage', 'finetuning_type'],
          generating: [],
        },
      }),
    );
    return 0;
  }
  if (argv.length === 0) {
    console.error('Usage: lmforge export <config.yaml> [key=value ...]   (lmforge export -h lists the arguments)');
    return 2;
  }
  const { args, notes } = parseExportArgs(argv);
  for (const note of notes) console.error(`[lmforge] note: ${note}`);
  const progress = new Progress({ label: 'export', lineInterval: 5 });
  try {
    const result = await exportModel(args, {
      log: (m) => progress.log(`[lmforge] ${m}`),
      onProgress: (p) => progress.update({ step: p.tensors, total: p.totalTensors }),
    });
    progress.done();
    const gb = (result.totalSize / 1e9).toFixed(3);
    console.error(
      args.export_format === 'gguf'
        ? `[lmforge] done: ${result.weightFiles[0]}, ${gb} GB (${args.gguf_type}), in ${result.exportDir}`
        : `[lmforge] done: ${result.weightFiles.length} weight file(s), ${gb} GB of ${result.dtype} tensors, in ${result.exportDir}`,
    );
    return 0;
  } catch (e) {
    progress.done();
    if (e instanceof Error && USER_ERRORS.has(e.name)) Object.assign(e, { userFacing: true });
    throw e;
  }
}
