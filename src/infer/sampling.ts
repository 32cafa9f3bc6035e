/** Next-token selection (native/src/kernels/sampling.cc): HF's repetition penalty, temperature, top-k, top-p. */
import { native, Tensor } from '../engine/index.js';

export interface SamplingOptions {
  /** false: greedy (arg-max). */
  doSample: boolean;
  temperature: number;
  /** 0 disables. */
  topK: number;
  /** 1 disables. */
  topP: number;
  /** 1 disables; > 1 discourages tokens already in the row's history (prompt + generated). */
  repetitionPenalty: number;
}

export function validateSampling(o: SamplingOptions): void {
  if (o.doSample && !(o.temperature > 0))
    throw new Error(`temperature must be > 0 when sampling, got ${o.temperature} (use doSample: false for greedy)`);
  if (!(o.topP > 0 && o.topP <= 1)) throw new Error(`topP must be in (0, 1], got ${o.topP}`);
  if (!(Number.isInteger(o.topK) && o.topK >= 0)) throw new Error(`topK must be an integer >= 0, got ${o.topK}`);
  if (!(o.repetitionPenalty > 0)) throw new Error(`repetitionPenalty must be > 0, got ${o.repetitionPenalty}`);
}

/**
 * Picks one token per row. logits f32 [B, V] is modified in place. history: each row's token ids so far (for the
 * repetition penalty). uniforms: one draw in [0, 1) per row (ignored when greedy).
 */
export function selectNextTokens(
  logits: Tensor,
  history: readonly (readonly number[])[],
  uniforms: Float32Array,
  o: SamplingOptions,
): Int32Array {
  const [b, v] = logits.shape as [number, number];
  let hist: Tensor | null = null;
  let histLen = 0;
  if (o.repetitionPenalty !== 1) {
    histLen = Math.max(1, ...history.map((h) => h.length));
    const flat = new Int32Array(b * histLen).fill(-1);
    history.forEach((h, r) => {
      flat.set(h, r * histLen);
    });
    hist = Tensor.from(flat, [b, histLen], 'i32');
  }
  const u = Tensor.from(uniforms, [b]);
  const out = Tensor.empty([b], 'i32');
  native.sample(
    logits.handle,
    b,
    v,
    hist?.handle ?? null,
    histLen,
    o.repetitionPenalty,
    o.doSample,
    o.temperature,
    o.topK,
    o.topP,
    u.handle,
    out.handle,
  );
  const ids = out.toInt32Array();
  for (const t of [hist, u, out]) t?.dispose();
  return ids;
}
