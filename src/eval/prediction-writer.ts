/**
 * Streams do_predict's outputs to disk: generated_predictions.jsonl (LLaMA-Factory's rows) and sample_scores.jsonl
 * (line i = sample i's own scores) grow batch by batch in temporary files, written every `flushEvery` batches
 * (eval_accumulation_steps), and are renamed into place only when every sample is done,
 * so an interrupted run leaves no half file under the real names and memory never holds all the predictions.
 */
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { syncFolder, tempPathFor } from '../io/atomic.js';
import { pythonJsonText } from '../util/python-json.js';
import type { PredictionRow } from './metrics.js';
import type { SampleScores } from './prediction-scorer.js';

export const PREDICTIONS_FILE = 'generated_predictions.jsonl';
export const SAMPLE_SCORES_FILE = 'sample_scores.jsonl';

interface OpenFile {
  path: string;
  temp: string;
  fd: number;
  pending: string[];
}

export class PredictionWriter {
  private readonly files: { predictions: OpenFile; scores: OpenFile };
  private batches = 0;
  private samples = 0;
  private closed = false;

  constructor(
    private readonly dir: string,
    private readonly flushEvery = 1,
  ) {
    if (!Number.isInteger(flushEvery) || flushEvery < 1)
      throw new Error(`eval_accumulation_steps must be a positive integer, got ${flushEvery}`);
    mkdirSync(dir, { recursive: true });
    const open = (name: string): OpenFile => {
      const path = join(dir, name);
      const temp = tempPathFor(path);
      return { path, temp, fd: openSync(temp, 'w'), pending: [] };
    };
    this.files = { predictions: open(PREDICTIONS_FILE), scores: open(SAMPLE_SCORES_FILE) };
  }

  /** Adds one batch of rows and their scores; every flushEvery-th batch goes to disk. */
  addBatch(rows: readonly PredictionRow[], scores: readonly SampleScores[]): void {
    rows.forEach((r, i) => {
      this.files.predictions.pending.push(
        `${pythonJsonText({ prompt: r.prompt, predict: r.predict, label: r.label })}\n`,
      );
      this.files.scores.pending.push(`${JSON.stringify({ index: this.samples + i, ...scores[i] })}\n`);
    });
    this.samples += rows.length;
    if (++this.batches % this.flushEvery === 0) this.flush();
  }

  /** The rows written so far (the custom metric reads them back after the last batch). */
  readBack(): PredictionRow[] {
    this.flush();
    const text = readFileSync(this.files.predictions.temp, 'utf8');
    return text
      .split('\n')
      .filter((l) => l.length > 0)
      .map((l) => JSON.parse(l) as PredictionRow);
  }

  /** Moves the files into place (predict_results.json is the trainer's saveMetrics, written after this). */
  commit(): void {
    this.flush();
    for (const f of Object.values(this.files)) {
      fsyncSync(f.fd);
      closeSync(f.fd);
      renameSync(f.temp, f.path);
    }
    this.closed = true;
    syncFolder(this.dir);
  }

  /** Removes the temporary files (an interrupted or failed run writes nothing). */
  abort(): void {
    if (this.closed) return;
    this.closed = true;
    for (const f of Object.values(this.files)) {
      closeSync(f.fd);
      rmSync(f.temp, { force: true });
    }
  }

  private flush(): void {
    for (const f of Object.values(this.files)) {
      if (f.pending.length === 0) continue;
      writeSync(f.fd, f.pending.join(''));
      f.pending.length = 0;
    }
  }
}
