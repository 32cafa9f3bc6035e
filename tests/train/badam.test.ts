/**
 * BAdam's defining properties on a tiny 3-layer Llama: only the active block changes (every other block, the
 * embeddings, the final norm and the head stay bit-identical), only it holds optimizer state, blocks switch every
 * badam_switch_interval steps in the switch mode's order from badam_start_block, and a state-dict round trip resumes
 * on the same block; plus an end-to-end full SFT run with use_badam.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { scope } from '../../src/engine/index.js';
import { parseModelConfig } from '../../src/io/model-config.js';
import { type CausalLM, createModel } from '../../src/models/causal-lm.js';
import { type BadamOptions, BlockAdamW } from '../../src/train/badam.js';
import { trainFullSft } from '../util/tiny-sft.js';

const cfg = parseModelConfig({
  architectures: ['LlamaForCausalLM'],
  vocab_size: 50,
  hidden_size: 16,
  intermediate_size: 24,
  num_hidden_layers: 3,
  num_attention_heads: 2,
  num_key_value_heads: 1,
});

function setup(o: Partial<BadamOptions>): { model: CausalLM; opt: BlockAdamW } {
  const model = createModel(cfg, { seed: 1, std: 0.1 });
  model.setFullTraining();
  const named = model.trainableParameters();
  const blocks = [0, 1, 2].map((l) => named.filter(([n]) => n.startsWith(`model.layers.${l}.`)).map(([, t]) => t));
  const opt = new BlockAdamW(
    [{ params: named.map(([, t]) => t) }],
    blocks,
    { switchMode: 'ascending', switchInterval: 2, startBlock: null, seed: 3, ...o },
    { lr: 0.01 },
  );
  return { model, opt };
}

function trainStep(model: CausalLM, opt: BlockAdamW): void {
  scope(() => {
    const ids = [[3, 9, 14, 3, 27, 41, 1, 8]];
    model.forward({ inputIds: ids, labels: ids, returnLogits: false }).loss.backward();
  });
  opt.step();
  opt.zeroGrad();
}

const snapshot = (model: CausalLM) => new Map(model.namedParameters().map(([n, t]) => [n, t.toFloat32Array()]));
const layerOf = (name: string) => /^model\.layers\.(\d+)\./.exec(name)?.[1];

test('only the active block changes and holds state; blocks switch in ascending order every interval', () => {
  const { model, opt } = setup({});
  const expected = [0, 0, 1, 1, 2, 2, 0];
  for (const block of expected) {
    assert.equal(opt.activeBlock, block);
    const before = snapshot(model);
    trainStep(model, opt);
    const after = snapshot(model);
    for (const [name, values] of after) {
      const changed = values.some((v, i) => v !== (before.get(name) as Float32Array)[i]);
      const active = layerOf(name) === String(block);
      if (!active) assert.ok(!changed, `${name} is frozen while block ${block} trains`);
    }
    assert.ok(
      [...after].some(([n, v]) => layerOf(n) === String(block) && v.some((x, i) => x !== before.get(n)?.[i])),
      `block ${block} trained`,
    );
    // Adam state only for the block that is active after this step (a switch drops the old block's)
    const indices = Object.keys(opt.stateDict().state).map(Number);
    const params = opt.params;
    const names = new Map(model.namedParameters().map(([n, t]) => [t, n]));
    for (const i of indices) assert.equal(layerOf(names.get(params[i] as never) as string), String(block));
  }
  opt.dispose();
  model.dispose();
});

test('switch orders: descending from the last block, fixed, random rounds, start block, -1 never switches', () => {
  const order = (o: Partial<BadamOptions>, steps: number) => {
    const { model, opt } = setup({ switchInterval: 1, ...o });
    const seen: number[] = [];
    for (let i = 0; i < steps; i++) {
      seen.push(opt.activeBlock);
      trainStep(model, opt);
    }
    opt.dispose();
    model.dispose();
    return seen;
  };
  assert.deepEqual(order({ switchMode: 'descending' }, 4), [2, 1, 0, 2]);
  assert.deepEqual(order({ switchMode: 'ascending', startBlock: 1 }, 4), [1, 2, 0, 1]);
  assert.deepEqual(order({ switchMode: 'fixed', startBlock: 2 }, 3), [2, 2, 2]);
  assert.deepEqual(order({ switchInterval: -1 }, 3), [0, 0, 0]);
  const random = order({ switchMode: 'random' }, 6);
  assert.deepEqual([...random.slice(0, 3)].sort(), [0, 1, 2], 'each round visits every block once');
  assert.deepEqual([...random.slice(3)].sort(), [0, 1, 2]);
  assert.deepEqual(order({ switchMode: 'random' }, 6), random, 'the order follows the seed');
  assert.throws(() => setup({ startBlock: 3 }), /badam_start_block 3 is not a block index in \[0, 3\)/);
});

test('a state-dict round trip resumes on the same block with the same state', () => {
  const a = setup({ switchInterval: 2 });
  for (let i = 0; i < 3; i++) trainStep(a.model, a.opt);
  const b = setup({ switchInterval: 2 });
  b.model.loadParameters(a.model.namedParameters(), 'test');
  b.opt.loadStateDict(a.opt.stateDict());
  assert.equal(b.opt.activeBlock, a.opt.activeBlock);
  trainStep(a.model, a.opt);
  trainStep(b.model, b.opt);
  assert.deepEqual(snapshot(b.model), snapshot(a.model));
  assert.equal(b.opt.activeBlock, 2);
  for (const x of [a, b]) {
    x.opt.dispose();
    x.model.dispose();
  }
});

test('use_badam end to end: a full SFT run trains block by block and the loss falls', async () => {
  const { losses, lines } = await trainFullSft({ use_badam: true, badam_switch_interval: 3 });
  assert.ok((losses.at(-1) as number) < (losses[0] as number), `loss fell: ${losses.join(' -> ')}`);
  assert.ok(
    lines.some((l) => /^BAdam: \d+ blocks .* ascending from block 0, switching every 3 steps$/.test(l)),
    lines.join('\n'),
  );
});
