/** Float64 references of silu and swiglu, forward and backward (tests only). */

function sigmoid(x: number): number {
  return 1 / (1 + Math.exp(-x));
}

export function siluRef(x: Float64Array): Float64Array {
  return x.map((v) => v * sigmoid(v));
}

/** dx = g * silu'(x), silu'(x) = s (1 + x (1 - s)) */
export function siluBackwardRef(x: Float64Array, g: Float64Array): Float64Array {
  return x.map((v, i) => {
    const s = sigmoid(v);
    return (g[i] as number) * s * (1 + v * (1 - s));
  });
}

export function swigluRef(gate: Float64Array, up: Float64Array): Float64Array {
  return gate.map((v, i) => v * sigmoid(v) * (up[i] as number));
}

export function swigluBackwardRef(
  gate: Float64Array,
  up: Float64Array,
  g: Float64Array,
): { dgate: Float64Array; dup: Float64Array } {
  const dsilu = siluBackwardRef(gate, g);
  return { dgate: dsilu.map((v, i) => v * (up[i] as number)), dup: siluRef(gate).map((v, i) => v * (g[i] as number)) };
}
