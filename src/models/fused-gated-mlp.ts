/**
 * A SwiGLU MLP whose gate and up projections are one fused Linear (ChatGLM3's `dense_h_to_4h`, GLM-4's
 * `gate_up_proj`): its output [B, T, 2F] is chunked as torch.chunk(x, 2, -1) does, first half gate, second half up,
 * then down(silu(gate) * up). Module names are the checkpoint's, so LoRA targets and saving see them as HF does.
 * Shapes: B batch, T tokens, C hidden, F intermediate.
 */
import { narrowLastDim, swiglu, type Tensor } from '../engine/index.js';
import type { ModelConfig } from '../io/model-config.js';
import { Module } from '../nn/module.js';
import { projectionLayer, type WeightSource } from './family.js';
import { releaseActivations } from './llama.js';

interface Projection {
  forward(x: Tensor): Tensor;
}

export interface FusedMlpNames {
  /** The fused [2F, C] gate-and-up projection. */
  readonly gateUp: string;
  /** The [C, F] down projection. */
  readonly down: string;
}

export class FusedGatedMlp extends Module {
  constructor(
    private readonly cfg: ModelConfig,
    w: WeightSource,
    prefix: string,
    private readonly names: FusedMlpNames,
  ) {
    super();
    const { hiddenSize: c, intermediateSize: f, mlpBias } = cfg;
    this.registerModule(names.gateUp, projectionLayer(w, prefix, names.gateUp, 2 * f, c, mlpBias));
    this.registerModule(names.down, projectionLayer(w, prefix, names.down, c, f, mlpBias));
  }

  /** x [B, T, C] -> down(silu(gate) * up) [B, T, C] */
  forward(x: Tensor): Tensor {
    const f = this.cfg.intermediateSize;
    const gateUp = (this.child(this.names.gateUp) as unknown as Projection).forward(x);
    const gate = narrowLastDim(gateUp, 0, f);
    const up = narrowLastDim(gateUp, f, f);
    // The chunks' backward needs only its shape (the Linear's backward reads x, not its output).
    releaseActivations([gateUp]);
    return (this.child(this.names.down) as unknown as Projection).forward(swiglu(gate, up));
  }
}
