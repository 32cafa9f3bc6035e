/** Seeded random data for tests: reproducible across runs and machines. */
export class Rng {
  private state: number;
  constructor(seed = 1) {
    this.state = seed >>> 0 || 1;
  }
  /** Uniform in [0, 1) (mulberry32). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  uniform(lo = -1, hi = 1): number {
    return lo + (hi - lo) * this.next();
  }
  normal(): number {
    const u = Math.max(this.next(), 1e-12);
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * this.next());
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  /** n values as float32 (what a tensor stores) and their exact float64 copy (what references take). */
  floats(n: number, lo = -1, hi = 1): { f32: Float32Array; f64: Float64Array } {
    const f32 = new Float32Array(n);
    for (let i = 0; i < n; i++) f32[i] = this.uniform(lo, hi);
    return { f32, f64: Float64Array.from(f32) };
  }
}
