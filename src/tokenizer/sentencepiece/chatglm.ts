/**
 * ChatGLM3's tokenizer (THUDM's tokenization_chatglm.py). Its tokenizer.model is a plain SentencePiece BPE; the
 * Python SPTokenizer appends nine command tokens after the model's pieces, at ids n_words + i in this order, which
 * `get_command(name)` returns, and build_inputs_with_special_tokens puts [gMASK] sop (get_prefix_tokens) before the
 * text. A tokenizer.json built from such a folder gets them as special added tokens and that prefix as its
 * post-processor, so `tokenToId('sop')` is get_command('sop') and templates find them by name.
 */
type Json = Record<string, unknown>;

export const CHATGLM_COMMAND_TOKENS = [
  '[MASK]',
  '[gMASK]',
  '[sMASK]',
  'sop',
  'eop',
  '<|system|>',
  '<|user|>',
  '<|assistant|>',
  '<|observation|>',
] as const;

/** tokenizer_config.json's tokenizer_class of ChatGLM2/3 folders. */
export const CHATGLM_TOKENIZER_CLASS = 'ChatGLMTokenizer';

/** The converted tokenizer.json of a ChatGLM tokenizer.model (`pieces` of them) with its command tokens and prefix. */
export function withChatGLMCommands(json: Json, pieces: number): Json {
  const commands = CHATGLM_COMMAND_TOKENS.map((content, i) => ({
    id: pieces + i,
    content,
    single_word: false,
    lstrip: false,
    rstrip: false,
    normalized: false,
    special: true,
  }));
  const idOf = (name: string) => pieces + CHATGLM_COMMAND_TOKENS.indexOf(name as never);
  const special = (id: string, typeId: number) => ({ SpecialToken: { id, type_id: typeId } });
  const prefix = (typeId: number) => [special('[gMASK]', typeId), special('sop', typeId)];
  return {
    ...json,
    added_tokens: [...((json.added_tokens as Json[] | undefined) ?? []), ...commands],
    post_processor: {
      type: 'TemplateProcessing',
      single: [...prefix(0), { Sequence: { id: 'A', type_id: 0 } }],
      pair: [...prefix(0), { Sequence: { id: 'A', type_id: 0 } }, { Sequence: { id: 'B', type_id: 1 } }],
      special_tokens: Object.fromEntries(['[gMASK]', 'sop'].map((t) => [t, { id: t, ids: [idOf(t)], tokens: [t] }])),
    },
  };
}
