export { type ChatMessage, renderChatTemplate, strftime, type ToolSpec } from './chat-template.js';
export { TokenizerError } from './errors.js';
export {
  type ApplyChatTemplateOptions,
  cleanUpTokenization,
  type DecodeOptions,
  type EncodeOptions,
  type SpecialTokensUpdate,
  Tokenizer,
} from './tokenizer.js';
export { type AddedTokenInfo, type GenerationTokenIds, readTokenizerFiles } from './tokenizer-files.js';
