import { attention, scope, Tensor, setThreads } from './src/engine/index.js';
setThreads(1);
const mk = (s: number[]) => Tensor.from(Float32Array.from({ length: s.reduce((a, b) => a * b) }, (_, i) => Math.sin(i * 0.37)), s).requiresGrad_();
const q = mk([1, 512, 9, 64]), k = mk([1, 512, 3, 64]), v = mk([1, 512, 3, 64]);
const g = mk([1, 512, 9, 64]);
const t0 = performance.now();
for (let i = 0; i < 100; i++) scope(() => { attention(q, k, v).backward(g); for (const t of [q, k, v]) { t.grad?.dispose(); t.grad = null; } });
console.log('fwd+bwd ms', (performance.now() - t0) / 100);
