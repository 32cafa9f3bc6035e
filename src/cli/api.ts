/**
 * `lmforge api cfg.yaml | --model_name_or_path dir ... [--host h] [--port p] [--max_concurrent n] [--max_waiting n]`:
 * LLaMA-Factory's OpenAI-compatible API over a worker-thread ChatModel, so one generation never blocks the server.
 * Ctrl-C stops the server and the model worker.
 */
import { API_GROUPS, formatHelp, HparamsError, INFER_GROUPS } from '../hparams/index.js';
import { parseInferArgs } from '../infer/chat-args.js';
import { ChatModel } from '../infer/chat-model.js';
import type { ServingArgs } from '../infer/chat-runner.js';
import { type RunningServer, resolveServerOptions, type ServerOptions, startApiServer } from '../server/index.js';
import { untilStopped } from './until-stopped.js';

export interface StartedApi {
  server: RunningServer;
  model: ChatModel;
  /** Stops the server, then the model. */
  close(): Promise<void>;
}

/** Loads the model in a worker and starts the server (tests call this; the command waits for Ctrl-C after it). */
export async function startApi(
  argv: readonly string[],
  env: Record<string, string | undefined> = process.env,
): Promise<StartedApi> {
  const { model: args, notes, loaded, groups } = parseApiArgs(argv);
  const options = resolveServerOptions(serverFlags(groups.server ?? {}), env);
  const maxModelLen = maxModelLenOf(groups.server ?? {}, env);
  if (maxModelLen !== undefined) args.max_model_len = maxModelLen;
  args.serving = servingOf(groups.server ?? {}, env, options.maxConcurrent);
  for (const note of notes) console.error(`[lmforge] note: ${note}`);
  if (loaded) console.error(`[lmforge] ${loaded}`);
  const model = await ChatModel.load(args);
  let server: RunningServer;
  try {
    server = await startApiServer(model, options);
  } catch (e) {
    await model.close();
    throw e;
  }
  return {
    server,
    model,
    close: async () => {
      await server.close();
      await model.close();
    },
  };
}

/** `lmforge api`'s arguments: inference ones plus the server group (--host, --port, --max_concurrent, ...). */
export function parseApiArgs(argv: readonly string[]) {
  return parseInferArgs(argv, API_GROUPS, 'api');
}

/** The server flags the user set; unset ones fall back to the environment and the defaults. */
function serverFlags(server: Record<string, unknown>): Partial<ServerOptions> {
  const flags: Partial<ServerOptions> = {};
  const count = (name: string): number | undefined => {
    const n = server[name] as number | null | undefined;
    if (n === null || n === undefined) return undefined;
    if (n < 0) throw new HparamsError([`${name} must be 0 or more, got ${n}`]);
    return n;
  };
  if (typeof server.host === 'string') {
    if (server.host === '') throw new HparamsError(['host needs a value, e.g. --host 127.0.0.1']);
    flags.host = server.host;
  }
  const port = count('port');
  const maxConcurrent = count('max_concurrent');
  const maxWaiting = count('max_waiting');
  const maxBodyBytes = count('max_body_bytes');
  if (port !== undefined) flags.port = port;
  if (maxBodyBytes !== undefined) flags.maxBodyBytes = maxBodyBytes;
  if (maxConcurrent !== undefined) flags.maxConcurrent = maxConcurrent;
  if (maxWaiting !== undefined) flags.maxWaiting = maxWaiting;
  if (typeof server.kb_root === 'string' && server.kb_root !== '') flags.kbRoot = server.kb_root;
  return flags;
}

/**
 * The scheduler's budget: --kv_budget / API_KV_BUDGET bytes, --max_num_batched_tokens / API_MAX_NUM_BATCHED_TOKENS,
 * and as many running sequences as the server admits requests.
 */
function servingOf(
  server: Record<string, unknown>,
  env: Record<string, string | undefined>,
  maxRunning: number,
): ServingArgs {
  const read = (flag: string, variable: string): number | undefined => {
    const given = server[flag] as number | null | undefined;
    const raw = given ?? (env[variable] ? Number(env[variable]) : undefined);
    if (raw === undefined) return undefined;
    if (!Number.isSafeInteger(raw) || raw < 1) {
      const shown = given == null ? `${variable}='${env[variable]}'` : `--${flag} ${given}`;
      throw new HparamsError([`${flag} must be an integer >= 1, got ${shown}`]);
    }
    return raw;
  };
  const serving: ServingArgs = { maxRunning };
  const kvBudgetBytes = read('kv_budget', 'API_KV_BUDGET');
  const tokenBudget = read('max_num_batched_tokens', 'API_MAX_NUM_BATCHED_TOKENS');
  if (kvBudgetBytes !== undefined) serving.kvBudgetBytes = kvBudgetBytes;
  if (tokenBudget !== undefined) serving.tokenBudget = tokenBudget;
  return serving;
}

/** --max_model_len, else API_MAX_MODEL_LEN, else undefined (the model's max_position_embeddings). */
function maxModelLenOf(server: Record<string, unknown>, env: Record<string, string | undefined>): number | undefined {
  const flag = server.max_model_len as number | null | undefined;
  const raw = flag ?? (env.API_MAX_MODEL_LEN ? Number(env.API_MAX_MODEL_LEN) : undefined);
  if (raw === undefined) return undefined;
  if (!Number.isInteger(raw) || raw < 1) {
    const given = flag == null ? `API_MAX_MODEL_LEN='${env.API_MAX_MODEL_LEN}'` : `--max_model_len ${flag}`;
    throw new HparamsError([`max_model_len must be an integer >= 1, got ${given}`]);
  }
  return raw;
}

export async function apiCommand(argv: string[]): Promise<number> {
  if (argv.includes('-h') || argv.includes('--help')) {
    console.log(
      formatHelp(INFER_GROUPS, 'api', {
        extra: [
          '',
          'Server flags: [--host 0.0.0.0] [--port 8000] [--max_concurrent 64] [--max_waiting 16]',
          '  [--max_body_bytes 16777216] [--max_model_len <max_position_embeddings>]',
          '  [--kv_budget 536870912] [--max_num_batched_tokens 256]',
          'Environment: API_HOST, API_PORT, API_KEY, API_MODEL_NAME, API_MAX_CONCURRENT, API_MAX_WAITING,',
          '  API_MAX_BODY_BYTES, API_MAX_MODEL_LEN, API_KV_BUDGET, API_MAX_NUM_BATCHED_TOKENS.',
        ],
      }),
    );
    return 0;
  }
  const api = await startApi(argv);
  console.error(`[lmforge] API on ${api.server.url}/v1 (GET /v1/models lists the model); Ctrl-C stops it`);
  await untilStopped();
  await api.close();
  return 0;
}
