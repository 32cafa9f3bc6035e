/**
 * Per-request processing of one row of next-token logits [V] before sampling, in vLLM's order: HF's repetition
 * penalty (over prompt + generated tokens), OpenAI's presence and frequency penalties (over generated tokens only:
 * logit -= presence * [count > 0] + frequency * count), then the JSON grammar's mask. The row it leaves is also the
 * distribution logprobs are reported from. Only the tokens seen so far are touched (a few per step), so this runs
 * in JS; the vocabulary-wide loops (grammar mask, log-softmax) are single typed-array passes.
 */
import type { Tokenizer } from '../tokenizer/tokenizer.js';
import type { GenerationOptions, ResponseFormat } from './chat-engine.js';
import { compileSchema, type SchemaNode } from './json-schema/compile.js';
import { GrammarConstraint } from './json-schema/token-mask.js';
import { type TokenLogprob, tokenLogprob } from './logprobs.js';
import { type TokenBytes, tokenBytes } from './token-bytes.js';

export interface PenaltyOptions {
  /** HF's repetition_penalty: > 1 divides positive / multiplies negative logits of tokens already seen. 1 = off. */
  repetitionPenalty: number;
  /** OpenAI's presence_penalty in [-2, 2]: subtracted once from every token generated so far. */
  presencePenalty: number;
  /** OpenAI's frequency_penalty in [-2, 2]: subtracted once per occurrence in the generated tokens. */
  frequencyPenalty: number;
}

export class RowLogitProcessor {
  /** Occurrences of each generated token. */
  private readonly generated = new Map<number, number>();
  /** Every token of the prompt and the generation (repetition penalty's history). */
  private readonly seen: Set<number>;

  constructor(
    promptIds: readonly number[],
    private readonly penalties: PenaltyOptions,
    private readonly grammar: GrammarConstraint | null,
  ) {
    this.seen = new Set(promptIds);
  }

  /** Rewrites `row` [V] in place. */
  apply(row: Float32Array): void {
    const { repetitionPenalty: rep, presencePenalty: presence, frequencyPenalty: frequency } = this.penalties;
    if (rep !== 1)
      for (const id of this.seen) {
        const x = row[id];
        if (x !== undefined) row[id] = x < 0 ? x * rep : x / rep;
      }
    if (presence !== 0 || frequency !== 0)
      for (const [id, count] of this.generated) {
        const x = row[id];
        if (x !== undefined) row[id] = x - presence - frequency * count;
      }
    this.grammar?.mask(row);
  }

  /** Records the token chosen for this row. */
  accept(token: number): void {
    this.seen.add(token);
    this.generated.set(token, (this.generated.get(token) ?? 0) + 1);
    this.grammar?.accept(token);
  }
}

/** A request's processing over all its rows: what ChatRunner hands generate() as processLogits. */
export class RequestProcessing {
  /** Per row: the logits [V] its next token is chosen from (what accept reads logprobs from). */
  private readonly last: (Float32Array | null)[];

  private constructor(
    private readonly rows: RowLogitProcessor[],
    private readonly vocab: number,
    private readonly table: TokenBytes,
    /** Alternatives per logprob entry; undefined = no logprobs. */
    private readonly topLogprobs: number | undefined,
    private readonly stopIds: ReadonlySet<number>,
  ) {
    this.last = rows.map(() => null);
  }

  /**
   * The processing `opts` ask for, or null when the request needs none (then sampling runs as before, the native
   * sampler applying the default repetition penalty).
   */
  static create(
    opts: GenerationOptions,
    rows: number,
    vocab: number,
    promptIds: readonly number[],
    tokenizer: Tokenizer,
    stopIds: readonly number[],
    defaultRepetitionPenalty: number,
  ): RequestProcessing | null {
    const presence = opts.presencePenalty ?? 0;
    const frequency = opts.frequencyPenalty ?? 0;
    if (opts.logprobs === undefined && !opts.responseFormat && presence === 0 && frequency === 0) {
      if (opts.repetitionPenalty === undefined) return null;
    }
    const table = tokenBytes(tokenizer);
    const schema = opts.responseFormat ? responseSchema(opts.responseFormat) : null;
    const penalties: PenaltyOptions = {
      repetitionPenalty: opts.repetitionPenalty ?? defaultRepetitionPenalty,
      presencePenalty: presence,
      frequencyPenalty: frequency,
    };
    const processors = Array.from(
      { length: rows },
      () => new RowLogitProcessor(promptIds, penalties, schema ? new GrammarConstraint(schema, table, stopIds) : null),
    );
    return new RequestProcessing(processors, vocab, table, opts.logprobs, new Set(stopIds));
  }

  /** processLogits for generate(): logits [B, V], one row per choice. */
  readonly process = (logits: Float32Array): void => {
    for (let r = 0; r < this.rows.length; r++)
      this.processRow(r, logits.subarray(r * this.vocab, (r + 1) * this.vocab));
  };

  /** One row's logits [V] (the scheduler runs each choice as its own sequence, rows at different steps). */
  processRow(row: number, logits: Float32Array): void {
    const p = this.rows[row];
    if (!p) throw new RangeError(`row ${row} is outside the request's ${this.rows.length} row(s)`);
    this.last[row] = logits;
    p.apply(logits);
  }

  /** Records row `row`'s chosen token; its logprob entry when logprobs were asked for (none for a stop token). */
  accept(token: number, row: number): TokenLogprob | undefined {
    this.rows[row]?.accept(token);
    const scores = this.last[row];
    if (this.topLogprobs === undefined || !scores || this.stopIds.has(token)) return undefined;
    return tokenLogprob(scores, token, this.topLogprobs, this.table);
  }
}

/** The schema a response_format constrains to: json_object is any JSON object. */
export function responseSchema(format: ResponseFormat): SchemaNode {
  return format.type === 'json_object' ? compileSchema({ type: 'object' }) : compileSchema(format.schema);
}
