/**
 * LLaMA-Factory's export_model: the base model with its LoRA adapters merged in order, written as a Hugging Face
 * checkpoint folder that transformers, vLLM and llama.cpp's converter read:
 * - safetensors shards of at most `export_size` GB (`model-0000k-of-0000n.safetensors` + `model.safetensors.index.json`,
 *   or one `model.safetensors`), in the output dtype (export-dtype.ts); the merge itself runs in float32;
 * - `config.json` with `torch_dtype` set to that dtype; `generation_config.json` whose `eos_token_id` is the
 *   template's stop ids, so `generate()` stops where lmforge chat stops;
 * - the tokenizer as the template fixed it (EOS replaced, stop words added, its chat template when it replaces the
 *   tokenizer's or the tokenizer has none), with `padding_side: left`;
 * - for `stage: rm`, `value_head.safetensors` copied from the last adapter (or the model folder);
 * - the Ollama `Modelfile` (template.ollamaModelfile, LLaMA-Factory's text).
 * Everything is written into `<export_dir>.tmp-<pid>` and published with renames (publish.ts); then, with
 * `export_hub_model_id`, uploaded (hub-upload.ts).
 */
import { copyFileSync, existsSync, mkdirSync, rmSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import type { Template } from '../data/template/template.js';
import { loadTokenizerAndTemplate } from '../infer/chat-runner.js';
import { tempPathFor, writeFileAtomic } from '../io/atomic.js';
import { saveCheckpoint } from '../io/checkpoint.js';
import { readSourceConfig } from '../io/model-source.js';
import { type CausalLM, loadModel } from '../models/causal-lm.js';
import { paddedVocabSize } from '../models/resize-vocab.js';
import type { Tokenizer } from '../tokenizer/tokenizer.js';
import { VALUE_HEAD_FILE } from '../train/rm.js';
import type { PyJson } from '../util/python-json.js';
import type { ExportArgs } from './export-args.js';
import { exportDtype, type FloatDType, TORCH_NAME } from './export-dtype.js';
import { ggufArch } from './gguf/gguf-arch.js';
import { checkGgufTokenizer } from './gguf/gguf-tokenizer.js';
import { ggufFileName, writeGguf } from './gguf/write-gguf.js';
import { type HubTarget, hubTarget, uploadExport } from './hub-upload.js';
import { checkExportTarget, publishExport } from './publish.js';
import { refuseQuantizedMerge } from './quantized-base.js';

export const MODELFILE = 'Modelfile';

export class ExportError extends Error {
  readonly userFacing = true;
  override name = 'ExportError';
}

export interface ExportProgress {
  /** Tensors written so far and in all. */
  tensors: number;
  totalTensors: number;
  bytes: number;
  totalBytes: number;
  file: string;
}

export interface ExportHooks {
  log?: (message: string) => void;
  onProgress?: (p: ExportProgress) => void;
}

export interface ExportResult {
  exportDir: string;
  dtype: FloatDType;
  /** Weight files written, in order. */
  weightFiles: readonly string[];
  totalSize: number;
  stopIds: readonly number[];
  valueHead: boolean;
  /** The hub repo uploaded to, when export_hub_model_id was set. */
  hubRepo: string | null;
}

export async function exportModel(args: ExportArgs, hooks: ExportHooks = {}): Promise<ExportResult> {
  const log = hooks.log ?? ((m: string) => console.error(`[lmforge] ${m}`));
  // What can fail without touching the weights fails first.
  checkExportTarget(args.export_dir);
  const hub: HubTarget | null = args.export_hub_model_id
    ? hubTarget(args.export_hub_model_id, args.hf_hub_token)
    : null;
  const { tokenizer, template } = loadTokenizerAndTemplate(args);
  const config = readSourceConfig(args.model_name_or_path);
  refuseQuantizedMerge(config, args.model_name_or_path, args.quantization_bit, args.adapter_name_or_path);
  if (args.export_format === 'gguf') {
    if (args.stage === 'rm')
      throw new ExportError('stage: rm with export_format: gguf: GGUF has no place for the value head; export as hf');
    ggufArch(config);
    checkGgufTokenizer(args.model_name_or_path);
  }
  const valueHeadFrom = args.stage === 'rm' ? valueHeadSource(args) : null;
  const added = (args.add_tokens?.length ?? 0) + (args.add_special_tokens?.length ?? 0);
  const resizeVocabTo = args.resize_vocab || added > 0 ? paddedVocabSize(tokenizer.size, 64) : 0;
  if (tokenizer.size > Math.max(config.vocabSize, resizeVocabTo))
    throw new ExportError(
      `the tokenizer has ${tokenizer.size} tokens but the model's vocabulary is ${config.vocabSize} (template ` +
        `${template.name} added special tokens); choose a template whose tokens the model has`,
    );
  const dtype = exportDtype(args.infer_dtype, config.torchDtype);

  const adapters = args.adapter_name_or_path ?? [];
  // Every merged weight is rounded once: LoraLinear.merge sums W + s·B·A in f32 and stores it in the weight's
  // dtype. A base already stored in the export dtype loads in it (exact, half the memory of f32); any other base
  // loads as f32 and is converted when written. GGUF reads f32 values.
  const loadDtype = args.export_format === 'hf' && config.torchDtype === dtype ? dtype : 'f32';
  const model = await loadModel(args.model_name_or_path, {
    dtype: loadDtype,
    dequantizeBase: true,
    ...(resizeVocabTo > 0 ? { resizeVocabTo } : {}),
    ...(adapters.length ? { adapter: adapters } : {}),
  });
  const staging = tempPathFor(resolve(args.export_dir));
  rmSync(staging, { recursive: true, force: true });
  try {
    if (adapters.length) {
      model.mergeAdapter();
      log(`Merged ${adapters.length} adapter(s): ${adapters.join(', ')}.`);
    }
    const stopIds = template.stopIds(tokenizer);
    let weightFiles: readonly string[];
    let totalSize: number;
    if (args.export_format === 'gguf') {
      ({ weightFiles, totalSize } = writeGgufExport(args, model, tokenizer, template, staging, hooks));
      publishExport(staging, args.export_dir, { replacesWeights: false });
      log(`GGUF (${args.gguf_type}) and its Ollama modelfile saved in ${args.export_dir}`);
    } else {
      log(`Convert model dtype to: torch.${TORCH_NAME[dtype]}.`);
      const tensors = model.namedParameters();
      const totalBytes = tensors.reduce((s, [, t]) => s + t.numel * (dtype === 'f32' ? 4 : 2), 0);
      let written = 0;
      let bytes = 0;
      const generationConfig: Record<string, PyJson> = {
        ...(model.generationConfig as Record<string, PyJson>),
        eos_token_id: stopIds.length === 1 ? (stopIds[0] as number) : [...stopIds],
      };
      const saved = saveCheckpoint(staging, tensors, {
        dtype,
        maxShardSize: Math.floor(args.export_size * 1e9),
        config: model.config,
        generationConfig,
        onTensor: (file, _name, n) => {
          written++;
          bytes += n;
          hooks.onProgress?.({ tensors: written, totalTensors: tensors.length, bytes, totalBytes, file });
        },
      });
      if (valueHeadFrom) {
        copyFileSync(join(valueHeadFrom, VALUE_HEAD_FILE), join(staging, VALUE_HEAD_FILE));
        log(`Copied valuehead to ${args.export_dir}.`);
      }
      tokenizer.paddingSide = 'left';
      tokenizer.save(staging);
      writeFileAtomic(join(staging, MODELFILE), template.ollamaModelfile(tokenizer));
      publishExport(staging, args.export_dir);
      log(`Ollama modelfile saved in ${join(args.export_dir, MODELFILE)}`);
      weightFiles = saved.files;
      totalSize = saved.totalSize;
    }
    let hubRepo: string | null = null;
    if (hub) {
      log(`Uploading ${args.export_dir} to ${hub.repoId} on ${hub.hubUrl}...`);
      hubRepo = await uploadExport(args.export_dir, hub);
      log(`Uploaded to ${hub.hubUrl}/${hubRepo}.`);
    }
    return {
      exportDir: args.export_dir,
      dtype,
      weightFiles,
      totalSize,
      stopIds,
      valueHead: valueHeadFrom !== null,
      hubRepo,
    };
  } finally {
    model.dispose();
    // a failed export leaves nothing behind; a published one has moved its staging folder away
    rmSync(staging, { recursive: true, force: true });
  }
}

/** LLaMA-Factory's rule: the value head of a reward model lives beside its last adapter, or in the model folder. */
function valueHeadSource(args: ExportArgs): string {
  const dir = args.adapter_name_or_path?.at(-1) ?? args.model_name_or_path;
  if (!existsSync(join(dir, VALUE_HEAD_FILE)))
    throw new ExportError(
      `stage: rm exports a reward model, but ${join(dir, VALUE_HEAD_FILE)} is missing (it is written beside the adapter ` +
        'by an rm training run); point adapter_name_or_path at that run, or drop stage: rm to export the LM alone',
    );
  return dir;
}

/** export_format: gguf: one model-<gguf_type>.gguf and a Modelfile whose FROM names it, in the staging folder. */
function writeGgufExport(
  args: ExportArgs,
  model: CausalLM,
  tokenizer: Tokenizer,
  template: Template,
  staging: string,
  hooks: ExportHooks,
): { weightFiles: string[]; totalSize: number } {
  mkdirSync(staging, { recursive: true });
  // the tokenizer as the template fixed it, saved once to read its vocabulary and merges back
  const tokenizerDir = join(staging, '.tokenizer');
  tokenizer.paddingSide = 'left';
  tokenizer.save(tokenizerDir);
  const file = ggufFileName(args.gguf_type);
  const totalTensors = model.namedParameters().length;
  let tensors = 0;
  let bytes = 0;
  const written = writeGguf(join(staging, file), model, tokenizer, args.gguf_type, {
    name: basename(resolve(args.export_dir)),
    tokenizerDir,
    onTensor: (_name, n, totalBytes) => {
      tensors++;
      bytes += n;
      hooks.onProgress?.({ tensors, totalTensors, bytes, totalBytes, file });
    },
  });
  rmSync(tokenizerDir, { recursive: true, force: true });
  writeFileAtomic(
    join(staging, MODELFILE),
    template.ollamaModelfile(tokenizer).replace('\nFROM .\n', `\nFROM ./${file}\n`),
  );
  return { weightFiles: [file], totalSize: written.bytes };
}
