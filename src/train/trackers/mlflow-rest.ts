/**
 * `report_to: mlflow` with MLFLOW_TRACKING_URI set to a tracking server (http/https): MLflow's REST API 2.0, as the
 * MLflow client HF's MLflowCallback uses calls it: the experiment by name (MLFLOW_EXPERIMENT_NAME, created when
 * missing; "Default" is experiment 0), runs/create, runs/log-batch (params at the start, each log entry's metrics at
 * its step), runs/update FINISHED at the end. MLFLOW_TRACKING_TOKEN (bearer) or MLFLOW_TRACKING_USERNAME/_PASSWORD
 * (basic) authenticate. Requests are sent in order from a queue; `finish` waits for them, and a failed request is
 * reported once and stops the rest (training goes on).
 */
import { type ArgsDict, pyStr } from './run-config.js';

const MAX_PARAM_LENGTH = 250;
/** log-batch takes at most 100 params per request. */
const PARAMS_PER_BATCH = 100;

type Env = Readonly<Record<string, string | undefined>>;

export class MlflowRestRun {
  private queue: Promise<void>;
  private runId: string | null = null;
  private failed = false;

  constructor(
    private readonly server: string,
    experimentName: string,
    runName: string,
    params: ArgsDict,
    private readonly env: Env,
    private readonly log: (message: string) => void,
  ) {
    const paramList = Object.entries(params)
      .map(([key, v]) => ({ key, value: pyStr(v) }))
      .filter((p) => p.value.length <= MAX_PARAM_LENGTH);
    this.queue = this.send(async () => {
      const experimentId = await this.experimentId(experimentName);
      const created = (await this.call('runs/create', {
        experiment_id: experimentId,
        start_time: Date.now(),
        run_name: runName,
        tags: [{ key: 'mlflow.runName', value: runName }],
      })) as { run: { info: { run_id: string } } };
      this.runId = created.run.info.run_id;
      for (let i = 0; i < paramList.length; i += PARAMS_PER_BATCH)
        await this.call('runs/log-batch', { run_id: this.runId, params: paramList.slice(i, i + PARAMS_PER_BATCH) });
      this.log(`mlflow: run ${this.runId} on ${this.server}`);
    });
  }

  logMetrics(metrics: Readonly<Record<string, number>>, step: number): void {
    const timestamp = Date.now();
    const list = Object.entries(metrics).map(([key, value]) => ({ key, value, timestamp, step }));
    this.queue = this.send(() => this.call('runs/log-batch', { run_id: this.runId, metrics: list }).then(() => {}));
  }

  async finish(): Promise<void> {
    this.queue = this.send(() =>
      this.call('runs/update', { run_id: this.runId, status: 'FINISHED', end_time: Date.now() }).then(() => {}),
    );
    await this.queue;
  }

  private send(job: () => Promise<void>): Promise<void> {
    return (this.queue ?? Promise.resolve()).then(async () => {
      if (this.failed) return;
      try {
        await job();
      } catch (e) {
        this.failed = true;
        this.log(`note: MLflow server ${this.server}: ${(e as Error).message}; no further metrics are sent there`);
      }
    });
  }

  private async experimentId(name: string): Promise<string> {
    const url = `experiments/get-by-name?experiment_name=${encodeURIComponent(name)}`;
    const found = (await this.call(url, undefined, [404])) as { experiment?: { experiment_id: string } } | null;
    if (found?.experiment) return found.experiment.experiment_id;
    const created = (await this.call('experiments/create', { name })) as { experiment_id: string };
    return created.experiment_id;
  }

  /** One REST call; `missingOk` statuses return null instead of failing. */
  private async call(path: string, body: unknown, missingOk: number[] = []): Promise<unknown> {
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    const { MLFLOW_TRACKING_TOKEN: token, MLFLOW_TRACKING_USERNAME: user, MLFLOW_TRACKING_PASSWORD: pass } = this.env;
    if (token) headers.authorization = `Bearer ${token}`;
    else if (user) headers.authorization = `Basic ${Buffer.from(`${user}:${pass ?? ''}`).toString('base64')}`;
    const response = await fetch(`${this.server.replace(/\/$/, '')}/api/2.0/mlflow/${path}`, {
      method: body === undefined ? 'GET' : 'POST',
      headers,
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(30_000),
    });
    if (missingOk.includes(response.status)) return null;
    if (!response.ok) throw new Error(`${path.split('?')[0]} answered ${response.status} ${await response.text()}`);
    return response.json();
  }
}
