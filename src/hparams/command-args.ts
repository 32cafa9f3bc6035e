/**
 * The few arguments a command has of its own (not LLaMA-Factory dataclass fields), as tables like the others so that
 * every command reads them with the same parser: YAML, `key=value`, `--key value`, booleans in every spelling.
 */
import { bool, choice, float, int, list, optFloat, optInt, optList, optStr, str } from './spec.js';

/** `lmforge chat`: the system prompt is LLaMA-Factory's default_system (alias --system). */
export const CHAT_ARGS = {
  show_speed: bool(false, 'Print the tokens and tokens/s after each answer.'),
};

/** `lmforge api`: where and how many; unset ones come from API_HOST, API_PORT, ... or the defaults. */
export const SERVER_ARGS = {
  host: optStr('Address to listen on (default API_HOST or 0.0.0.0).'),
  port: optInt('Port to listen on (default API_PORT or 8000).'),
  max_concurrent: optInt('Generations decoded together at most (default API_MAX_CONCURRENT or 64).'),
  max_waiting: optInt('Requests queued beyond those before a 503 (default API_MAX_WAITING or 16).'),
  max_body_bytes: optInt('Largest request body in bytes; larger ones get 413 (default API_MAX_BODY_BYTES or 16 MiB).'),
  kv_budget: optInt(
    'Bytes of KV cache the continuous-batching scheduler may hold (default API_KV_BUDGET or 512 MiB, allocated at start); requests wait for room, then 429; one larger than it is refused.',
  ),
  max_num_batched_tokens: optInt(
    'Tokens per decode step, prompt chunks included, so a long prompt does not stall the others (default API_MAX_NUM_BATCHED_TOKENS or 256).',
  ),
  max_model_len: optInt(
    "Prompt + max_tokens at most, else 400 context_length_exceeded (default API_MAX_MODEL_LEN or the config's max_position_embeddings).",
  ),
  kb_root: optStr('Serve the knowledge bases in this folder under /v1/kb (search, ask, upload); default: none.'),
};

/** `lmforge data preview|stats`: which records to show and how. */
export const INSPECT_ARGS = {
  index: int(0, 'preview: the first record to show.'),
  count: int(1, 'preview: how many records to show.'),
  json: bool(false, 'Machine-readable output.'),
};

/** `lmforge tokenizer train|extend|stats`: the text, the vocabulary and where the result goes. */
export const TOKENIZER_ARGS = {
  text_files: optList('train/stats: text files to read (.txt one text per line; .json/.jsonl/.csv/.parquet records).'),
  tokenizer_type: choice(
    ['byte_level', 'sentencepiece'] as const,
    'byte_level',
    'train: byte_level (GPT-2/Llama-3/Qwen style tokenizer.json) or sentencepiece (Llama 2 style BPE with byte fallback, tokenizer.model + tokenizer.json).',
  ),
  character_coverage: float(
    0.9995,
    'train, sentencepiece: share of character occurrences kept as pieces (the rest fall back to bytes).',
  ),
  vocab_size: int(32000, 'train: ids in the trained tokenizer (256 bytes + merges + special tokens).'),
  min_frequency: int(2, 'train: a pair is merged only if it occurs at least this often.'),
  special_tokens: list(['<|endoftext|>'], 'train: special tokens appended after the merges; the first is the EOS.'),
  model_max_length: int(4096, 'train: model_max_length written into tokenizer_config.json.'),
  new_tokenizer: optStr('extend: folder with the tokenizer.json whose pieces are added to the model tokenizer.'),
  pad_to_multiple_of: int(64, "extend: the embedding rows are padded to a multiple of this (LLaMA-Factory's 64)."),
  compare_tokenizer: optStr('stats: a second tokenizer folder, measured on the same text (before/after).'),
  json: bool(false, 'stats: machine-readable output.'),
  output_dir: optStr('train/extend: the folder to write the tokenizer (train) or the extended model (extend) into.'),
};

/** `lmforge kb ...`: where knowledge bases live, how files are split (fixed at create) and how answers retrieve. */
export const KB_ARGS = {
  kb_root: str(
    'knowledge_base',
    'Folder of the knowledge bases: <kb_root>/<name>.sqlite (a name with / or .sqlite is a path).',
  ),
  chunk_size: int(250, 'create: most characters (or tokens, with chunk_unit=tokens) in a chunk.'),
  chunk_overlap: int(50, 'create: characters (or tokens) a chunk repeats from the end of the one before.'),
  chunk_unit: choice(
    ['chars', 'tokens'] as const,
    'chars',
    "create: what chunk_size counts; tokens = model_name_or_path's tokenizer.",
  ),
  top_k: int(3, 'search/ask/chat: chunks retrieved per question.'),
  retriever: choice(
    ['bm25', 'dense', 'hybrid'] as const,
    'bm25',
    "search/ask/chat: BM25 words, an encoder's vectors, or both fused.",
  ),
  embedding_model: optStr(
    'Encoder folder for dense/hybrid: a BERT/XLM-R sentence encoder (bge, text2vec, bge-m3), or a causal LM ' +
      'mean-pooled (default: model_name_or_path).',
  ),
  rerank_model: optStr(
    'search/ask/chat: cross-encoder folder (bge-reranker) that rescores the top_k retrieved chunks.',
  ),
  rerank_top_n: optInt('search/ask/chat: chunks the reranker keeps of the top_k (default 3).'),
  score_threshold: optFloat(
    'search/ask/chat: lowest score a chunk needs (default bm25 1, dense 0.5, hybrid 0); else "not found".',
  ),
  prompt_language: choice(
    ['auto', 'zh', 'en'] as const,
    'auto',
    'ask/chat: prompt template language (auto: by the question).',
  ),
  json: bool(false, 'Machine-readable output (list, search, ask).'),
};

/** `lmforge webui`: where it listens, the token a non-loopback address needs, and the folders the board may touch. */
export const WEBUI_ARGS = {
  host: optStr('Address to listen on (default 127.0.0.1; any other address needs --token or WEBUI_TOKEN).'),
  port: optInt('Port to listen on (default 7860, as LlamaBoard).'),
  token: optStr('Token every request must carry (default WEBUI_TOKEN); required when --host is not loopback.'),
  work_dirs: optList(
    'Folders the board may read and write (comma-separated; default the current folder). Every path stays inside.',
  ),
};
