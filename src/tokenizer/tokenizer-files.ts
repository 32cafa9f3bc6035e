import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { TokenizerError } from './errors.js';
import { ggufTokenizerDir } from './gguf-tokenizer-files.js';
import { CHATGLM_TOKENIZER_CLASS, withChatGLMCommands } from './sentencepiece/chatglm.js';
import { sentencePieceToTokenizerJson } from './sentencepiece/convert.js';
import { parseModelProto } from './sentencepiece/model-proto.js';

/** One entry of tokenizer.json's `added_tokens` (or tokenizer_config.json's `added_tokens_decoder`). */
export interface AddedTokenInfo {
  id: number;
  content: string;
  special: boolean;
  lstrip: boolean;
  rstrip: boolean;
  normalized: boolean;
  singleWord: boolean;
}

/** What tokenizer_config.json (+ special_tokens_map.json, chat_template.*) says, normalized. */
export interface TokenizerSettings {
  bosToken: string | null;
  eosToken: string | null;
  unkToken: string | null;
  padToken: string | null;
  additionalSpecialTokens: string[];
  /** undefined where the config does not say: the tokenizer class's default then applies. */
  addBosToken: boolean | undefined;
  addEosToken: boolean | undefined;
  /** Named chat templates; a plain string template is stored as 'default'. */
  chatTemplates: Record<string, string>;
  modelMaxLength: number;
  paddingSide: 'left' | 'right';
  truncationSide: 'left' | 'right';
  cleanUpTokenizationSpaces: boolean;
  tokenizerClass: string | null;
  /** tokenizer_config.json's added_tokens_decoder (HF adds any the vocabulary lacks). */
  configAddedTokens: AddedTokenInfo[];
  /** tokenizer_config.json as read, so save() keeps fields this class does not model. */
  raw: Record<string, unknown>;
}

/** generation_config.json's token ids (eos_token_id may be a list: Llama 3.1 stops on several). */
export interface GenerationTokenIds {
  bosTokenId: number | null;
  eosTokenIds: number[];
  padTokenId: number | null;
  raw: Record<string, unknown>;
}

export interface TokenizerFiles {
  dir: string;
  /** tokenizer.json text, handed to the Rust tokenizer as is. */
  tokenizerJson: string;
  addedTokens: AddedTokenInfo[];
  /** Special tokens the post-processor puts before and after a single sequence. */
  postProcessorSpecials: { before: string[]; after: string[] };
  settings: TokenizerSettings;
  generation: GenerationTokenIds | null;
}

// HF's VERY_LARGE_INTEGER (int(1e30)): "no limit" in tokenizer configs.
export const NO_MAX_LENGTH = 1e30;

type Json = Record<string, unknown>;

function readJson(path: string): Json {
  try {
    const value: unknown = JSON.parse(readFileSync(path, 'utf8'));
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      throw new TokenizerError(`${path} must hold a JSON object`);
    }
    return value as Json;
  } catch (e) {
    if (e instanceof TokenizerError) throw e;
    throw new TokenizerError(`cannot read ${path}: ${(e as Error).message}`);
  }
}

/** A special token is written either as a plain string or as an AddedToken object `{content, ...}`. */
export function specialTokenContent(value: unknown, where: string): string | null {
  if (value === null || value === undefined) return null;
  if (typeof value === 'string') return value;
  if (typeof value === 'object' && typeof (value as Json).content === 'string')
    return (value as Json).content as string;
  throw new TokenizerError(`${where} must be a string, an AddedToken object with "content", or null`);
}

function parseAddedToken(entry: Json, id: number, where: string): AddedTokenInfo {
  if (typeof entry.content !== 'string') throw new TokenizerError(`${where}: added token ${id} has no "content"`);
  return {
    id,
    content: entry.content,
    special: entry.special === true,
    lstrip: entry.lstrip === true,
    rstrip: entry.rstrip === true,
    normalized: entry.normalized === true,
    singleWord: entry.single_word === true,
  };
}

function parseChatTemplates(value: unknown, where: string): Record<string, string> {
  if (value === null || value === undefined) return {};
  if (typeof value === 'string') return { default: value };
  if (Array.isArray(value)) {
    const out: Record<string, string> = {};
    for (const item of value) {
      const entry = item as Json;
      if (typeof entry?.name !== 'string' || typeof entry?.template !== 'string') {
        throw new TokenizerError(`${where}: each named chat template needs a string "name" and "template"`);
      }
      out[entry.name] = entry.template;
    }
    return out;
  }
  throw new TokenizerError(`${where}: chat_template must be a string or a list of {name, template}`);
}

function side(value: unknown, fallback: 'left' | 'right', where: string): 'left' | 'right' {
  if (value === undefined || value === null) return fallback;
  if (value === 'left' || value === 'right') return value;
  throw new TokenizerError(`${where} must be "left" or "right", got ${JSON.stringify(value)}`);
}

function optionalBool(value: unknown, where: string): boolean | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'boolean') return value;
  throw new TokenizerError(`${where} must be true or false`);
}

function readSettings(dir: string): TokenizerSettings {
  const configPath = join(dir, 'tokenizer_config.json');
  const config = existsSync(configPath) ? readJson(configPath) : {};
  const merged: Json = { ...config };
  // Like HF: special_tokens_map.json is only consulted when the config carries no added_tokens_decoder
  // (older checkpoints), and then its entries win over the config's.
  const mapPath = join(dir, 'special_tokens_map.json');
  if (config.added_tokens_decoder === undefined && existsSync(mapPath)) Object.assign(merged, readJson(mapPath));

  const where = (key: string) => `${configPath}: ${key}`;
  const additional = merged.additional_special_tokens;
  if (additional !== undefined && additional !== null && !Array.isArray(additional)) {
    throw new TokenizerError(`${where('additional_special_tokens')} must be a list`);
  }
  let chatTemplates = parseChatTemplates(config.chat_template, where('chat_template'));
  // A separate chat template file overrides the config's, as in HF.
  const jsonTemplatePath = join(dir, 'chat_template.json');
  if (existsSync(jsonTemplatePath)) {
    chatTemplates = parseChatTemplates(readJson(jsonTemplatePath).chat_template, jsonTemplatePath);
  }
  const jinjaPath = join(dir, 'chat_template.jinja');
  if (existsSync(jinjaPath)) chatTemplates = { default: readFileSync(jinjaPath, 'utf8') };

  const maxLength = merged.model_max_length;
  return {
    bosToken: specialTokenContent(merged.bos_token, where('bos_token')),
    eosToken: specialTokenContent(merged.eos_token, where('eos_token')),
    unkToken: specialTokenContent(merged.unk_token, where('unk_token')),
    padToken: specialTokenContent(merged.pad_token, where('pad_token')),
    additionalSpecialTokens: ((additional as unknown[] | undefined) ?? []).map(
      (t, i) => specialTokenContent(t, `${where('additional_special_tokens')}[${i}]`) ?? '',
    ),
    addBosToken: optionalBool(merged.add_bos_token, where('add_bos_token')),
    addEosToken: optionalBool(merged.add_eos_token, where('add_eos_token')),
    chatTemplates,
    modelMaxLength: typeof maxLength === 'number' ? maxLength : NO_MAX_LENGTH,
    paddingSide: side(merged.padding_side, 'right', where('padding_side')),
    truncationSide: side(merged.truncation_side, 'right', where('truncation_side')),
    cleanUpTokenizationSpaces: optionalBool(merged.clean_up_tokenization_spaces, where('clean_up')) ?? false,
    tokenizerClass: typeof merged.tokenizer_class === 'string' ? merged.tokenizer_class : null,
    configAddedTokens: Object.entries((config.added_tokens_decoder as Record<string, Json> | undefined) ?? {}).map(
      ([id, entry]) => parseAddedToken(entry, Number(id), where('added_tokens_decoder')),
    ),
    raw: config,
  };
}

function idList(value: unknown): number[] {
  if (typeof value === 'number') return [value];
  if (Array.isArray(value)) return value.filter((v): v is number => typeof v === 'number');
  return [];
}

function readGeneration(dir: string): GenerationTokenIds | null {
  const path = join(dir, 'generation_config.json');
  if (!existsSync(path)) return null;
  const raw = readJson(path);
  return {
    bosTokenId: idList(raw.bos_token_id)[0] ?? null,
    eosTokenIds: idList(raw.eos_token_id),
    padTokenId: idList(raw.pad_token_id)[0] ?? null,
    raw,
  };
}

/** The special tokens around $A in a post-processor's single-sequence template (BOS/EOS detection). */
function singleSequenceSpecials(processor: unknown): { before: string[]; after: string[] } {
  const none = { before: [], after: [] };
  if (processor === null || typeof processor !== 'object') return none;
  const p = processor as Json;
  if (p.type === 'Sequence' && Array.isArray(p.processors)) {
    const parts = p.processors.map(singleSequenceSpecials);
    return { before: parts.flatMap((x) => x.before), after: parts.flatMap((x) => x.after) };
  }
  if (p.type === 'TemplateProcessing' && Array.isArray(p.single)) {
    const out: { before: string[]; after: string[] } = { before: [], after: [] };
    let seenSequence = false;
    for (const piece of p.single as Json[]) {
      if (piece.Sequence !== undefined) seenSequence = true;
      const special = piece.SpecialToken as Json | undefined;
      if (special && typeof special.id === 'string') (seenSequence ? out.after : out.before).push(special.id);
    }
    return out;
  }
  if ((p.type === 'BertProcessing' || p.type === 'RobertaProcessing') && Array.isArray(p.cls) && Array.isArray(p.sep)) {
    return { before: [String(p.cls[0])], after: [String(p.sep[0])] };
  }
  return none;
}

// tokenizer.model as tokenizer.json; ChatGLM's (tokenizer_class ChatGLMTokenizer) with its command tokens.
function convertSentencePiece(dir: string, spmPath: string): Json {
  const proto = parseModelProto(readFileSync(spmPath), spmPath);
  const json = sentencePieceToTokenizerJson(proto, spmPath) as Json;
  const configPath = join(dir, 'tokenizer_config.json');
  const config = existsSync(configPath) ? readJson(configPath) : {};
  return config.tokenizer_class === CHATGLM_TOKENIZER_CLASS ? withChatGLMCommands(json, proto.pieces.length) : json;
}

/** Reads a Hugging Face tokenizer directory (tokenizer.json is required: the fast tokenizer format). */
export function readTokenizerFiles(dir: string): TokenizerFiles {
  // a GGUF file carries its tokenizer in its metadata
  if (dir.toLowerCase().endsWith('.gguf')) dir = ggufTokenizerDir(dir);
  const tokenizerPath = join(dir, 'tokenizer.json');
  const spmPath = join(dir, 'tokenizer.model');
  if (!existsSync(tokenizerPath) && !existsSync(spmPath)) {
    throw new TokenizerError(
      `${tokenizerPath} not found: lmforge needs tokenizer.json (the fast-tokenizer file) or a sentencepiece ` +
        'tokenizer.model; download one of them into the folder.',
    );
  }
  // A sentencepiece-only folder (Llama 2, ChatGLM3, Baichuan, Yi) is converted as transformers' converters do.
  const tokenizerJson = existsSync(tokenizerPath)
    ? readFileSync(tokenizerPath, 'utf8')
    : JSON.stringify(convertSentencePiece(dir, spmPath));
  let parsed: Json;
  try {
    parsed = JSON.parse(tokenizerJson) as Json;
  } catch (e) {
    throw new TokenizerError(`${tokenizerPath} is not valid JSON: ${(e as Error).message}`);
  }
  const entries = Array.isArray(parsed.added_tokens) ? (parsed.added_tokens as Json[]) : [];
  const addedTokens = entries.map((entry) => parseAddedToken(entry, Number(entry.id), tokenizerPath));
  return {
    dir,
    tokenizerJson,
    addedTokens,
    postProcessorSpecials: singleSequenceSpecials(parsed.post_processor),
    settings: readSettings(dir),
    generation: readGeneration(dir),
  };
}
