/**
 * What the board's pickers offer, read from the work dirs: model folders (config.json or a .gguf), adapters under
 * saves/, datasets of a dataset_info.json, the template a tokenizer's chat template implies, and a few dataset
 * records rendered through a template with the trained spans marked (the Train tab's preview).
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Stage } from '../data/dataset.js';
import { getDataset } from '../data/dataset.js';
import {
  createProcessor,
  IGNORE_INDEX,
  processorKindFor,
  resolveProcessorArgs,
  type TokenizedRecord,
} from '../data/processors/index.js';
import { getTemplate } from '../data/template/index.js';
import { registeredTemplate, templateNames } from '../data/template/registry.js';
import { Tokenizer } from '../tokenizer/tokenizer.js';
import type { WorkDirs } from './work-dirs.js';

/** Folders not worth descending into when looking for models. */
const SKIP = new Set(['node_modules', '.git', 'dist', 'build', '.lmforge-cache']);

/** Folders (up to `depth` levels below each work dir) holding a config.json or a .gguf file, as the board shows them. */
export function findModelDirs(workDirs: WorkDirs, depth = 4): string[] {
  const found: string[] = [];
  const visit = (dir: string, level: number) => {
    let entries: import('node:fs').Dirent[];
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    const names = entries.map((e) => e.name);
    const isAdapter = names.includes('adapter_config.json');
    if (!isAdapter && (names.includes('config.json') || names.some((n) => n.endsWith('.gguf')))) {
      found.push(workDirs.display(dir));
    }
    if (level >= depth) return;
    for (const e of entries) {
      if (e.isDirectory() && !SKIP.has(e.name) && !e.name.startsWith('.') && !/^checkpoint-\d+$/.test(e.name)) {
        visit(join(dir, e.name), level + 1);
      }
    }
  };
  for (const root of workDirs.roots) visit(root, 0);
  return [...new Set(found)].sort();
}

/** saves/* folders (in any work dir) holding a PEFT adapter, newest first, and their checkpoints. */
export function findAdapters(workDirs: WorkDirs): string[] {
  const found: Array<{ path: string; mtime: number }> = [];
  for (const root of workDirs.roots) {
    const saves = join(root, 'saves');
    if (!existsSync(saves)) continue;
    const visit = (dir: string, level: number) => {
      let entries: import('node:fs').Dirent[];
      try {
        entries = readdirSync(dir, { withFileTypes: true });
      } catch {
        return;
      }
      if (entries.some((e) => e.name === 'adapter_config.json')) {
        found.push({ path: workDirs.display(dir), mtime: statSync(dir).mtimeMs });
      }
      if (level < 3) for (const e of entries) if (e.isDirectory()) visit(join(dir, e.name), level + 1);
    };
    visit(saves, 0);
  }
  return found.sort((a, b) => b.mtime - a.mtime || a.path.localeCompare(b.path)).map((f) => f.path);
}

/** Dataset names of `datasetDir`/dataset_info.json, with their declared format (alpaca when unset). */
export function listDatasets(
  workDirs: WorkDirs,
  datasetDir: string,
): Array<{ name: string; ranking: boolean; formatting: string }> {
  const path = join(workDirs.resolve(datasetDir), 'dataset_info.json');
  if (!existsSync(path)) return [];
  let info: Record<string, { ranking?: boolean; formatting?: string }>;
  try {
    info = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw Object.assign(new Error(`${path} is not valid JSON: ${(e as Error).message}; fix it`), { userFacing: true });
  }
  return Object.entries(info).map(([name, v]) => ({
    name,
    ranking: v?.ranking === true,
    formatting: v?.formatting ?? 'alpaca',
  }));
}

/** One sample conversation rendered both ways decides which named template a tokenizer's chat template is. */
const PROBE = [
  { role: 'user' as const, content: 'Hi there' },
  { role: 'assistant' as const, content: 'Hello!' },
];
const PROBE_SYSTEM = 'You are a probe.';

export interface TemplateHint {
  /** The registered template whose layout equals the tokenizer's chat template on the probe, or null. */
  implied: string | null;
  /** Whether the tokenizer has a chat template at all (a base model usually has none). */
  hasChatTemplate: boolean;
  /** Templates with the same layout once a system prompt is given (they differ only in their default system). */
  sameLayout: string[];
}

/** Which named template renders like the model's own chat template (LlamaBoard's pre-selected template). */
export function impliedTemplate(workDirs: WorkDirs, modelDir: string): TemplateHint {
  const tokenizer = Tokenizer.fromDir(workDirs.resolve(modelDir));
  const jinja = tokenizer.chatTemplate;
  if (jinja === null) return { implied: null, hasChatTemplate: false, sameLayout: [] };
  // With and without a system prompt: templates that differ only in their default system (qwen, chatml) part here.
  const probes: Array<{ system: string | null; theirs: string }> = [];
  try {
    for (const system of [PROBE_SYSTEM, null]) {
      const messages = system === null ? PROBE : [{ role: 'system' as const, content: system }, ...PROBE];
      probes.push({ system, theirs: tokenizer.applyChatTemplate(messages, { chatTemplate: jinja }) });
    }
  } catch {
    return { implied: null, hasChatTemplate: true, sameLayout: [] };
  }
  const specials = { bosToken: tokenizer.bosToken, eosToken: tokenizer.eosToken };
  const bos = tokenizer.bosToken ?? '';
  const strip = (s: string) => (bos && s.startsWith(bos) ? s.slice(bos.length) : s).trim();
  let implied: string | null = null;
  const sameLayout: string[] = [];
  for (const name of templateNames()) {
    const template = registeredTemplate(name);
    if (!template || name === 'empty') continue;
    try {
      const matches = probes.map(
        (p) => strip(template.renderText(PROBE, specials, p.system).join('')) === strip(p.theirs),
      );
      if (matches[0]) sameLayout.push(name);
      if (implied === null && matches.every(Boolean)) implied = name;
    } catch {
      // a template that cannot lay out this conversation is not the one
    }
  }
  return { implied, hasChatTemplate: true, sameLayout };
}

export interface PreviewRequest {
  modelDir: string;
  datasetDir: string;
  dataset: string[];
  template: string | null;
  stage: Stage;
  cutoffLen: number;
  trainOnPrompt: boolean;
  count: number;
}

/** A record as segments of text, each trained (its labels count in the loss) or masked. */
export interface PreviewRecord {
  index: number;
  tokens: number;
  segments: Array<{ text: string; trained: boolean }>;
}

/** The first `count` records as the model will be trained on them (`lmforge data preview`'s view, for the board). */
export async function previewRecords(
  workDirs: WorkDirs,
  req: PreviewRequest,
): Promise<{ template: string; records: PreviewRecord[]; warnings: string[] }> {
  const tokenizer = Tokenizer.fromDir(workDirs.resolve(req.modelDir));
  const warnings: string[] = [];
  const log = (level: string, message: string) => {
    if (level === 'warning') warnings.push(message);
  };
  const template = getTemplate(req.template, tokenizer, { trainOnPrompt: req.trainOnPrompt, log });
  const stage = (req.stage === ('orpo' as Stage) ? 'dpo' : req.stage) as Stage;
  const dataArgs = {
    dataset: req.dataset,
    dataset_dir: workDirs.resolve(req.datasetDir),
    cutoff_len: req.cutoffLen,
    train_on_prompt: req.trainOnPrompt,
    mask_history: false,
    max_samples: null,
    template: req.template,
  };
  const data = await getDataset(dataArgs, stage, { log: (m) => warnings.push(m) });
  const examples = (data.train_dataset ?? []).slice(0, req.count);
  const resolved = { ...resolveProcessorArgs({ ...dataArgs, packing: false }, stage), batchSize: examples.length || 1 };
  const processor = createProcessor(processorKindFor(stage, resolved), { tokenizer, template, args: resolved });
  const records: PreviewRecord[] = [];
  for (let i = 0; i < examples.length; i++) {
    const out = await processor.processBatch([examples[i]!], i);
    for (const d of out.dropped) warnings.push(d.reason);
    const record = out.records[0] as (TokenizedRecord & Record<string, number[]>) | undefined;
    if (!record) continue;
    const ids = record.input_ids ?? record.chosen_input_ids ?? [];
    const labels = record.labels ?? record.chosen_labels ?? [];
    records.push({ index: i, tokens: ids.length, segments: spans(tokenizer, ids, labels) });
  }
  return { template: template.name, records, warnings };
}

function spans(tokenizer: Tokenizer, ids: number[], labels: number[]): PreviewRecord['segments'] {
  const out: PreviewRecord['segments'] = [];
  let start = 0;
  while (start < ids.length) {
    const trained = labels[start] !== IGNORE_INDEX;
    let end = start + 1;
    while (end < ids.length && (labels[end] !== IGNORE_INDEX) === trained) end++;
    out.push({ text: tokenizer.decode(ids.slice(start, end)), trained });
    start = end;
  }
  return out;
}
