/**
 * Proof in real llama.cpp (issue #13 item 4): node-llama-cpp's bundled prebuilt CPU llama.cpp loads every GGUF type
 * lmforge exports, tokenizes text to lmforge's ids, and decodes as lmforge does on the same weights (lmforge's model
 * with each tensor replaced by what its GGUF blocks decode to): greedy continuations equal for f32/f16/bf16
 * (64 tokens) and q8_0 (32 tokens); for the 4–6-bit types the first 16 tokens equal and the top-1 token agrees on
 * at least 95% of teacher-forced positions. Models: the bundled tiny Llama and a random Qwen2-shaped model with
 * Qwen's real tokenizer. lmforge loading the GGUF itself (block types kept quantized, decoded with integer dots on
 * q8 activations) continues as llama.cpp does too. llama.cpp computes its products on f16/bf16/8-bit activations, so only greedy agreement,
 * not logits, is compared.
 */
import assert from 'node:assert/strict';
import { cpSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { type ControlledEvaluateInputItem, getLlama, type Llama, LlamaLogLevel, type Token } from 'node-llama-cpp';
import { native, noGrad, scope } from '../../src/engine/index.js';
import { exportModel, type GgufType, ggmlBytes, ggmlValues, ggufTensorPlan } from '../../src/export/index.js';
import { parseModelConfig } from '../../src/io/model-config.js';
import { type CausalLM, createModel, loadModel } from '../../src/models/causal-lm.js';
import { Tokenizer } from '../../src/tokenizer/tokenizer.js';
import { LENML, tempDir } from '../util/tokenizers.js';
import { exportArgs, quiet, TINY } from './helpers.js';

const GREEDY: Partial<Record<GgufType, number>> = { f32: 64, f16: 64, bf16: 64, q8_0: 32 };
const LOW_BIT: GgufType[] = ['q4_0', 'q4_k_m', 'q5_k_m', 'q6_k'];
const TEACHER_FORCED = 64;

/**
 * A random Qwen2 (q/k/v biases, GQA, tied head) with rows of 256 so every k-quant applies. std 0.03 keeps the
 * residual stream close to the embeddings, so its next-token picks are clear: at 0.1 and above, random layers
 * amplify llama.cpp's 8-bit activation rounding into flips between near-tied logits (gaps of 0.01).
 */
function qwen2Dir(): string {
  const dir = join(tempDir('llama-cpp-qwen2'), 'base');
  const cfg = parseModelConfig({
    architectures: ['Qwen2ForCausalLM'],
    vocab_size: 151936,
    hidden_size: 256,
    intermediate_size: 512,
    num_hidden_layers: 2,
    num_attention_heads: 4,
    num_key_value_heads: 2,
    max_position_embeddings: 512,
    rope_theta: 1000000,
    tie_word_embeddings: true,
    torch_dtype: 'float32',
  });
  const model = createModel(cfg, { seed: 7, std: 0.03 });
  model.save(dir);
  model.dispose();
  cpSync(LENML.qwen3, dir, { recursive: true });
  return dir;
}

let llama: Llama;
before(async () => {
  // the prebuilt binary inside @node-llama-cpp/linux-x64: never download, never build
  llama = await getLlama({
    gpu: false,
    build: 'never',
    usePrebuiltBinaries: true,
    skipDownload: true,
    progressLogs: false,
    logLevel: LlamaLogLevel.error,
  });
});
after(async () => {
  await llama?.dispose();
});

/** lmforge's weights replaced, tensor by tensor, by what the GGUF of `type` stores (decoded to float32). */
function asStored(model: CausalLM, type: GgufType): void {
  const params = new Map(model.namedParameters());
  for (const t of ggufTensorPlan(model, type)) {
    const p = params.get(t.hfName);
    assert.ok(p && p.dtype === 'f32', t.hfName);
    const values = p.toFloat32Array();
    native.write(p.handle, 0, ggmlValues(ggmlBytes(values, t.shape, t.type), t.type, values.length));
  }
}

function argmaxRows(logits: Float32Array, vocab: number): number[] {
  const out: number[] = [];
  for (let r = 0; r < logits.length / vocab; r++) {
    let best = 0;
    for (let v = 1; v < vocab; v++)
      if ((logits[r * vocab + v] as number) > (logits[r * vocab + best] as number)) best = v;
    out.push(best);
  }
  return out;
}

interface Agreement {
  greedyLlama: number[];
  greedyOurs: number[];
  /** lmforge's greedy continuation from the GGUF file itself (block types decoded with integer dots). */
  greedyFromGguf: number[];
  topOneAgreement: number;
}

async function compare(base: string, template: string, type: GgufType, text: string): Promise<Agreement> {
  const out = join(tempDir(`llama-cpp-${type}`), 'out');
  await exportModel(
    exportArgs({ model_name_or_path: base, template, export_dir: out, export_format: 'gguf', gguf_type: type }),
    {
      log: quiet,
    },
  );
  const ours = await loadModel(base);
  const gguf = await llama.loadModel({ modelPath: join(out, `model-${type}.gguf`), gpuLayers: 0 });
  try {
    asStored(ours, type);
    const tokenizer = Tokenizer.fromDir(base);
    const prompt = await tokenizer.encode(text, { addSpecialTokens: false });
    assert.deepEqual([...gguf.tokenize(text)], prompt, `${type}: llama.cpp tokenizes as lmforge`);
    const steps = GREEDY[type] ?? 16;
    // generate returns the prompt and its continuation
    const greedyOurs = ours.generate(prompt, { maxNewTokens: TEACHER_FORCED, stop: [] }).slice(prompt.length);
    const fromGguf = await loadModel(join(out, `model-${type}.gguf`));
    const greedyFromGguf = fromGguf.generate(prompt, { maxNewTokens: steps, stop: [] }).slice(prompt.length);
    fromGguf.dispose();
    const context = await gguf.createContext({ contextSize: 256, batchSize: 256, threads: 2, sequences: 1 });
    try {
      const sequence = context.getSequence();
      const greedyLlama: number[] = [];
      for await (const token of sequence.evaluate(prompt as Token[], { temperature: 0, yieldEogToken: true })) {
        greedyLlama.push(token);
        if (greedyLlama.length >= steps) break;
      }
      // teacher forcing on lmforge's continuation: llama.cpp's top-1 after each prefix against lmforge's
      await sequence.clearHistory();
      const forced = [...prompt, ...greedyOurs];
      const results = await sequence.controlledEvaluate(
        forced.map(
          (token): ControlledEvaluateInputItem => [
            token as Token,
            { generateNext: { token: true, options: { temperature: 0 } } },
          ],
        ),
      );
      const logits = noGrad(() =>
        scope(() =>
          ours
            .forward({ inputIds: { data: Int32Array.from(forced), shape: [1, forced.length] } })
            .logits.toFloat32Array(),
        ),
      );
      const top = argmaxRows(logits, ours.config.vocabSize);
      let agree = 0;
      let n = 0;
      for (let i = prompt.length - 1; i < forced.length; i++) {
        n++;
        if (results[i]?.next.token === top[i]) agree++;
      }
      return { greedyLlama, greedyOurs: greedyOurs.slice(0, steps), greedyFromGguf, topOneAgreement: agree / n };
    } finally {
      await context.dispose();
    }
  } finally {
    await gguf.dispose();
    ours.dispose();
  }
}

const TEXT =
  'The quick brown fox jumps over the lazy dog. Once upon a time, a little girl named Lily found a shiny red ball ' +
  'in the park, and she';

const MODELS = [
  { name: 'tiny Llama', dir: () => TINY, template: 'qwen', text: TEXT },
  { name: 'random Qwen2', dir: qwen2Dir, template: 'qwen3_nothink', text: `${TEXT} 你好, 世界! 12345 + 678 = 13023.` },
];

for (const m of MODELS) {
  let dir: string;
  before(() => {
    dir = m.dir();
  });
  for (const type of ['f32', 'f16', 'bf16', 'q8_0'] as const)
    test(`${m.name} ${type}: llama.cpp's greedy continuation equals lmforge's (${GREEDY[type]} tokens)`, async (t) => {
      const r = await compare(dir, m.template, type, m.text);
      t.diagnostic(`top-1 agreement ${(100 * r.topOneAgreement).toFixed(1)}%`);
      assert.deepEqual(r.greedyLlama, r.greedyOurs);
      assert.deepEqual(r.greedyFromGguf, r.greedyLlama, 'lmforge decoding the GGUF itself');
      assert.ok(r.topOneAgreement >= 0.95, `top-1 agreement ${r.topOneAgreement}`);
    });
  for (const type of LOW_BIT)
    test(`${m.name} ${type}: first 16 greedy tokens equal, top-1 agrees on >= 95% of teacher-forced positions`, async (t) => {
      const r = await compare(dir, m.template, type, m.text);
      t.diagnostic(`top-1 agreement ${(100 * r.topOneAgreement).toFixed(1)}%`);
      assert.deepEqual(r.greedyLlama, r.greedyOurs);
      assert.deepEqual(r.greedyFromGguf, r.greedyLlama, 'lmforge decoding the GGUF itself');
      assert.ok(r.topOneAgreement >= 0.95, `top-1 agreement ${r.topOneAgreement}`);
    });
}
