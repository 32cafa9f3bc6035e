/**
 * `lmforge kb create|add|remove|list|search|ask|chat`: a local knowledge base over the user's own files.
 *
 *   lmforge kb create docs                      # knowledge_base/docs.sqlite (chunk_size=250 chunk_overlap=50)
 *   lmforge kb add docs ./manuals notes.pdf     # folders recursively; a changed file replaces its chunks
 *   lmforge kb search docs "how to reset" --json
 *   lmforge kb ask docs "how to reset?" --model_name_or_path examples/tiny/base
 *   lmforge kb chat docs --model_name_or_path ... # follow-ups rewritten with the history
 *
 * Positional words (subcommand, name, paths or question) come first, then the usual arguments (a YAML, key=value,
 * --key value) read by parseCommandArgs with the inference groups plus `kb`.
 */
import { existsSync, readdirSync } from 'node:fs';
import { join, resolve, sep } from 'node:path';
import { createInterface } from 'node:readline';
import { formatHelp, KB_GROUPS, parseCommandArgs } from '../hparams/index.js';
import { parseInferArgs } from '../infer/chat-args.js';
import type { Message } from '../infer/chat-engine.js';
import { type Answer, ask } from '../kb/answer.js';
import { embedMissing } from '../kb/dense.js';
import { type ClosableEncoder, openEncoder, openReranker } from '../kb/encoders/open-encoder.js';
import type { Reranker } from '../kb/encoders/reranker.js';
import { KbError } from '../kb/errors.js';
import { importPaths } from '../kb/importer.js';
import { LazyChatModel } from '../kb/lazy-model.js';
import { makeRetriever, type RetrieverKind } from '../kb/retriever.js';
import { KnowledgeBase } from '../kb/store.js';
import { loadTokenCounter } from '../kb/token-measure.js';
import type { Hit } from '../kb/types.js';

const SUBCOMMANDS = ['create', 'add', 'remove', 'list', 'search', 'ask', 'chat'] as const;
type Sub = (typeof SUBCOMMANDS)[number];

/** How many positional words each subcommand takes after itself: [least, most]. */
const POSITIONALS: Record<Sub, [number, number]> = {
  create: [1, 1],
  add: [2, Number.POSITIVE_INFINITY],
  remove: [2, Number.POSITIVE_INFINITY],
  list: [0, 1],
  search: [2, 2],
  ask: [2, 2],
  chat: [1, 1],
};

const USAGE = [
  'Usage: lmforge kb create <name> [chunk_size=250 chunk_overlap=50 chunk_unit=chars|tokens]',
  '       lmforge kb add <name> <file or folder>...      (txt md html csv json jsonl pdf docx)',
  '       lmforge kb remove <name> <file or folder>...',
  '       lmforge kb list [<name>] [--json]',
  '       lmforge kb search <name> "<question>" [--top_k 3] [--score_threshold 1] [--json]',
  '       lmforge kb ask <name> "<question>" --model_name_or_path <dir> [--template ...] [--json]',
  '       lmforge kb chat <name> --model_name_or_path <dir>   (clear resets the history, exit quits)',
  '<name> is <kb_root>/<name>.sqlite (kb_root=knowledge_base), or a path when it has a / or ends in .sqlite.',
];

interface KbInvocation {
  sub: Sub | null;
  positionals: string[];
  rest: string[];
}

function isOption(token: string): boolean {
  return token.startsWith('-') || /^[A-Za-z_][\w.]*=/.test(token);
}

function split(argv: readonly string[]): KbInvocation {
  const [first, ...after] = argv;
  if (first === undefined || !(SUBCOMMANDS as readonly string[]).includes(first)) {
    return { sub: null, positionals: [], rest: [...argv] };
  }
  const sub = first as Sub;
  const [, most] = POSITIONALS[sub];
  const positionals: string[] = [];
  let i = 0;
  while (i < after.length && positionals.length < most && !isOption(after[i] as string)) {
    positionals.push(after[i] as string);
    i++;
  }
  return { sub, positionals, rest: after.slice(i) };
}

/** `lmforge kb`'s arguments (the subcommand and its positional words set aside). */
export function parseKbArgs(argv: readonly string[]) {
  return parseCommandArgs(split(argv).rest, KB_GROUPS, { command: 'kb' });
}

type KbOptions = {
  kb_root: string;
  retriever: RetrieverKind;
  embedding_model: string | null;
  rerank_model: string | null;
  rerank_top_n: number | null;
  chunk_size: number;
  chunk_overlap: number;
  chunk_unit: 'chars' | 'tokens';
  top_k: number;
  score_threshold: number | null;
  prompt_language: 'auto' | 'zh' | 'en';
  json: boolean;
};

export function kbFile(name: string, kbRoot: string): string {
  if (name.includes('/') || name.includes(sep) || /\.(sqlite|db)$/.test(name)) return resolve(name);
  return resolve(kbRoot, `${name}.sqlite`);
}

export async function kbCommand(argv: string[]): Promise<number> {
  if (argv.length === 0 || argv[0] === '-h' || argv[0] === '--help' || argv.includes('-h')) {
    // formatHelp's first two lines are the generic "lmforge kb <config.yaml>" usage: kb's own replaces them.
    console.log([...USAGE, ...formatHelp(KB_GROUPS, 'kb').split('\n').slice(2)].join('\n'));
    return argv.length === 0 ? 2 : 0;
  }
  const { sub, positionals, rest } = split(argv);
  if (sub === null) throw new KbError(`unknown kb subcommand '${argv[0]}': use ${SUBCOMMANDS.join(', ')}`);
  const [least] = POSITIONALS[sub];
  if (positionals.length < least) throw new KbError(`lmforge kb ${sub} needs more words:\n${USAGE.join('\n')}`);
  const typed = parseCommandArgs(rest, KB_GROUPS, { command: 'kb' });
  const options = typed.groups.kb as KbOptions;
  const [name, ...others] = positionals;
  switch (sub) {
    case 'create':
      return create(
        kbFile(name as string, options.kb_root),
        options,
        typed.groups.model?.model_name_or_path as string | null,
      );
    case 'add':
      return add(kbFile(name as string, options.kb_root), others, options.embedding_model);
    case 'remove':
      return remove(kbFile(name as string, options.kb_root), others);
    case 'list':
      return name === undefined ? listAll(options) : listDocuments(kbFile(name, options.kb_root), options);
    case 'search':
      return await search(kbFile(name as string, options.kb_root), others[0] as string, options);
    case 'ask':
    case 'chat':
      return answerCommand(sub, kbFile(name as string, options.kb_root), others[0] ?? null, rest, options);
  }
}

function create(file: string, o: KbOptions, modelDir: string | null): number {
  if (o.chunk_unit === 'tokens' && !modelDir) {
    throw new KbError('chunk_unit=tokens counts a model tokenizer: give --model_name_or_path <model folder>');
  }
  const kb = KnowledgeBase.create(file, {
    chunk_size: o.chunk_size,
    chunk_overlap: o.chunk_overlap,
    chunk_unit: o.chunk_unit,
    tokenizer: o.chunk_unit === 'tokens' ? resolve(modelDir as string) : null,
  });
  kb.close();
  console.log(`created ${file} (chunk_size=${o.chunk_size} chunk_overlap=${o.chunk_overlap} ${o.chunk_unit})`);
  return 0;
}

async function add(file: string, paths: string[], embeddingModel: string | null): Promise<number> {
  const kb = KnowledgeBase.open(file);
  try {
    const s = kb.settings;
    const tokenCounter = s.chunk_unit === 'tokens' && s.tokenizer ? await loadTokenCounter(s.tokenizer) : null;
    const report = await importPaths(
      kb,
      paths,
      {
        chunkSize: s.chunk_size,
        chunkOverlap: s.chunk_overlap,
        ...(tokenCounter ? { tokenCounter } : {}),
      },
      (o) => {
        if (o.status === 'failed') console.error(`skipped ${o.path}: ${o.reason}`);
        else if (o.status === 'unchanged') console.log(`unchanged ${o.path}`);
        else console.log(`${o.status} ${o.path} (${o.chunks} chunks)`);
      },
    );
    const count = (status: string) => report.files.filter((f) => f.status === status).length;
    const failed = count('failed');
    const rate = report.seconds > 0 ? (report.chunks / report.seconds).toFixed(0) : '-';
    console.log(
      `${report.files.length} files: ${count('added')} added, ${count('replaced')} replaced, ${count('unchanged')} unchanged, ` +
        `${failed} skipped; ${report.chunks} chunks in ${report.seconds.toFixed(2)} s (${rate} chunks/s); ` +
        `${kb.documents().length} documents, ${kb.chunkCount()} chunks in ${file}`,
    );
    if (embeddingModel) {
      const encoder = openEncoder(embeddingModel);
      try {
        const started = performance.now();
        const n = await embedMissing(kb, encoder);
        console.log(
          `embedded ${n} chunks with ${encoder.name} in ${((performance.now() - started) / 1000).toFixed(1)} s`,
        );
      } finally {
        await encoder.close();
      }
    }
    return failed > 0 && failed === report.files.length ? 1 : 0;
  } finally {
    kb.close();
  }
}

function remove(file: string, paths: string[]): number {
  const kb = KnowledgeBase.open(file);
  try {
    let removed = 0;
    for (const path of paths) {
      const abs = resolve(path);
      const matching = kb.documents().filter((d) => d.path === abs || d.path.startsWith(abs + sep));
      if (matching.length === 0) throw new KbError(`${abs}: no document of ${file} is at or under that path`);
      for (const d of matching) {
        kb.removeDocument(d.path);
        console.log(`removed ${d.path}`);
        removed++;
      }
    }
    console.log(`${removed} documents removed; ${kb.documents().length} left`);
    return 0;
  } finally {
    kb.close();
  }
}

function listAll(o: KbOptions): number {
  const root = resolve(o.kb_root);
  const names = existsSync(root) ? readdirSync(root).filter((f) => f.endsWith('.sqlite')) : [];
  const rows = names.map((f) => {
    const kb = KnowledgeBase.open(join(root, f), { readonly: true });
    try {
      return {
        name: f.slice(0, -'.sqlite'.length),
        file: join(root, f),
        documents: kb.documents().length,
        chunks: kb.chunkCount(),
      };
    } finally {
      kb.close();
    }
  });
  if (o.json) console.log(JSON.stringify(rows, null, 2));
  else if (rows.length === 0) console.log(`no knowledge bases in ${root}; create one with lmforge kb create <name>`);
  else
    for (const r of rows) console.log(`${r.name.padEnd(20)} ${r.documents} documents, ${r.chunks} chunks  ${r.file}`);
  return 0;
}

function listDocuments(file: string, o: KbOptions): number {
  const kb = KnowledgeBase.open(file, { readonly: true });
  try {
    const docs = kb.documents();
    if (o.json) console.log(JSON.stringify(docs, null, 2));
    else {
      for (const d of docs) console.log(`${d.format.padEnd(5)} ${String(d.chunks).padStart(5)} chunks  ${d.path}`);
      console.log(`${docs.length} documents, ${kb.chunkCount()} chunks`);
    }
    return 0;
  } finally {
    kb.close();
  }
}

function hitJson(h: Hit, rank: number) {
  return {
    rank,
    source: h.source,
    score: h.score,
    text: h.text,
    start: h.start,
    end: h.end,
    heading: h.heading,
    page: h.page,
  };
}

function where(h: Hit): string {
  const extra = [h.heading, h.page === null ? null : `p. ${h.page}`].filter(Boolean).join(', ');
  return `${h.source}:${h.start}-${h.end}${extra ? ` (${extra})` : ''}`;
}

/** The encoder dense/hybrid need: embedding_model, else the answering model, else none (bm25). */
function encoderFor(o: KbOptions, answering: LazyChatModel | null): ClosableEncoder | undefined {
  if (o.retriever === 'bm25') return undefined;
  if (o.embedding_model) return openEncoder(o.embedding_model);
  if (answering) return answering;
  throw new KbError(`retriever=${o.retriever} needs --embedding_model <model folder>`);
}

async function search(file: string, query: string, o: KbOptions): Promise<number> {
  // Dense retrieval caches the vectors it computes: only bm25 can read a knowledge base read-only.
  const kb = KnowledgeBase.open(file, { readonly: o.retriever === 'bm25' });
  const encoder = encoderFor(o, null);
  const reranker = rerankerFor(o);
  try {
    const retrieve = makeRetriever(kb, o.retriever, retrieverOptions(o, encoder, reranker));
    const hits = await retrieve(query);
    if (o.json)
      console.log(
        JSON.stringify(
          hits.map((h, i) => hitJson(h, i + 1)),
          null,
          2,
        ),
      );
    else if (hits.length === 0) console.log('not found in the knowledge base (no chunk passed score_threshold)');
    else {
      hits.forEach((h, i) => {
        console.log(`${i + 1}. ${h.score.toFixed(3)}  ${where(h)}\n   ${h.text.replace(/\s+/g, ' ').slice(0, 240)}`);
      });
    }
    return 0;
  } finally {
    kb.close();
    await encoder?.close();
    await reranker?.close();
  }
}

/** The second stage when rerank_model is given. */
function rerankerFor(o: KbOptions): Reranker | undefined {
  return o.rerank_model ? openReranker(o.rerank_model) : undefined;
}

function retrieverOptions(o: KbOptions, encoder: ClosableEncoder | undefined, reranker: Reranker | undefined) {
  return {
    topK: o.top_k,
    scoreThreshold: o.score_threshold,
    ...(encoder ? { encoder } : {}),
    ...(reranker ? { reranker } : {}),
    ...(o.rerank_top_n !== null ? { rerankTopN: o.rerank_top_n } : {}),
  };
}

function printSources(out: (s: string) => void, answer: Answer): void {
  if (!answer.found) return;
  out('\nSources:\n');
  answer.hits.forEach((h, i) => {
    out(`[${i + 1}] ${where(h)}  score ${h.score.toFixed(3)}\n`);
  });
}

async function answerCommand(
  sub: 'ask' | 'chat',
  file: string,
  question: string | null,
  rest: string[],
  o: KbOptions,
): Promise<number> {
  const { model: args, notes } = parseInferArgs(rest, KB_GROUPS, 'kb');
  for (const note of notes) console.error(`[lmforge] note: ${note}`);
  const kb = KnowledgeBase.open(file, { readonly: o.retriever === 'bm25' });
  const model = new LazyChatModel(args, () => console.error(`[lmforge] loading ${args.model_name_or_path}`));
  const encoder = encoderFor(o, model);
  const reranker = rerankerFor(o);
  const out = (s: string) => process.stdout.write(s);
  const settings = {
    retrieve: makeRetriever(kb, o.retriever, retrieverOptions(o, encoder, reranker)),
    language: o.prompt_language,
    generation: {},
  };
  try {
    if (sub === 'ask') {
      const answer = await ask(model, question as string, { ...settings, history: [] }, o.json ? () => {} : out);
      if (o.json) {
        const sources = answer.hits.map((h, i) => hitJson(h, i + 1));
        console.log(JSON.stringify({ question, answer: answer.answer, found: answer.found, sources }, null, 2));
      } else {
        out('\n');
        printSources(out, answer);
      }
      return 0;
    }
    const history: Message[] = [];
    out(`Knowledge base ${file}: ask a question; \`clear\` forgets the history, \`exit\` quits.\n\nUser: `);
    for await (const line of createInterface({ input: process.stdin, terminal: false })) {
      const q = line.trim();
      if (q === 'exit') break;
      if (q === 'clear' || q === '') {
        if (q === 'clear') history.length = 0;
        out(q === 'clear' ? 'History has been removed.\n\nUser: ' : 'User: ');
        continue;
      }
      out('Assistant: ');
      const answer = await ask(model, q, { ...settings, history }, out);
      out('\n');
      printSources(out, answer);
      history.push({ role: 'user', content: q }, { role: 'assistant', content: answer.answer });
      out('\nUser: ');
    }
    out('\n');
    return 0;
  } finally {
    kb.close();
    await model.close();
    if (encoder !== model) await encoder?.close();
    await reranker?.close();
  }
}
