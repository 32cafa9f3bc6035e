/**
 * The rm, dpo and kto stages end to end on a tiny random Llama with a real tokenizer (Mistral's vocabulary) and the
 * bundled preference / KTO data, and the gradient of the DPO and KTO losses through a tiny model by finite
 * differences.
 */
import assert from 'node:assert/strict';
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { collateFeedback, collatePairwise } from '../../src/data/collator.js';
import { noGrad, scope, sumAll, type Tensor, takeRows } from '../../src/engine/index.js';
import { parseTrainArgs } from '../../src/hparams/index.js';
import { parseModelConfig } from '../../src/io/model-config.js';
import { SafetensorsFile } from '../../src/io/safetensors.js';
import { createModel } from '../../src/models/causal-lm.js';
import { referenceLogProbs, sequenceLogProbs } from '../../src/train/dpo.js';
import { ktoKl, ktoLoss, preferenceLosses } from '../../src/train/preference-loss.js';
import { VALUE_HEAD_BIAS, VALUE_HEAD_FILE, VALUE_HEAD_WEIGHT } from '../../src/train/rm.js';
import { train } from '../../src/train/trainer.js';
import type { LogEntry } from '../../src/train/trainer-state.js';
import { directionalDerivative } from '../util/gradcheck.js';
import { tinyMistralDir } from '../util/tiny-model.js';
import { tempDir } from '../util/tokenizers.js';

const root = tempDir('lmforge-pref-');
after(() => rmSync(root, { recursive: true, force: true }));

/** A tiny Llama over the Mistral tokenizer's 32000 ids, saved with its tokenizer files. */
const modelDir = tinyMistralDir(5, { std: 0.02, maxPositionEmbeddings: 256 });

const common = {
  do_train: true,
  model_name_or_path: modelDir,
  dataset_dir: 'examples/data',
  template: 'alpaca',
  cutoff_len: 48,
  max_samples: 8,
  finetuning_type: 'lora',
  lora_target: 'all',
  lora_rank: 4,
  per_device_train_batch_size: 2,
  per_device_eval_batch_size: 4,
  gradient_accumulation_steps: 1,
  logging_steps: 1,
  save_steps: 1000,
  seed: 7,
  report_to: 'none',
};
const quiet = { progress: false as const, log: () => {} };
const values = (history: LogEntry[], key: string) =>
  history.filter((e) => typeof e[key] === 'number').map((e) => e[key] as number);

test('dpo (sigmoid): on the training pairs the rewards' + ' accuracy and margin rise', async () => {
  const out = join(root, 'dpo');
  const result = await train(
    {
      ...common,
      stage: 'dpo',
      dataset: 'preference_demo',
      eval_dataset: 'preference_demo',
      eval_strategy: 'steps',
      eval_steps: 8,
      output_dir: out,
      learning_rate: 2e-2,
      max_steps: 8,
      pref_beta: 0.1,
      plot_loss: true,
    },
    quiet,
  );
  const acc = values(result.logHistory, 'rewards/accuracies');
  const margins = values(result.logHistory, 'rewards/margins');
  // at step 1 the policy equals the reference (LoRA B = 0): every reward is 0
  assert.equal(acc[0], 0);
  assert.equal(margins[0], 0);
  const evalAcc = values(result.logHistory, 'eval_rewards/accuracies').at(-1) as number;
  const evalMargin = values(result.logHistory, 'eval_rewards/margins').at(-1) as number;
  assert.ok(evalAcc >= 0.75, `eval accuracy ${evalAcc}`);
  assert.ok(evalMargin > 0.05, `eval margin ${evalMargin}`);
  for (const key of ['rewards/chosen', 'rewards/rejected', 'logps/chosen', 'logps/rejected', 'logits/chosen'])
    assert.ok(values(result.logHistory, key).length > 0, key);
  assert.ok(existsSync(join(out, 'adapter_model.safetensors')));
  assert.ok(existsSync(join(out, 'training_rewards_accuracies.png')));
});

test('dpo: orpo and simpo run without a reference model and log their own metrics', async () => {
  for (const loss of ['orpo', 'simpo'] as const) {
    const result = await train(
      {
        ...common,
        // stage orpo (LLaMA-Factory 0.6's name) is dpo with pref_loss orpo
        stage: loss === 'orpo' ? 'orpo' : 'dpo',
        dataset: 'preference_demo',
        output_dir: join(root, loss),
        learning_rate: 1e-2,
        max_steps: 2,
        pref_loss: loss,
      },
      quiet,
    );
    const first = result.logHistory[0] as LogEntry;
    assert.ok(Number.isFinite(first.loss as number), `${loss} loss`);
    if (loss === 'orpo') {
      // orpo: loss = sft_loss + beta * odds_ratio_loss, the chosen rewards are beta * mean token log-prob
      const sft = first.sft_loss as number;
      const odds = first.odds_ratio_loss as number;
      assert.ok(Math.abs((first.loss as number) - (sft + 0.1 * odds)) < 1e-3, JSON.stringify(first));
      assert.ok(Math.abs((first['rewards/chosen'] as number) - 0.1 * (first['logps/chosen'] as number)) < 1e-6);
    }
  }
});

test('dpo references: a frozen copy (full tuning) or ref_model equals the policy before the first update', async () => {
  for (const [name, extra] of [
    ['full', { finetuning_type: 'full' }],
    ['ref-model', { ref_model: modelDir }],
  ] as const) {
    const logs: string[] = [];
    const result = await train(
      {
        ...common,
        ...extra,
        stage: 'dpo',
        dataset: 'preference_demo',
        output_dir: join(root, `dpo-${name}`),
        learning_rate: 1e-3,
        max_steps: 1,
        max_samples: 2,
      },
      { progress: false, log: (m) => logs.push(m) },
    );
    const first = result.logHistory[0] as LogEntry;
    assert.equal(first['rewards/chosen'], 0, name);
    assert.equal(first['rewards/margins'], 0, name);
    assert.ok(Math.abs((first.loss as number) - Math.LN2) < 1e-4, `${name}: -logsigmoid(0) = ln 2, got ${first.loss}`);
    assert.ok(
      logs.some((m) => m.startsWith(`reference model: ${modelDir}`)),
      logs.join('\n'),
    );
  }
});

test('rm: accuracy on the training pairs rises and the value head is saved as TRL names it', async () => {
  const out = join(root, 'rm');
  const result = await train(
    {
      ...common,
      stage: 'rm',
      dataset: 'preference_demo',
      eval_dataset: 'preference_demo',
      eval_strategy: 'steps',
      eval_steps: 1,
      output_dir: out,
      learning_rate: 2e-2,
      max_steps: 10,
    },
    quiet,
  );
  const acc = values(result.logHistory, 'eval_accuracy');
  const losses = values(result.logHistory, 'eval_loss');
  assert.ok((acc.at(-1) as number) > (acc[0] as number), `accuracy ${acc.join(' -> ')}`);
  assert.ok((acc.at(-1) as number) >= 0.75, `accuracy ${acc.join(' -> ')}`);
  assert.ok((losses.at(-1) as number) < (losses[0] as number), `eval loss ${losses.join(' -> ')}`);
  const head = SafetensorsFile.open(join(out, VALUE_HEAD_FILE));
  try {
    assert.deepEqual(head.tensors.get(VALUE_HEAD_WEIGHT)?.shape, [1, 32]);
    assert.deepEqual(head.tensors.get(VALUE_HEAD_BIAS)?.shape, [1]);
  } finally {
    head.close();
  }
  assert.ok(existsSync(join(out, 'adapter_model.safetensors')));
});

test('rm: the value head is checkpointed, and a resumed run ends with the same head as an uninterrupted one', async () => {
  const config = (out: string) => ({
    ...common,
    stage: 'rm',
    dataset: 'preference_demo',
    output_dir: out,
    learning_rate: 2e-2,
    max_steps: 4,
    save_steps: 2,
  });
  const headValues = (dir: string) => {
    const f = SafetensorsFile.open(join(dir, VALUE_HEAD_FILE));
    try {
      return [
        ...scope(() => f.load(VALUE_HEAD_WEIGHT).toFloat32Array()),
        ...scope(() => f.load(VALUE_HEAD_BIAS).toFloat32Array()),
      ];
    } finally {
      f.close();
    }
  };
  const straight = join(root, 'rm-straight');
  await train(config(straight), quiet);
  assert.ok(existsSync(join(straight, 'checkpoint-2', VALUE_HEAD_FILE)));
  const resumed = join(root, 'rm-resumed');
  const stop = new AbortController();
  const first = await train(config(resumed), {
    ...quiet,
    signal: stop.signal,
    events: { onStep: ({ step }) => step === 2 && stop.abort() },
  });
  assert.ok(first.interrupted);
  await train(config(resumed), quiet);
  assert.deepEqual(headValues(resumed), headValues(straight));
});

test('kto: runs on kto_tag data and logs the KTO metrics', async () => {
  const result = await train(
    {
      ...common,
      stage: 'kto',
      dataset: 'kto_demo',
      output_dir: join(root, 'kto'),
      learning_rate: 1e-2,
      max_steps: 4,
      max_samples: 8,
    },
    quiet,
  );
  const losses = values(result.logHistory, 'loss');
  assert.equal(losses.length, 4);
  // the first update sees policy == reference: every KTO row loss is 1 - sigmoid(0) = 0.5
  assert.ok(Math.abs((losses[0] as number) - 0.5) < 1e-4, `first loss ${losses[0]}`);
  const kl = values(result.logHistory, 'kl');
  assert.ok(kl.every((v) => v >= 0));
  assert.ok(
    values(result.logHistory, 'rewards/chosen').length + values(result.logHistory, 'rewards/rejected').length > 0,
  );
});

/** A small model and hand-made rows over a 24-token vocabulary (prompt tokens labelled -100). */
function tinySetup() {
  const tiny = parseModelConfig({
    architectures: ['LlamaForCausalLM'],
    vocab_size: 24,
    hidden_size: 16,
    intermediate_size: 32,
    num_hidden_layers: 1,
    num_attention_heads: 2,
    num_key_value_heads: 1,
    max_position_embeddings: 32,
  });
  const policy = createModel(tiny, { seed: 1, std: 0.3 });
  policy.setFullTraining();
  const reference = createModel(tiny, { seed: 2, std: 0.3 });
  reference.freezeAll();
  return { policy, reference };
}

function pairRecord(prompt: number[], chosen: number[], rejected: number[]) {
  const row = (reply: number[]) => ({
    ids: [...prompt, ...reply],
    labels: [...prompt.map(() => -100), ...reply],
  });
  const c = row(chosen);
  const r = row(rejected);
  return {
    chosen_input_ids: c.ids,
    chosen_attention_mask: c.ids.map(() => 1),
    chosen_labels: c.labels,
    rejected_input_ids: r.ids,
    rejected_attention_mask: r.ids.map(() => 1),
    rejected_labels: r.labels,
  };
}

/** The directional derivative of f along a random direction of the lm_head weight, by central differences. */
function checkDirectional(policy: ReturnType<typeof tinySetup>['policy'], loss: () => Tensor, label: string): void {
  const weight = policy.namedParameters().find(([n]) => n === 'lm_head.weight')?.[1] as Tensor;
  const { exact, numeric } = directionalDerivative(weight, loss, (i) => Math.sin(i * 1.7 + 0.3));
  assert.ok(Math.abs(numeric - exact) <= 2e-3 * Math.max(1, Math.abs(exact)), `${label}: ${exact} vs ${numeric}`);
}

test('DPO and KTO losses: gradients through a tiny model match finite differences', () => {
  const { policy, reference } = tinySetup();
  const records = [pairRecord([3, 4, 5], [6, 7, 8, 9], [10, 11]), pairRecord([12, 13], [14, 15, 16], [17, 18, 19, 20])];
  const batch = collatePairwise(records, { padTokenId: 0 });
  const ref = { kind: 'model' as const, model: reference };
  for (const type of ['sigmoid', 'hinge', 'ipo', 'orpo', 'simpo'] as const) {
    const average = type === 'ipo' || type === 'orpo' || type === 'simpo';
    const loss = () => {
      const lp = sequenceLogProbs(policy, batch, average).logps;
      const r = referenceLogProbs(policy, ref, batch, average);
      const cfgLoss = {
        type,
        beta: type === 'hinge' ? 0.01 : 0.5,
        labelSmoothing: 0.1 * Number(type === 'sigmoid'),
        simpoGamma: 0.3,
      };
      const losses = preferenceLosses(
        cfgLoss,
        { chosen: takeRows(lp, [0, 1]), rejected: takeRows(lp, [2, 3]) },
        { chosen: takeRows(r, [0, 1]), rejected: takeRows(r, [2, 3]) },
      );
      return sumAll(losses);
    };
    checkDirectional(policy, loss, type);
  }
  const feedback = collateFeedback(
    [
      {
        input_ids: [3, 4, 6, 7],
        attention_mask: [1, 1, 1, 1],
        labels: [-100, -100, 6, 7],
        kl_input_ids: [3, 4, 9],
        kl_attention_mask: [1, 1, 1],
        kl_labels: [-100, -100, 9],
        kto_tags: true,
      },
      {
        input_ids: [5, 9],
        attention_mask: [1, 1],
        labels: [-100, 9],
        kl_input_ids: [5, 6, 7],
        kl_attention_mask: [1, 1, 1],
        kl_labels: [-100, 6, 7],
        kto_tags: false,
      },
    ],
    { padTokenId: 0 },
  );
  // TRL detaches the KL estimate: it is a constant of the objective, so it is computed once here
  const klRows = { inputIds: feedback.klInputIds, attentionMask: feedback.klAttentionMask, labels: feedback.klLabels };
  const kl = scope(() =>
    ktoKl(
      noGrad(() => sequenceLogProbs(policy, klRows, false).logps.toFloat32Array()),
      referenceLogProbs(policy, ref, klRows, false).toFloat32Array(),
    ),
  );
  const ktoObjective = () => {
    const lp = sequenceLogProbs(policy, feedback, false).logps;
    const r = referenceLogProbs(policy, ref, feedback, false);
    return ktoLoss(
      { beta: 0.5, chosenWeight: 1.2, rejectedWeight: 0.8 },
      kl + 0.05,
      { policy: takeRows(lp, [0]), reference: takeRows(r, [0]) },
      { policy: takeRows(lp, [1]), reference: takeRows(r, [1]) },
    );
  };
  checkDirectional(policy, ktoObjective, 'kto');
  policy.dispose();
  reference.dispose();
});

test('the examples/train_lora YAMLs for rm, dpo and kto (Qwen3 and the tiny base) parse to their stages', () => {
  for (const [file, stage] of [
    ['qwen3_lora_reward', 'rm'],
    ['qwen3_lora_dpo', 'dpo'],
    ['qwen3_lora_kto', 'kto'],
    ['tiny_lora_reward', 'rm'],
    ['tiny_lora_dpo', 'dpo'],
    ['tiny_lora_kto', 'kto'],
  ] as const) {
    const args = parseTrainArgs([`examples/train_lora/${file}.yaml`]);
    assert.equal(args.finetuning.stage, stage);
    assert.deepEqual(
      args.notes.filter((n) => !n.startsWith('bf16')),
      [],
      file,
    );
  }
});
