/**
 * `report_to: tensorboard`: an event file as torch.utils.tensorboard's SummaryWriter writes it for HF's
 * TensorBoardCallback, in logging_dir (default output_dir/runs/<Mon DD_HH-MM-SS>_<host>): a file_version event,
 * the run's arguments as a text summary (tag `args/text_summary`, plugin `text`), then every log entry's numbers as
 * scalar summaries (`train/loss`, `eval/loss`, ...) at the global step.
 *
 * Event file: events.out.tfevents.<unix seconds>.<host>.<pid>.0, a sequence of TFRecords (tfrecord.ts) each holding
 * one serialized tensorflow.Event:
 *   Event { double wall_time = 1; int64 step = 2; string file_version = 3; Summary summary = 5; }
 *   Summary { repeated Value value = 1; }
 *   Value { string tag = 1; float simple_value = 2; TensorProto tensor = 8; SummaryMetadata metadata = 9; }
 *   SummaryMetadata { PluginData plugin_data = 1; }  PluginData { string plugin_name = 1; bytes content = 2; }
 *   TensorProto { DataType dtype = 1 (DT_STRING = 7); TensorShapeProto tensor_shape = 2; repeated bytes string_val = 8; }
 *   TensorShapeProto { repeated Dim dim = 2; }  Dim { int64 size = 1; }
 */
import { appendFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { ProtoWriter, tfRecord } from './tfrecord.js';

const DT_STRING = 7;

/** HF's default logging_dir name: runs/<%b%d_%H-%M-%S>_<hostname>. */
export function defaultLogDirName(now: Date = new Date()): string {
  const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
  const p = (n: number) => String(n).padStart(2, '0');
  const time = `${months[now.getMonth()]}${p(now.getDate())}_${p(now.getHours())}-${p(now.getMinutes())}-${p(now.getSeconds())}`;
  return join('runs', `${time}_${hostname()}`);
}

export class TensorBoardWriter {
  readonly path: string;

  constructor(logDir: string, now: number = Date.now()) {
    mkdirSync(logDir, { recursive: true });
    const seconds = String(Math.floor(now / 1000)).padStart(10, '0');
    this.path = join(logDir, `events.out.tfevents.${seconds}.${hostname()}.${process.pid}.0`);
    writeFileSync(
      this.path,
      tfRecord(
        event(now / 1000, 0)
          .string(3, 'brain.Event:2')
          .finish(),
      ),
    );
  }

  /** One scalar summary per number, each its own event as SummaryWriter.add_scalar writes them. */
  addScalars(values: Readonly<Record<string, number>>, step: number, now: number = Date.now()): void {
    const records = Object.entries(values).map(([tag, v]) =>
      tfRecord(summaryEvent(now, step, new ProtoWriter().string(1, tag).float(2, v))),
    );
    if (records.length > 0) appendFileSync(this.path, Buffer.concat(records));
  }

  /** SummaryWriter.add_text: a one-element DT_STRING tensor under `<tag>/text_summary`, plugin `text`. */
  addText(tag: string, text: string, step: number, now: number = Date.now()): void {
    const metadata = new ProtoWriter().message(1, new ProtoWriter().string(1, 'text'));
    const tensor = new ProtoWriter()
      .int64(1, DT_STRING)
      .message(2, new ProtoWriter().message(2, new ProtoWriter().int64(1, 1)))
      .string(8, text);
    const value = new ProtoWriter().string(1, `${tag}/text_summary`).message(8, tensor).message(9, metadata);
    appendFileSync(this.path, tfRecord(summaryEvent(now, step, value)));
  }
}

function event(wallTimeSeconds: number, step: number): ProtoWriter {
  const e = new ProtoWriter().double(1, wallTimeSeconds);
  return step === 0 ? e : e.int64(2, step);
}

function summaryEvent(now: number, step: number, value: ProtoWriter): Uint8Array {
  return event(now / 1000, step)
    .message(5, new ProtoWriter().message(1, value))
    .finish();
}
