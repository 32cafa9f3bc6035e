/**
 * `lmforge export` as users meet it: LLaMA-Factory's arguments from YAML or flags, one clear message for each
 * refusal (never a stack trace), the hub upload's errors before any work (no token, HF_HUB_OFFLINE) or after a
 * complete local export (no network), and the shipped examples/merge_lora configs.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { cpSync, existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { parse as parseYaml } from 'yaml';
import { exportDtype, exportModel, parseExportArgs } from '../../src/export/index.js';
import { tempDir } from '../util/tokenizers.js';
import { exportArgs, quiet, TINY, trainedAdapter } from './helpers.js';

const run = promisify(execFile);

async function lmforge(...args: string[]): Promise<{ out: string; err: string; code: number }> {
  try {
    const r = await run(process.execPath, ['--import', 'tsx', 'bin/lmforge.js', ...args]);
    return { out: r.stdout, err: r.stderr, code: 0 };
  } catch (e) {
    const x = e as { stdout: string; stderr: string; code: number };
    return { out: x.stdout, err: x.stderr, code: x.code };
  }
}

const adapter = await trainedAdapter(7);

test('arguments: LLaMA-Factory names from flags, comma-separated adapters in order, export_size in GB (float)', () => {
  const { args, notes } = parseExportArgs([
    '--model_name_or_path',
    TINY,
    '--adapter_name_or_path',
    'saves/a, saves/b',
    '--template',
    'qwen',
    '--export_dir',
    'out/x',
    '--export_size',
    '0.5',
    '--export_device',
    'auto',
    '--infer_dtype',
    'float16',
  ]);
  assert.deepEqual(args.adapter_name_or_path, ['saves/a', 'saves/b']);
  assert.equal(args.export_size, 0.5);
  assert.equal(args.infer_dtype, 'float16');
  assert.equal(args.stage, 'sft');
  assert.ok(notes.some((n) => /export_device: there is one device/.test(n)));
  assert.equal(parseExportArgs([`--model_name_or_path=${TINY}`, '--export_dir=o']).args.export_size, 5);
});

test('arguments: every refusal names the argument and what to do, all at once', () => {
  const cases: [string[], RegExp][] = [
    [['--model_name_or_path', TINY], /export_dir is required: the folder to write the exported model to/],
    [['--export_dir', 'o'], /model_name_or_path is required/],
    [
      ['--model_name_or_path', TINY, '--export_dir', 'o', '--export_legacy_format', 'true'],
      /export_legacy_format: true asks for PyTorch \.bin pickles; lmforge writes safetensors only/,
    ],
    [
      ['--model_name_or_path', TINY, '--export_dir', 'o', '--export_quantization_bit', '4'],
      /export_quantization_bit \(GPTQ quantization on export\) is not implemented/,
    ],
    [
      [
        '--model_name_or_path',
        TINY,
        '--export_dir',
        'o',
        '--export_quantization_bit',
        '4',
        '--adapter_name_or_path',
        'a',
      ],
      /merge the adapters first/,
    ],
    [
      ['--model_name_or_path', TINY, '--export_dir', 'o', '--export_size', '0'],
      /export_size must be a positive number/,
    ],
    [['--model_name_or_path', TINY, '--export_dir', `${TINY}/`], /export_dir must differ from model_name_or_path/],
    [
      ['--model_name_or_path', TINY, '--export_dir', 'o', '--adapter_name_or_path', 'a', '--finetuning_type', 'full'],
      /adapter_name_or_path needs finetuning_type: lora/,
    ],
    [
      ['--model_name_or_path', TINY, '--export_dri', 'o'],
      /unknown argument 'export_dri'; did you mean 'export_dir'\? \(lmforge export -h lists them all\)/,
    ],
    [['--model_name_or_path', TINY, '--export_dir', 'o', '--infer_dtype', 'fp8'], /infer_dtype: must be one of/],
  ];
  for (const [argv, message] of cases) assert.throws(() => parseExportArgs(argv), message, argv.join(' '));
  // two problems, one message
  assert.throws(
    () => parseExportArgs(['--export_legacy_format', 'true']),
    (e: Error) => /2 problems|3 problems/.test(e.message) && /export_dir is required/.test(e.message),
  );
});

test('infer_dtype: auto keeps bf16/f16 and raises f32 (or no torch_dtype) to bf16; a named dtype wins', () => {
  assert.equal(exportDtype('auto', 'bf16'), 'bf16');
  assert.equal(exportDtype('auto', 'f16'), 'f16');
  assert.equal(exportDtype('auto', 'f32'), 'bf16');
  assert.equal(exportDtype('auto', null), 'bf16');
  assert.equal(exportDtype('float32', 'bf16'), 'f32');
  assert.equal(exportDtype('float16', 'f32'), 'f16');
});

test('merging into a quantized base is refused before the weights load', async () => {
  const out = join(tempDir('export-q'), 'merged');
  await assert.rejects(
    exportModel(exportArgs({ export_dir: out, adapter_name_or_path: [adapter], quantization_bit: 4 }), { log: quiet }),
    /cannot merge adapters into a quantized model \(4-bit on-the-fly base examples\/tiny\/base\).*without quantization_bit/,
  );
  const gptq = join(tempDir('export-gptq'), 'base');
  cpSync(TINY, gptq, { recursive: true });
  const config = JSON.parse(readFileSync(join(gptq, 'config.json'), 'utf8'));
  writeFileSync(
    join(gptq, 'config.json'),
    JSON.stringify({ ...config, quantization_config: { quant_method: 'gptq', bits: 4 } }),
  );
  await assert.rejects(
    exportModel(exportArgs({ model_name_or_path: gptq, export_dir: out, adapter_name_or_path: [adapter] }), {
      log: quiet,
    }),
    /cannot merge adapters into a quantized model \(gptq base/,
  );
  assert.ok(!existsSync(out));
});

test('export_dir that is a file is refused before any work', async () => {
  const root = tempDir('export-file');
  const file = join(root, 'taken');
  writeFileSync(file, 'x');
  await assert.rejects(
    exportModel(exportArgs({ export_dir: file }), { log: quiet }),
    /export_dir .*taken exists and is not a folder/,
  );
});

test('export_hub_model_id: no token, or HF_HUB_OFFLINE, stops before any work', async () => {
  const saved = { ...process.env };
  const out = join(tempDir('export-hub'), 'merged');
  try {
    delete process.env.HF_TOKEN;
    delete process.env.HUGGING_FACE_HUB_TOKEN;
    await assert.rejects(
      exportModel(exportArgs({ export_dir: out, export_hub_model_id: 'me/tiny' }), { log: quiet }),
      /export_hub_model_id me\/tiny needs a Hugging Face token with write access: set HF_TOKEN/,
    );
    process.env.HF_TOKEN = 'hf_test';
    process.env.HF_HUB_OFFLINE = '1';
    await assert.rejects(
      exportModel(exportArgs({ export_dir: out, export_hub_model_id: 'me/tiny' }), { log: quiet }),
      /HF_HUB_OFFLINE is set, so nothing can be uploaded/,
    );
    delete process.env.HF_HUB_OFFLINE;
    await assert.rejects(
      exportModel(exportArgs({ export_dir: out, export_hub_model_id: 'me/tiny', hf_hub_token: 'abc' }), { log: quiet }),
      /hf_hub_token is not a Hugging Face access token \(they start with hf_\)/,
    );
    assert.ok(!existsSync(out), 'nothing was exported');
  } finally {
    process.env = saved;
  }
});

test('CLI: the example YAML exports with progress lines; refusals exit 1 with one message and no stack', async () => {
  const out = join(tempDir('export-cli'), 'merged');
  const ok = await lmforge(
    'export',
    'examples/merge_lora/tiny_lora_sft.yaml',
    `adapter_name_or_path=${adapter}`,
    `export_dir=${out}`,
    'export_size=0.004',
  );
  assert.equal(ok.code, 0, ok.err);
  assert.match(ok.err, /\[export\] step 1\/(\d+) [\s\S]*\[export\] step \1\/\1 \(100\.00%\)/);
  assert.match(ok.err, /Merged 1 adapter\(s\)/);
  assert.match(ok.err, /done: \d+ weight file\(s\), 0\.010 GB of bf16 tensors/);
  assert.ok(readdirSync(out).includes('model.safetensors.index.json'));

  const bare = await lmforge('export');
  assert.equal(bare.code, 2);
  assert.match(bare.err, /^Usage: lmforge export <config\.yaml> \[key=value \.\.\.\]/);
  const bad = await lmforge('export', '--model_name_or_path', TINY, '--export_legacy_format');
  assert.equal(bad.code, 1);
  assert.match(bad.err, /^lmforge export: 2 problems with the arguments:\n/);
  assert.doesNotMatch(bad.err, /\n\s+at /);
  const missing = await lmforge('export', '--model_name_or_path', 'no/such/model', '--export_dir', join(out, 'y'));
  assert.equal(missing.code, 1);
  assert.match(missing.err, /no\/such\/model is not a local Hugging Face model folder/);
  assert.doesNotMatch(missing.err, /\n\s+at /);
});

test('examples/merge_lora: every config parses, points at the bundled model and a run that writes its adapter', () => {
  const dir = 'examples/merge_lora';
  const files = readdirSync(dir).filter((f) => f.endsWith('.yaml'));
  assert.ok(files.length >= 2);
  for (const f of files) {
    const { args } = parseExportArgs([join(dir, f)]);
    assert.equal(args.model_name_or_path, TINY, f);
    assert.ok(args.export_dir.startsWith('models/'), f);
    const adapterDir = args.adapter_name_or_path?.[0] as string;
    // the adapter is the output_dir of a shipped training config
    const trainConfigs = [
      'examples/quickstart.yaml',
      ...readdirSync('examples/train_lora').map((t) => `examples/train_lora/${t}`),
    ];
    assert.ok(
      trainConfigs.some(
        (t) => (parseYaml(readFileSync(t, 'utf8')) as { output_dir?: string }).output_dir === adapterDir,
      ),
      `${f}: ${adapterDir} is written by a training example`,
    );
  }
});
