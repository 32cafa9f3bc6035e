import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { AddedToken, type Decoder, Tokenizer as NativeTokenizer, type Processor, templateProcessing } from 'tokenizers';
import { type ChatMessage, renderChatTemplate, type ToolSpec } from './chat-template.js';
import { TokenizerError } from './errors.js';
import {
  type AddedTokenInfo,
  type GenerationTokenIds,
  NO_MAX_LENGTH,
  readTokenizerFiles,
  type TokenizerFiles,
  type TokenizerSettings,
} from './tokenizer-files.js';

export interface EncodeOptions {
  /** Run the post-processor (BOS/EOS per the tokenizer). Default true, as in HF's encode. */
  addSpecialTokens?: boolean;
}

export interface DecodeOptions {
  skipSpecialTokens?: boolean;
  /** Defaults to the config's clean_up_tokenization_spaces. */
  cleanUpTokenizationSpaces?: boolean;
}

export interface ApplyChatTemplateOptions {
  addGenerationPrompt?: boolean;
  tools?: ToolSpec[] | null;
  documents?: Record<string, unknown>[] | null;
  /** A template source, or the name of one of the tokenizer's named templates. */
  chatTemplate?: string;
  /** Extra template variables such as enable_thinking (HF's **kwargs). */
  extra?: Record<string, unknown>;
  now?: () => Date;
}

/** The special tokens HF's add_special_tokens accepts. */
export interface SpecialTokensUpdate {
  bosToken?: string;
  eosToken?: string;
  unkToken?: string;
  padToken?: string;
  additionalSpecialTokens?: string[];
}

// HF classes whose fast tokenizer rebuilds its post-processor from add_bos_token/add_eos_token
// (LlamaTokenizerFast.update_post_processor and its copies); defaults are BOS on, EOS off.
const BOS_EOS_FLAG_CLASSES = new Set(['LlamaTokenizer', 'CodeLlamaTokenizer', 'GemmaTokenizer']);

// HF's clean_up_tokenization: undo the spaces that word-level decoding put before punctuation.
const CLEAN_UP_PAIRS: [string, string][] = [
  [' .', '.'],
  [' ?', '?'],
  [' !', '!'],
  [' ,', ','],
  [" ' ", "'"],
  [" n't", "n't"],
  [" 'm", "'m"],
  [" 's", "'s"],
  [" 've", "'ve"],
  [" 're", "'re"],
];

export function cleanUpTokenization(text: string): string {
  for (const [from, to] of CLEAN_UP_PAIRS) text = text.replaceAll(from, to);
  return text;
}

/**
 * A Hugging Face fast tokenizer (tokenizer.json run by HF's Rust `tokenizers`) with the Python layer's behaviour
 * that AutoTokenizer adds on top: special-token attributes, add_bos/add_eos for Llama-family classes, added
 * tokens, clean-up on decode, chat templates and saving.
 *
 * Encoding goes through the Rust binding's async API, so `encode` returns a Promise; everything else is sync.
 */
export class Tokenizer {
  private readonly native: NativeTokenizer;
  private readonly decoder: Decoder | null;
  private readonly addedByContent = new Map<string, AddedTokenInfo>();
  private readonly settings: TokenizerSettings;
  readonly generation: GenerationTokenIds | null;
  readonly dir: string;

  bosToken: string | null;
  eosToken: string | null;
  unkToken: string | null;
  padToken: string | null;
  additionalSpecialTokens: string[];
  /** Named chat templates ('default' for a single one); assign chatTemplate to replace the default. */
  chatTemplates: Record<string, string>;
  modelMaxLength: number;
  paddingSide: 'left' | 'right';
  truncationSide: 'left' | 'right';
  cleanUpTokenizationSpaces: boolean;
  readonly addBosToken: boolean;
  readonly addEosToken: boolean;
  /** What `encode('')` returns: the special tokens the post-processor puts around any text (known without encoding). */
  readonly emptyTextIds: readonly number[];

  constructor(files: TokenizerFiles) {
    this.dir = files.dir;
    this.settings = files.settings;
    this.generation = files.generation;
    try {
      this.native = NativeTokenizer.fromString(files.tokenizerJson);
    } catch (e) {
      throw new TokenizerError(`${join(files.dir, 'tokenizer.json')} is not a tokenizer the Rust library reads: ${e}`);
    }
    this.decoder = this.native.getDecoder();
    for (const token of files.addedTokens) this.addedByContent.set(token.content, token);

    const s = files.settings;
    this.bosToken = s.bosToken;
    this.eosToken = s.eosToken;
    this.unkToken = s.unkToken;
    this.padToken = s.padToken;
    this.additionalSpecialTokens = [...s.additionalSpecialTokens];
    this.chatTemplates = { ...s.chatTemplates };
    this.modelMaxLength = s.modelMaxLength;
    this.paddingSide = s.paddingSide;
    this.truncationSide = s.truncationSide;
    this.cleanUpTokenizationSpaces = s.cleanUpTokenizationSpaces;

    // Like PreTrainedTokenizerFast.__init__: tokens of added_tokens_decoder and special tokens missing from the
    // vocabulary are added (as special tokens) so their ids exist.
    const missing = s.configAddedTokens.filter((t) => this.native.tokenToId(t.content) === null);
    for (const token of missing) this.addTokens([token.content], token.special);
    const specials = [this.bosToken, this.eosToken, this.unkToken, this.padToken, ...this.additionalSpecialTokens];
    this.addTokens(
      specials.filter((t): t is string => t !== null && this.native.tokenToId(t) === null),
      true,
    );

    const className = (s.tokenizerClass ?? '').replace(/Fast$/, '');
    const flagsApply = BOS_EOS_FLAG_CLASSES.has(className);
    const around = files.postProcessorSpecials;
    this.addBosToken = flagsApply
      ? (s.addBosToken ?? true)
      : this.bosToken !== null && around.before.includes(this.bosToken);
    this.addEosToken = flagsApply
      ? (s.addEosToken ?? false)
      : this.eosToken !== null && around.after.includes(this.eosToken);
    if (flagsApply) this.native.setPostProcessor(this.bosEosProcessor());
    const tokensAround = flagsApply
      ? [this.addBosToken ? this.bosToken : null, this.addEosToken ? this.eosToken : null]
      : [...around.before, ...around.after];
    this.emptyTextIds = tokensAround
      .filter((t): t is string => t !== null)
      .map((t) => this.native.tokenToId(t))
      .filter((id): id is number => id !== null);
  }

  /** Loads tokenizer.json + tokenizer_config.json (+ special_tokens_map, generation_config, chat_template.*). */
  static fromDir(dir: string): Tokenizer {
    return new Tokenizer(readTokenizerFiles(dir));
  }

  private bosEosProcessor(): Processor {
    const bos = this.addBosToken ? this.bosToken : null;
    const eos = this.addEosToken ? this.eosToken : null;
    if (this.addBosToken && bos === null) throw new TokenizerError('add_bos_token is true but bos_token is not set');
    if (this.addEosToken && eos === null) throw new TokenizerError('add_eos_token is true but eos_token is not set');
    const single = `${bos ? `${bos}:0 ` : ''}$A:0${eos ? ` ${eos}:0` : ''}`;
    const pair = `${single}${bos ? ` ${bos}:1` : ''} $B:1${eos ? ` ${eos}:1` : ''}`;
    const special: [string, number][] = [];
    if (bos) special.push([bos, this.bosTokenId!]);
    if (eos) special.push([eos, this.eosTokenId!]);
    return templateProcessing(single, pair, special);
  }

  // ---- ids <-> tokens ---------------------------------------------------------------------------------------

  /** HF's convert_tokens_to_ids: an unknown token maps to the unk id (null when there is none). */
  convertTokensToIds(token: string): number | null;
  convertTokensToIds(tokens: string[]): (number | null)[];
  convertTokensToIds(tokens: string | string[]): number | null | (number | null)[] {
    if (Array.isArray(tokens)) return tokens.map((t) => this.tokenToIdOrUnk(t));
    return this.tokenToIdOrUnk(tokens);
  }

  /** The id of a token string exactly as the vocabulary (with added tokens) has it; null when absent. */
  tokenToId(token: string): number | null {
    return this.native.tokenToId(token);
  }

  private tokenToIdOrUnk(token: string): number | null {
    const id = this.native.tokenToId(token);
    if (id !== null) return id;
    return this.unkToken === null ? null : this.native.tokenToId(this.unkToken);
  }

  convertIdsToTokens(id: number): string | null;
  convertIdsToTokens(ids: number[]): (string | null)[];
  convertIdsToTokens(ids: number | number[]): string | null | (string | null)[] {
    if (Array.isArray(ids)) return ids.map((id) => this.native.idToToken(id));
    return this.native.idToToken(ids);
  }

  private idOf(token: string | null): number | null {
    return token === null ? null : this.tokenToIdOrUnk(token);
  }

  get bosTokenId(): number | null {
    return this.idOf(this.bosToken);
  }
  get eosTokenId(): number | null {
    return this.idOf(this.eosToken);
  }
  get padTokenId(): number | null {
    return this.idOf(this.padToken);
  }
  get unkTokenId(): number | null {
    return this.idOf(this.unkToken);
  }

  /** Size of the base vocabulary, without added tokens (HF's vocab_size). */
  get vocabSize(): number {
    return this.native.getVocabSize(false);
  }

  /** Vocabulary size with added tokens (HF's len(tokenizer)): the embedding rows a model needs. */
  get size(): number {
    return this.native.getVocabSize(true);
  }

  getVocab(withAddedTokens = true): Record<string, number> {
    return this.native.getVocab(withAddedTokens);
  }

  /** Added tokens by id, like HF's added_tokens_decoder. */
  get addedTokensDecoder(): Map<number, AddedTokenInfo> {
    return new Map([...this.addedByContent.values()].sort((a, b) => a.id - b.id).map((t) => [t.id, t]));
  }

  /** bos/eos/unk/pad and the additional special tokens, as HF's all_special_tokens. */
  get allSpecialTokens(): string[] {
    const named = [this.bosToken, this.eosToken, this.unkToken, this.padToken].filter((t): t is string => t !== null);
    return [...new Set([...named, ...this.additionalSpecialTokens])];
  }

  get allSpecialIds(): number[] {
    return this.allSpecialTokens.map((t) => this.tokenToIdOrUnk(t)).filter((id): id is number => id !== null);
  }

  // ---- adding tokens ----------------------------------------------------------------------------------------

  /** Adds tokens the vocabulary lacks; returns how many were new (the model must then resize its embeddings). */
  addTokens(tokens: string[], special = false): number {
    let added = 0;
    for (const content of tokens) {
      const existing = this.addedByContent.get(content);
      // Re-adding an added token is a no-op, as in the Rust library (which compares added tokens by content).
      if (existing !== undefined) continue;
      const known = this.native.tokenToId(content);
      // HF adds special tokens un-normalized and plain added tokens normalized.
      const count = this.native.addAddedTokens([new AddedToken(content, special, { normalized: !special })]);
      const id = this.native.tokenToId(content);
      if (id === null) throw new TokenizerError(`the Rust tokenizer did not add the token ${JSON.stringify(content)}`);
      this.addedByContent.set(content, {
        id,
        content,
        special,
        lstrip: false,
        rstrip: false,
        normalized: !special,
        singleWord: false,
      });
      if (known === null) added += count;
    }
    return added;
  }

  /**
   * HF's add_special_tokens: sets the named special tokens (adding them to the vocabulary when missing).
   * Additional special tokens replace the list unless replaceAdditionalSpecialTokens is false.
   */
  addSpecialTokens(update: SpecialTokensUpdate, replaceAdditionalSpecialTokens = true): number {
    const named: string[] = [];
    if (update.bosToken !== undefined) named.push((this.bosToken = update.bosToken));
    if (update.eosToken !== undefined) named.push((this.eosToken = update.eosToken));
    if (update.unkToken !== undefined) named.push((this.unkToken = update.unkToken));
    if (update.padToken !== undefined) named.push((this.padToken = update.padToken));
    const extra = update.additionalSpecialTokens ?? [];
    if (update.additionalSpecialTokens !== undefined) {
      this.additionalSpecialTokens = replaceAdditionalSpecialTokens
        ? [...extra]
        : [...this.additionalSpecialTokens, ...extra.filter((t) => !this.additionalSpecialTokens.includes(t))];
    }
    return this.addTokens([...named, ...extra], true);
  }

  // ---- encode / decode ---------------------------------------------------------------------------------------

  async encode(text: string, options: EncodeOptions = {}): Promise<number[]> {
    const encoding = await this.native.encode(text, null, { addSpecialTokens: options.addSpecialTokens ?? true });
    return encoding.getIds();
  }

  /** Encodes many texts in one native call (cheaper than one call each). */
  async encodeBatch(texts: string[], options: EncodeOptions = {}): Promise<number[][]> {
    if (texts.length === 0) return [];
    const encodings = await this.native.encodeBatch(texts, { addSpecialTokens: options.addSpecialTokens ?? true });
    return encodings.map((e) => e.getIds());
  }

  /**
   * Encodes a text, or a pair ([CLS] a [SEP] b [SEP] for BERT), with its token type ids, cut to maxLength tokens
   * longest-first as HF's tokenizer(a, b, truncation=True, max_length=...). Sets truncation on this tokenizer for
   * the call: use an instance of its own (an encoder's), not one shared with concurrent encode calls.
   */
  async encodeForEncoder(
    text: string,
    pair: string | null,
    maxLength: number,
  ): Promise<{ ids: number[]; typeIds: number[] }> {
    this.native.setTruncation(maxLength);
    try {
      const encoding = await this.native.encode(text, pair, { addSpecialTokens: true });
      return { ids: encoding.getIds(), typeIds: encoding.getTypeIds() };
    } finally {
      this.native.disableTruncation();
    }
  }

  /** Token strings of an encoding (pieces such as 'Ġworld' or '▁Hello'). */
  async tokenize(text: string, options: EncodeOptions = {}): Promise<string[]> {
    const encoding = await this.native.encode(text, null, { addSpecialTokens: options.addSpecialTokens ?? false });
    return encoding.getTokens();
  }

  /**
   * Same steps as the Rust Tokenizer::decode (ids -> tokens, drop special added tokens if asked, run the
   * decoder), done synchronously so streaming generation can decode per token; then HF's optional clean-up.
   */
  decode(ids: readonly number[], options: DecodeOptions = {}): string {
    const skip = options.skipSpecialTokens ?? false;
    const tokens: string[] = [];
    for (const id of ids) {
      const token = this.native.idToToken(id);
      if (token === null) continue;
      if (skip && this.addedByContent.get(token)?.special === true) continue;
      tokens.push(token);
    }
    const text = this.decoder === null ? tokens.join(' ') : this.decoder.decode(tokens);
    const cleanUp = options.cleanUpTokenizationSpaces ?? this.cleanUpTokenizationSpaces;
    return cleanUp ? cleanUpTokenization(text) : text;
  }

  /** The Rust library's own (async) decode, without clean-up: kept to cross-check `decode`. */
  nativeDecode(ids: number[], skipSpecialTokens = false): Promise<string> {
    return this.native.decode(ids, skipSpecialTokens);
  }

  // ---- chat templates ----------------------------------------------------------------------------------------

  /** The default chat template, or null when the tokenizer has none. */
  get chatTemplate(): string | null {
    return this.chatTemplates.default ?? null;
  }

  set chatTemplate(source: string | null) {
    if (source === null) delete this.chatTemplates.default;
    else this.chatTemplates.default = source;
  }

  /** HF's special_tokens_map, the variables a chat template sees (bos_token, eos_token...). */
  get specialTokensMap(): Record<string, string | string[]> {
    const map: Record<string, string | string[]> = {};
    if (this.bosToken !== null) map.bos_token = this.bosToken;
    if (this.eosToken !== null) map.eos_token = this.eosToken;
    if (this.unkToken !== null) map.unk_token = this.unkToken;
    if (this.padToken !== null) map.pad_token = this.padToken;
    if (this.additionalSpecialTokens.length > 0) map.additional_special_tokens = [...this.additionalSpecialTokens];
    return map;
  }

  private selectChatTemplate(options: ApplyChatTemplateOptions): string {
    const choice = options.chatTemplate;
    if (choice !== undefined) return this.chatTemplates[choice] ?? choice;
    // HF picks the 'tool_use' template when tools are given and one exists.
    const named = options.tools && this.chatTemplates.tool_use !== undefined ? 'tool_use' : 'default';
    const source = this.chatTemplates[named];
    if (source === undefined) {
      throw new TokenizerError(
        `${this.dir} has no chat template: pass { chatTemplate } or set \`template\` to a named template ` +
          '(llama3, qwen, ...) instead of relying on the tokenizer',
      );
    }
    return source;
  }

  /** Renders the conversation with the tokenizer's jinja chat template (tokenize: ids without extra specials). */
  applyChatTemplate(messages: ChatMessage[], options: ApplyChatTemplateOptions & { tokenize: true }): Promise<number[]>;
  applyChatTemplate(messages: ChatMessage[], options?: ApplyChatTemplateOptions & { tokenize?: false }): string;
  applyChatTemplate(
    messages: ChatMessage[],
    options: ApplyChatTemplateOptions & { tokenize?: boolean } = {},
  ): string | Promise<number[]> {
    const text = renderChatTemplate(this.selectChatTemplate(options), {
      messages,
      tools: options.tools ?? null,
      documents: options.documents ?? null,
      addGenerationPrompt: options.addGenerationPrompt ?? false,
      specialTokens: this.specialTokensMap,
      extra: options.extra,
      now: options.now,
    });
    // The rendered text carries its own BOS: HF tokenizes it with add_special_tokens=False.
    return options.tokenize === true ? this.encode(text, { addSpecialTokens: false }) : text;
  }

  // ---- saving ------------------------------------------------------------------------------------------------

  /** Writes tokenizer.json, tokenizer_config.json (with the chat template) and special_tokens_map.json. */
  save(dir: string): void {
    mkdirSync(dir, { recursive: true });
    this.native.save(join(dir, 'tokenizer.json'), true);
    const addedTokensDecoder: Record<string, unknown> = {};
    for (const [id, t] of this.addedTokensDecoder) {
      addedTokensDecoder[String(id)] = {
        content: t.content,
        lstrip: t.lstrip,
        normalized: t.normalized,
        rstrip: t.rstrip,
        single_word: t.singleWord,
        special: t.special,
      };
    }
    const config: Record<string, unknown> = {
      ...this.settings.raw,
      added_tokens_decoder: addedTokensDecoder,
      additional_special_tokens: [...this.additionalSpecialTokens],
      bos_token: this.bosToken,
      eos_token: this.eosToken,
      pad_token: this.padToken,
      unk_token: this.unkToken,
      clean_up_tokenization_spaces: this.cleanUpTokenizationSpaces,
      model_max_length: this.modelMaxLength,
      padding_side: this.paddingSide,
      truncation_side: this.truncationSide,
    };
    if (this.settings.addBosToken !== undefined) config.add_bos_token = this.addBosToken;
    if (this.settings.addEosToken !== undefined) config.add_eos_token = this.addEosToken;
    const names = Object.keys(this.chatTemplates);
    if (names.length === 0) delete config.chat_template;
    else if (names.length === 1 && names[0] === 'default') config.chat_template = this.chatTemplates.default;
    else config.chat_template = names.map((name) => ({ name, template: this.chatTemplates[name] }));
    writeFileSync(join(dir, 'tokenizer_config.json'), stringifyConfig(config));
    writeFileSync(join(dir, 'special_tokens_map.json'), `${JSON.stringify(this.specialTokensMap, null, 2)}\n`);
  }
}

// JSON.stringify writes 1e30 as 1e+30; Python reads that as a float, so write HF's integer instead.
function stringifyConfig(config: Record<string, unknown>): string {
  return `${JSON.stringify(config, null, 2).replace(
    /("model_max_length": )1e\+30/,
    `$1${BigInt(NO_MAX_LENGTH).toString()}`,
  )}\n`;
}
