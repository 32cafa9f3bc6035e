/**
 * A BERT-family encoder run by lmforge's engine, frozen (inference only), as HF's BertModel / XLMRobertaModel:
 *   embeddings = LayerNorm(word[ids] + position[pos] + token_type[types])
 *   each layer (post-LN): x = LN(x + O(attn(Q x, K x, V x; padding masked, not causal)))
 *                         x = LN(x + W2 gelu_erf(W1 x))
 * and the sequence-classification heads of the rerankers on the first token ([CLS] / <s>):
 *   BertForSequenceClassification:        classifier(tanh(pooler.dense(h0)))
 *   XLMRobertaForSequenceClassification:  classifier.out_proj(tanh(classifier.dense(h0)))
 * Parameter names are HF's, under whatever prefix the checkpoint uses ("", "bert.", "roberta.", "model.").
 * Shapes: B texts, T tokens (right-padded), C hidden, H heads, D = C / H, F intermediate, L labels.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  add,
  attention,
  embedding,
  geluErf,
  keep,
  layerNorm,
  linear,
  noGrad,
  scope,
  Tensor,
  takeRows,
  tanh,
} from '../../engine/index.js';
import { SafetensorsFile } from '../../io/safetensors.js';
import { KbError } from '../errors.js';
import { type BertConfig, readBertConfig } from './bert-config.js';

/** One padded batch: every array is [B][T] with T the longest row; mask 1 = token, 0 = padding. */
export interface EncoderBatch {
  ids: number[][];
  typeIds: number[][];
}

interface Layer {
  q: [Tensor, Tensor];
  k: [Tensor, Tensor];
  v: [Tensor, Tensor];
  o: [Tensor, Tensor];
  ln1: [Tensor, Tensor];
  up: [Tensor, Tensor];
  down: [Tensor, Tensor];
  ln2: [Tensor, Tensor];
}

type Head =
  | { kind: 'bert'; pooler: [Tensor, Tensor]; out: [Tensor, Tensor] }
  | { kind: 'xlm-roberta'; dense: [Tensor, Tensor]; out: [Tensor, Tensor] };

/** The safetensors files of a folder: model.safetensors or the shards model.safetensors.index.json names. */
function weightFiles(dir: string): string[] {
  const single = join(dir, 'model.safetensors');
  if (existsSync(single)) return [single];
  const index = join(dir, 'model.safetensors.index.json');
  if (existsSync(index)) {
    const map = (JSON.parse(readFileSync(index, 'utf8')) as { weight_map?: Record<string, string> }).weight_map ?? {};
    return [...new Set(Object.values(map))].map((f) => join(dir, f));
  }
  throw new KbError(
    `${dir}: no model.safetensors (or sharded index) found; convert pytorch_model.bin to safetensors first`,
  );
}

export class BertEncoderModel {
  private readonly owned: Tensor[] = [];
  private readonly embeddings: { word: Tensor; position: Tensor; type: Tensor; ln: [Tensor, Tensor] };
  private readonly layers: Layer[] = [];
  /** The classification head, when the checkpoint has one (rerankers). */
  readonly head: Head | null;

  private constructor(
    readonly dir: string,
    readonly config: BertConfig,
  ) {
    const files = weightFiles(dir).map((p) => SafetensorsFile.open(p));
    try {
      const find = (name: string) => files.find((f) => f.has(name));
      const anchor = 'embeddings.word_embeddings.weight';
      const prefix = ['', 'bert.', 'roberta.', 'model.'].find((p) => find(p + anchor));
      if (prefix === undefined) throw new KbError(`${dir}: no ${anchor} tensor: not a BERT-family checkpoint`);
      const load = (name: string, shape: number[], vector = shape.length === 1): Tensor => {
        const file = find(name);
        if (!file) throw new KbError(`${dir}: tensor ${name} is missing from the checkpoint`);
        const info = file.info(name);
        if (info.shape.length !== shape.length || info.shape.some((d, i) => d !== shape[i]))
          throw new KbError(
            `${file.path}: ${name} is [${info.shape.join(', ')}], config.json says [${shape.join(', ')}]`,
          );
        // Vectors (biases, norms) in f32 as the kernels want; matrices may stay bf16/f16 (linear widens them).
        const t = keep(file.load(name, vector ? { dtype: 'f32' } : {}));
        this.owned.push(t);
        return t;
      };
      const c = config.hiddenSize;
      const pair = (name: string, out: number, inp?: number): [Tensor, Tensor] => [
        load(`${name}.weight`, inp === undefined ? [out] : [out, inp]),
        load(`${name}.bias`, [out]),
      ];
      const p = prefix;
      this.embeddings = {
        word: load(`${p}embeddings.word_embeddings.weight`, [config.vocabSize, c]),
        position: load(`${p}embeddings.position_embeddings.weight`, [config.maxPositions, c]),
        type: load(`${p}embeddings.token_type_embeddings.weight`, [config.typeVocabSize, c]),
        ln: pair(`${p}embeddings.LayerNorm`, c),
      };
      for (let i = 0; i < config.numLayers; i++) {
        const l = `${p}encoder.layer.${i}`;
        this.layers.push({
          q: pair(`${l}.attention.self.query`, c, c),
          k: pair(`${l}.attention.self.key`, c, c),
          v: pair(`${l}.attention.self.value`, c, c),
          o: pair(`${l}.attention.output.dense`, c, c),
          ln1: pair(`${l}.attention.output.LayerNorm`, c),
          up: pair(`${l}.intermediate.dense`, config.intermediateSize, c),
          down: pair(`${l}.output.dense`, c, config.intermediateSize),
          ln2: pair(`${l}.output.LayerNorm`, c),
        });
      }
      const labels = config.numLabels;
      if (find('classifier.out_proj.weight'))
        this.head = {
          kind: 'xlm-roberta',
          dense: pair('classifier.dense', c, c),
          out: pair('classifier.out_proj', labels, c),
        };
      else if (find('classifier.weight'))
        this.head = { kind: 'bert', pooler: pair(`${p}pooler.dense`, c, c), out: pair('classifier', labels, c) };
      else this.head = null;
    } catch (e) {
      this.dispose();
      throw e;
    } finally {
      for (const f of files) f.close();
    }
  }

  static load(dir: string): BertEncoderModel {
    return new BertEncoderModel(dir, readBertConfig(dir));
  }

  /** The longest input the position table allows. */
  get maxTokens(): number {
    return this.config.maxPositions - this.config.positionOffset;
  }

  /** The last hidden state [B, T, C] and the mask [B, T] (i32) of a batch; the caller disposes both (or scopes them). */
  hiddenStates(batch: EncoderBatch): { hidden: Tensor; mask: Tensor } {
    const b = batch.ids.length;
    const t = Math.max(1, ...batch.ids.map((r) => r.length));
    if (t > this.maxTokens)
      throw new Error(`encoder input of ${t} tokens exceeds the ${this.maxTokens} positions (truncate first)`);
    const flat = (rows: number[][], pad: number, fill: (row: number, col: number) => number) => {
      const out = new Int32Array(b * t).fill(pad);
      rows.forEach((r, i) => {
        for (let j = 0; j < r.length; j++) out[i * t + j] = fill(i, j);
      });
      return out;
    };
    const cfg = this.config;
    return noGrad(() =>
      scope(() => {
        const ids = Tensor.from(
          flat(batch.ids, cfg.padTokenId, (i, j) => batch.ids[i]?.[j] ?? 0),
          [b, t],
          'i32',
        );
        const types = Tensor.from(
          flat(batch.ids, 0, (i, j) => batch.typeIds[i]?.[j] ?? 0),
          [b, t],
          'i32',
        );
        // Padding positions read padding_idx (RoBERTa) or 0; they are masked out of attention and pooling anyway.
        const pad = cfg.family === 'bert' ? 0 : cfg.padTokenId;
        const positions = Tensor.from(
          flat(batch.ids, pad, (_, j) => cfg.positionOffset + j),
          [b, t],
          'i32',
        );
        const mask = Tensor.from(
          flat(batch.ids, 0, () => 1),
          [b, t],
          'i32',
        );
        const e = this.embeddings;
        const summed = add(add(embedding(e.word, ids), embedding(e.position, positions)), embedding(e.type, types));
        let x = layerNorm(summed, e.ln[0], e.ln[1], cfg.layerNormEps);
        const h = cfg.numHeads;
        const d = cfg.hiddenSize / h;
        for (const layer of this.layers) {
          const heads = (w: [Tensor, Tensor]) => linear(x, w[0], w[1]).reshape([b, t, h, d]);
          const attended = attention(heads(layer.q), heads(layer.k), heads(layer.v), { causal: false, keyMask: mask });
          const projected = linear(attended.reshape([b, t, cfg.hiddenSize]), layer.o[0], layer.o[1]);
          x = layerNorm(add(projected, x), layer.ln1[0], layer.ln1[1], cfg.layerNormEps);
          const inner = geluErf(linear(x, layer.up[0], layer.up[1]));
          x = layerNorm(
            add(linear(inner, layer.down[0], layer.down[1]), x),
            layer.ln2[0],
            layer.ln2[1],
            cfg.layerNormEps,
          );
        }
        return { hidden: x, mask };
      }),
    );
  }

  /** The classification head's logits [B, L] on each row's first token; throws when the checkpoint has no head. */
  classify(batch: EncoderBatch): number[][] {
    const head = this.head;
    if (!head)
      throw new KbError(
        `${this.dir}: no classifier weights: a reranker must be a *ForSequenceClassification checkpoint`,
      );
    return noGrad(() =>
      scope(() => {
        const { hidden } = this.hiddenStates(batch);
        const [b, t, c] = hidden.shape as [number, number, number];
        const first = takeRows(
          hidden.reshape([b * t, c]),
          Array.from({ length: b }, (_, i) => i * t),
        );
        const inner = head.kind === 'bert' ? head.pooler : head.dense;
        const logits = linear(tanh(linear(first, inner[0], inner[1])), head.out[0], head.out[1]);
        const values = logits.toFloat32Array();
        const l = this.config.numLabels;
        return Array.from({ length: b }, (_, i) => Array.from(values.subarray(i * l, (i + 1) * l)));
      }),
    );
  }

  dispose(): void {
    for (const t of this.owned.splice(0)) t.dispose();
  }
}
