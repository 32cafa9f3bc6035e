/**
 * report_to: a LoRA SFT run with tensorboard, wandb, mlflow and swanlab. The event file is read back with a decoder
 * written here from the formats' definitions (TFRecord framing with masked CRC32C, protobuf wire format, the
 * tensorflow Event / Summary messages), not with the writer's code; the offline folders and MLflow's file store are
 * read as their services' tools read them; secrets (fields ending in token / api_key) never reach a tracker.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { parse as parseYaml } from 'yaml';
import { parseTrainArgs } from '../../src/hparams/index.js';
import { train } from '../../src/train/trainer.js';
import { SFT_DEMO, TINY_LORA_RUN, tinySftModelDir } from '../util/tiny-sft.js';
import { tempDir } from '../util/tokenizers.js';

const root = tempDir('lmforge-trackers-');
after(() => rmSync(root, { recursive: true, force: true }));

/** CRC32C bit by bit (no table), from the polynomial's definition. */
function crc32cBitwise(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of bytes) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
  }
  return (c ^ 0xffffffff) >>> 0;
}
const masked = (b: Uint8Array) => {
  const c = crc32cBitwise(b);
  return ((((c >>> 15) | (c << 17)) >>> 0) + 0xa282ead8) >>> 0;
};

/** Splits a TFRecord file, checking both masked CRCs of every record. */
function readRecords(buf: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let at = 0;
  while (at < buf.length) {
    const len = Number(buf.readBigUInt64LE(at));
    assert.equal(buf.readUInt32LE(at + 8), masked(buf.subarray(at, at + 8)), `length CRC of record ${out.length}`);
    const data = buf.subarray(at + 12, at + 12 + len);
    assert.equal(buf.readUInt32LE(at + 12 + len), masked(data), `data CRC of record ${out.length}`);
    out.push(data);
    at += 12 + len + 4;
  }
  assert.equal(at, buf.length, 'the file ends at a record boundary');
  return out;
}

type Field = { wire: number; int?: bigint; bytes?: Buffer; fixed?: Buffer };

/** Protobuf wire format: field number -> values in order. */
function decode(buf: Buffer): Map<number, Field[]> {
  const fields = new Map<number, Field[]>();
  let at = 0;
  const varint = () => {
    let v = 0n;
    let shift = 0n;
    for (;;) {
      const b = buf[at++] as number;
      v |= BigInt(b & 0x7f) << shift;
      shift += 7n;
      if (!(b & 0x80)) return v;
    }
  };
  while (at < buf.length) {
    const key = Number(varint());
    const [num, wire] = [key >> 3, key & 7];
    let f: Field;
    if (wire === 0) f = { wire, int: varint() };
    else if (wire === 1) f = { wire, fixed: buf.subarray(at, (at += 8)) };
    else if (wire === 5) f = { wire, fixed: buf.subarray(at, (at += 4)) };
    else if (wire === 2) {
      const n = Number(varint());
      f = { wire, bytes: buf.subarray(at, (at += n)) };
    } else throw new Error(`wire type ${wire}`);
    fields.set(num, [...(fields.get(num) ?? []), f]);
  }
  return fields;
}
const one = (m: Map<number, Field[]>, n: number) => m.get(n)?.[0];
const str = (m: Map<number, Field[]>, n: number) => one(m, n)?.bytes?.toString('utf8');

interface DecodedEvent {
  wallTime: number;
  step: number;
  fileVersion?: string;
  values: { tag: string; simple?: number; text?: string; plugin?: string }[];
}

/** tensorflow.Event { wall_time = 1 (double); step = 2; file_version = 3; summary = 5 } and Summary.Value. */
function decodeEvent(data: Buffer): DecodedEvent {
  const e = decode(data);
  const ev: DecodedEvent = {
    wallTime: ((one(e, 1) as Field).fixed as Buffer).readDoubleLE(0),
    step: Number(one(e, 2)?.int ?? 0n),
    values: [],
  };
  const fv = str(e, 3);
  if (fv !== undefined) ev.fileVersion = fv;
  const summary = one(e, 5)?.bytes;
  for (const v of summary ? (decode(summary).get(1) ?? []) : []) {
    const value = decode(v.bytes as Buffer);
    const simple = one(value, 2)?.fixed?.readFloatLE(0);
    const tensor = one(value, 8)?.bytes;
    const meta = one(value, 9)?.bytes;
    const plugin = meta ? str(decode(one(decode(meta), 1)?.bytes as Buffer), 1) : undefined;
    let text: string | undefined;
    if (tensor) {
      const t = decode(tensor);
      assert.equal(one(t, 1)?.int, 7n, 'DT_STRING');
      text = str(t, 8);
    }
    ev.values.push({
      tag: str(value, 1) as string,
      ...(simple === undefined ? {} : { simple }),
      ...(text === undefined ? {} : { text }),
      ...(plugin === undefined ? {} : { plugin }),
    });
  }
  return ev;
}

test('CRC32C of the standard check string', () => {
  // RFC 3720's check value for "123456789"
  assert.equal(crc32cBitwise(Buffer.from('123456789')), 0xe3069283);
});

test('report_to: every tracker gets the loss at its step, the config without secrets', async () => {
  const out = join(root, 'run');
  const result = await train(
    {
      ...SFT_DEMO,
      model_name_or_path: tinySftModelDir(),
      ...TINY_LORA_RUN,
      logging_steps: 2,
      eval_strategy: 'steps',
      eval_steps: 4,
      val_size: 2,
      save_steps: 100,
      output_dir: out,
      report_to: 'tensorboard,wandb,mlflow,swanlab',
      hf_hub_token: 'hf_SECRET123',
      swanlab_api_key: 'sw_SECRET456',
      run_name: 'tracked',
    },
    { progress: false, log: () => {} },
  );
  assert.ok(existsSync(join(out, 'adapter_model.safetensors')), 'the adapter is saved as usual');
  const losses = result.logHistory.filter((e) => typeof e.loss === 'number');
  assert.deepEqual(
    losses.map((e) => e.step),
    [2, 4],
  );

  // TensorBoard: output_dir/runs/<date>_<host>/events.out.tfevents.*
  const [runDir] = readdirSync(join(out, 'runs'));
  const logDir = join(out, 'runs', runDir as string);
  const [file] = readdirSync(logDir);
  assert.match(file as string, /^events\.out\.tfevents\.\d{10}\..+\.\d+\.0$/);
  const events = readRecords(readFileSync(join(logDir, file as string))).map(decodeEvent);
  assert.equal(events[0]?.fileVersion, 'brain.Event:2');
  assert.ok(Math.abs((events[0]?.wallTime as number) - Date.now() / 1000) < 600, 'wall_time in seconds');
  const text = events.flatMap((e) => e.values).find((v) => v.tag === 'args/text_summary');
  assert.equal(text?.plugin, 'text');
  const logged = JSON.parse(text?.text as string);
  assert.equal(logged.lora_rank, 2);
  assert.equal(logged.hf_hub_token, '<HF_HUB_TOKEN>');
  assert.equal(logged.swanlab_api_key, '<SWANLAB_API_KEY>');
  const scalars = (tag: string) =>
    events.flatMap((e) => e.values.filter((v) => v.tag === tag).map((v) => [e.step, v.simple as number]));
  assert.deepEqual(
    scalars('train/loss'),
    losses.map((e) => [e.step, Math.fround(e.loss as number)]),
  );
  const evalLoss = result.logHistory.find((e) => typeof e.eval_loss === 'number');
  assert.deepEqual(scalars('eval/loss'), [[4, Math.fround(evalLoss?.eval_loss as number)]]);
  assert.equal(scalars('train/learning_rate').length, 2);
  assert.equal(scalars('train/step').length, 0, 'step is the x axis, not a series');

  // MLflow's file store: <root>/0/<run>/{meta.yaml, params/*, metrics/*}
  const store = join(out, 'mlruns', '0');
  assert.equal(parseYaml(readFileSync(join(store, 'meta.yaml'), 'utf8')).name, 'Default');
  const [mlRun] = readdirSync(store).filter((n) => n !== 'meta.yaml');
  const mlDir = join(store, mlRun as string);
  const meta = parseYaml(readFileSync(join(mlDir, 'meta.yaml'), 'utf8'));
  assert.equal(meta.status, 3, 'FINISHED');
  assert.equal(meta.run_name, 'tracked');
  assert.equal(readFileSync(join(mlDir, 'params', 'lora_rank'), 'utf8'), '2');
  assert.equal(readFileSync(join(mlDir, 'params', 'hf_hub_token'), 'utf8'), '<HF_HUB_TOKEN>');
  const lossLines = readFileSync(join(mlDir, 'metrics', 'loss'), 'utf8')
    .trim()
    .split('\n');
  assert.deepEqual(
    lossLines.map((l) => l.split(' ').slice(1).map(Number)),
    losses.map((e) => [e.loss, e.step]),
  );

  // wandb and swanlab offline folders
  for (const [service, parent, prefix] of [
    ['wandb', join(out, 'wandb'), 'offline-run-'],
    ['swanlab', join(out, 'swanlog'), 'run-'],
  ] as const) {
    const [name] = readdirSync(parent);
    assert.ok(name?.startsWith(prefix), name);
    const files = join(parent, name as string, 'files');
    const config = parseYaml(readFileSync(join(files, 'config.yaml'), 'utf8'));
    assert.equal(config.model_args.value.hf_hub_token, '<HF_HUB_TOKEN>', service);
    assert.equal(config.finetuning_args.value.swanlab_api_key, '<SWANLAB_API_KEY>', service);
    assert.equal(config.lora_rank.value, 2);
    const history = readFileSync(join(files, `${service}-history.jsonl`), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    const trainRows = history.filter((h) => 'train/loss' in h);
    assert.deepEqual(
      trainRows.map((h) => [h['train/global_step'], h['train/loss']]),
      losses.map((e) => [e.step, e.loss]),
    );
    const summary = JSON.parse(readFileSync(join(files, `${service}-summary.json`), 'utf8'));
    assert.equal(summary['eval/loss'], evalLoss?.eval_loss);
    for (const f of readdirSync(files)) {
      const body = readFileSync(join(files, f), 'utf8');
      assert.ok(!body.includes('SECRET'), `${service}/${f} holds no secret`);
    }
  }
});

test('report_to names: none, all, an unknown name with a suggestion', () => {
  const base = { model_name_or_path: 'm', output_dir: 'o', dataset: 'd', do_train: true };
  assert.deepEqual(parseTrainArgs({ ...base, report_to: 'none' }).training.report_to, []);
  assert.deepEqual(parseTrainArgs({ ...base, report_to: 'all' }).training.report_to, ['tensorboard']);
  assert.throws(() => parseTrainArgs({ ...base, report_to: 'tensorbord' }), /did you mean 'tensorboard'/);
});
