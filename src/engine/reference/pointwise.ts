/** Float64 references of the pointwise nonlinearities (tests only): value and derivative per element. */
export interface PointwiseRef {
  f: (x: number) => number;
  df: (x: number) => number;
}

const sigmoid = (x: number): number => (x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x)));

export const POINTWISE_REF: Record<'logSigmoid' | 'sigmoid' | 'relu' | 'exp' | 'log1mExp' | 'tanh', PointwiseRef> = {
  logSigmoid: {
    f: (x) => (x >= 0 ? -Math.log1p(Math.exp(-x)) : x - Math.log1p(Math.exp(x))),
    df: (x) => sigmoid(-x),
  },
  sigmoid: { f: sigmoid, df: (x) => sigmoid(x) * (1 - sigmoid(x)) },
  relu: { f: (x) => Math.max(x, 0), df: (x) => (x > 0 ? 1 : 0) },
  exp: { f: Math.exp, df: Math.exp },
  log1mExp: { f: (x) => Math.log(-Math.expm1(x)), df: (x) => -1 / Math.expm1(-x) },
  tanh: { f: Math.tanh, df: (x) => 1 - Math.tanh(x) ** 2 },
};
