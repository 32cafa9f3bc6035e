import { attention, scope, Tensor, setThreads } from './src/engine/index.js';
setThreads(1);
const mk = (s: number[]) => Tensor.from(Float32Array.from({ length: s.reduce((a, b) => a * b) }, (_, i) => Math.sin(i * 0.37)), s);
const q = mk([1, 512, 9, 64]), k = mk([1, 512, 3, 64]), v = mk([1, 512, 3, 64]);
const t0 = performance.now();
for (let i = 0; i < 200; i++) scope(() => void attention(q, k, v));
console.log('fwd ms', (performance.now() - t0) / 200);
