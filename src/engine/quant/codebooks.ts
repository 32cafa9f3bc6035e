/**
 * bitsandbytes' code books, as float32 values.
 *   NF4: the 16 NormalFloat values of QLoRA (bitsandbytes' get_4bit_type('nf4')), an index per value in order.
 *   FP4: bitsandbytes' 4-bit float (1 sign, 2 exponent, 1 mantissa bits, bias 3) scaled so the largest is 1
 *        (get_4bit_type('fp4')): index bit 3 is the sign, so index 8 is -0.
 *   The dynamic map: create_dynamic_map(signed=True), the 256-value 8-bit code double quantization stores the 4-bit
 *   block scales in; computed here as PyTorch computes it (float32 linspace, means and scaling), then sorted.
 */

export const NF4_CODE: readonly number[] = Object.freeze(
  [
    -1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453, -0.28444138169288635, -0.18477343022823334,
    -0.09105003625154495, 0.0, 0.07958029955625534, 0.16093020141124725, 0.24611230194568634, 0.33791524171829224,
    0.44070982933044434, 0.5626170039176941, 0.7229568362236023, 1.0,
  ].map(Math.fround),
);

const FP4_UNSCALED = [0, 0.0625, 8.0, 12.0, 4.0, 6.0, 2.0, 3.0, -0, -0.0625, -8.0, -12.0, -4.0, -6.0, -2.0, -3.0];
export const FP4_CODE: readonly number[] = Object.freeze(FP4_UNSCALED.map((v) => Math.fround(v / 12)));

/** torch.linspace(start, end, steps) on the CPU in float32: the step in float32, the second half counted from end. */
function linspaceF32(start: number, end: number, steps: number): number[] {
  const f = Math.fround;
  const s = f(start);
  const e = f(end);
  const step = f(f(e - s) / (steps - 1));
  const half = Math.floor(steps / 2);
  return Array.from({ length: steps }, (_, i) => (i < half ? f(s + f(step * i)) : f(e - f(step * (steps - i - 1)))));
}

/** bitsandbytes' create_dynamic_map(signed=True, max_exponent_bits=7, total_bits=8): 256 sorted float32 values. */
export function dynamicMap(): Float32Array {
  const f = Math.fround;
  const maxExponentBits = 7;
  const data: number[] = [];
  for (let i = 0; i < maxExponentBits; i++) {
    const items = 2 ** i + 1; // 2 ** (i + non_sign_bits - max_exponent_bits) + 1 with 7 non-sign bits
    const bounds = linspaceF32(0.1, 1, items);
    const scale = f(10 ** (-(maxExponentBits - 1) + i));
    for (let j = 0; j + 1 < bounds.length; j++) {
      const mean = f(f((bounds[j] as number) + (bounds[j + 1] as number)) / 2);
      data.push(f(scale * mean), f(-scale * mean));
    }
  }
  data.push(0, 1);
  if (data.length !== 256) throw new Error(`dynamic map has ${data.length} values, expected 256`);
  return Float32Array.from(data.sort((a, b) => a - b));
}
