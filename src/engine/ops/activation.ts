/** SiLU and the fused SwiGLU of Llama-style MLPs (forward and backward side by side). */
import { record } from '../autograd.js';
import { native } from '../native.js';
import { Tensor } from '../tensor.js';
import { expectF32, expectSameShape } from './check.js';

/**
 * silu(x) = x * sigmoid(x), elementwise (HF `ACT2FN["silu"]`).
 *
 * @param x f32, any shape
 * @returns f32, the shape of x
 */
export function silu(x: Tensor): Tensor {
  expectF32('silu', 'x', x);
  const out = Tensor.empty(x.shape);
  native.siluForward(x.handle, out.handle, out.numel);
  record(out, 'silu', [x], (g) => {
    const dx = Tensor.empty(x.shape);
    native.siluBackward(x.handle, g.handle, dx.handle, dx.numel);
    return [dx];
  });
  return out;
}

/**
 * swiglu(gate, up) = silu(gate) * up, fused: the MLP's `act_fn(gate_proj(x)) * up_proj(x)` in one pass.
 *
 * @param gate f32 [..., I] (gate_proj output)
 * @param up   f32 [..., I] (up_proj output), the shape of gate
 * @returns    f32 [..., I]
 *
 * Backward: dgate = g * up * silu'(gate), dup = g * silu(gate); each only when its input needs it.
 */
export function swiglu(gate: Tensor, up: Tensor): Tensor {
  expectF32('swiglu', 'gate', gate);
  expectF32('swiglu', 'up', up);
  expectSameShape('swiglu', gate, up);
  const out = Tensor.empty(gate.shape);
  native.swigluForward(gate.handle, up.handle, out.handle, out.numel);
  record(out, 'swiglu', [gate, up], (g, needs) => {
    const dgate = needs[0] ? Tensor.empty(gate.shape) : null;
    const dup = needs[1] ? Tensor.empty(up.shape) : null;
    native.swigluBackward(gate.handle, up.handle, g.handle, dgate?.handle ?? null, dup?.handle ?? null, gate.numel);
    return [dgate, dup];
  });
  return out;
}
