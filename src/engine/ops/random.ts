/**
 * Seeded tensor initialisation (native/src/kernels/random.cc): uniform, normal and PyTorch's kaiming-uniform, each
 * reading its own reserved words of a Generator's stream. Never recorded on the tape.
 */
import { native } from '../native.js';
import type { Generator } from '../random.js';
import { type Shape, Tensor } from '../tensor.js';
import { expectF32 } from './check.js';

/** Fills t with values uniform in [lo, hi), in place. */
export function uniform_(t: Tensor, gen: Generator, lo = 0, hi = 1): Tensor {
  expectF32('uniform_', 't', t);
  if (!(hi >= lo)) throw new Error(`uniform_: need lo <= hi, got [${lo}, ${hi})`);
  native.uniform(t.handle, t.numel, lo, hi, gen.seed, gen.reserve(t.numel));
  return t;
}

/** Fills t with normal values of the given mean and standard deviation, in place (two words per value). */
export function normal_(t: Tensor, gen: Generator, mean = 0, std = 1): Tensor {
  expectF32('normal_', 't', t);
  if (!(std >= 0)) throw new Error(`normal_: std must be >= 0, got ${std}`);
  native.normal(t.handle, t.numel, mean, std, gen.seed, gen.reserve(2 * t.numel));
  return t;
}

/** A new tensor uniform in [0, 1). */
export function rand(shape: Shape, gen: Generator): Tensor {
  return uniform_(Tensor.empty(shape), gen, 0, 1);
}

/** A new tensor uniform in [lo, hi). */
export function uniform(shape: Shape, gen: Generator, lo: number, hi: number): Tensor {
  return uniform_(Tensor.empty(shape), gen, lo, hi);
}

/** A new tensor of normal values with standard deviation std (and mean). */
export function randn(shape: Shape, gen: Generator, std = 1, mean = 0): Tensor {
  return normal_(Tensor.empty(shape), gen, mean, std);
}

export interface KaimingOptions {
  /** Negative slope of the leaky ReLU that follows (PEFT's LoRA A uses sqrt(5)). Default 0. */
  a?: number;
  /** Keep the variance of the forward ('fan_in', default) or of the backward ('fan_out'). */
  mode?: 'fan_in' | 'fan_out';
  nonlinearity?: 'leaky_relu' | 'relu' | 'linear';
}

/**
 * torch.nn.init.kaiming_uniform_: U(-bound, bound) with bound = sqrt(3) * gain / sqrt(fan), where fan_in =
 * shape[1] * receptive field and fan_out = shape[0] * receptive field (a Linear weight is [out, in]).
 */
export function kaimingUniform_(t: Tensor, gen: Generator, opts: KaimingOptions = {}): Tensor {
  const bound = kaimingBound(t.shape, opts);
  return uniform_(t, gen, -bound, bound);
}

export function kaimingBound(
  shape: Shape,
  { a = 0, mode = 'fan_in', nonlinearity = 'leaky_relu' }: KaimingOptions,
): number {
  if (shape.length < 2)
    throw new Error(`kaiming init needs a tensor with at least 2 dimensions, got [${shape.join(', ')}]`);
  const receptive = shape.slice(2).reduce((x, d) => x * d, 1);
  const fan = (mode === 'fan_in' ? (shape[1] as number) : (shape[0] as number)) * receptive;
  if (fan === 0) throw new Error(`kaiming init of an empty tensor [${shape.join(', ')}]`);
  const gain = nonlinearity === 'linear' ? 1 : nonlinearity === 'relu' ? Math.SQRT2 : Math.sqrt(2 / (1 + a * a));
  return Math.sqrt(3) * (gain / Math.sqrt(fan));
}
