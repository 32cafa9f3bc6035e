/**
 * `report_to: wandb` / `swanlab` with no account or network: an offline run folder that keeps what the service
 * would have received. Weights & Biases: <WANDB_DIR or output_dir>/wandb/offline-run-<YYYYMMDD_HHMMSS>-<id>/files/
 * {config.yaml (wandb's `key: {value: ...}` layout), wandb-metadata.json, wandb-history.jsonl, wandb-summary.json}.
 * SwanLab: <swanlab_logdir or output_dir/swanlog>/run-<YYYYMMDD_HHMMSS>-<id>/files/{config.yaml, swanlab-metadata.json,
 * swanlab-history.jsonl, swanlab-summary.json}. History lines are HF's rewritten metric names (train/loss, eval/loss)
 * with train/global_step, _step, _runtime and _timestamp, as WandbCallback logs them; the summary holds each
 * metric's last value. The folders are plain files to read or import; the services' own binary run logs (wandb's
 * .wandb file) are not written, so `wandb sync` cannot upload them.
 */
import { randomBytes } from 'node:crypto';
import { appendFileSync, mkdirSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { writeFileAtomic } from '../../io/atomic.js';

export type OfflineService = 'wandb' | 'swanlab';

export class OfflineRunFolder {
  readonly dir: string;
  private readonly files: string;
  private readonly summary: Record<string, number> = {};
  private readonly started: number;
  private steps = 0;

  constructor(
    private readonly service: OfflineService,
    parent: string,
    meta: { project: string; runName: string | null; config: Record<string, unknown> },
    now: number = Date.now(),
  ) {
    this.started = now;
    const id = randomBytes(6)
      .toString('base64url')
      .toLowerCase()
      .replace(/[^a-z0-9]/g, '0')
      .slice(0, 8);
    const stamp = new Date(now).toISOString().replace(/[-:]/g, '').replace('T', '_').slice(0, 15);
    this.dir = join(parent, service === 'wandb' ? `offline-run-${stamp}-${id}` : `run-${stamp}-${id}`);
    this.files = join(this.dir, 'files');
    mkdirSync(this.files, { recursive: true });
    const config = Object.fromEntries(Object.entries(meta.config).map(([k, v]) => [k, { value: v }]));
    writeFileAtomic(join(this.files, 'config.yaml'), stringify(config));
    writeFileAtomic(
      join(this.files, `${service}-metadata.json`),
      `${JSON.stringify(
        {
          program: 'lmforge train',
          host: hostname(),
          project: meta.project,
          run_id: id,
          ...(meta.runName === null ? {} : { run_name: meta.runName }),
          startedAt: new Date(now).toISOString(),
          mode: 'offline',
        },
        null,
        2,
      )}\n`,
    );
  }

  log(metrics: Readonly<Record<string, number>>, step: number, now: number = Date.now()): void {
    const row = {
      ...metrics,
      'train/global_step': step,
      _step: this.steps++,
      _runtime: (now - this.started) / 1000,
      _timestamp: now / 1000,
    };
    appendFileSync(join(this.files, `${this.service}-history.jsonl`), `${JSON.stringify(row)}\n`);
    Object.assign(this.summary, row);
  }

  finish(): void {
    writeFileAtomic(join(this.files, `${this.service}-summary.json`), `${JSON.stringify(this.summary, null, 2)}\n`);
  }
}
