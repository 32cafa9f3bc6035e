/**
 * `lmforge webui [--host 127.0.0.1] [--port 7860] [--token T] [--work_dirs a,b] [--model_name_or_path dir ...]`:
 * the browser board (LlamaBoard's jobs: train, watch, chat). A model given here is pre-filled in its top bar.
 * Ctrl-C aborts the board's runs (each saves a checkpoint) and stops it.
 */
import { formatHelp, parseCommandArgs, WEBUI_GROUPS } from '../hparams/index.js';
import { untilStopped } from './until-stopped.js';

export function parseWebuiArgs(argv: readonly string[]) {
  return parseCommandArgs(argv, WEBUI_GROUPS, { command: 'webui' });
}

export async function webuiCommand(
  argv: string[],
  env: Record<string, string | undefined> = process.env,
): Promise<number> {
  if (argv.includes('-h') || argv.includes('--help')) {
    console.log(
      formatHelp(WEBUI_GROUPS, 'webui', {
        extra: ['', 'Environment: WEBUI_TOKEN (the token, kept out of the process list).'],
      }),
    );
    return 0;
  }
  const typed = parseWebuiArgs(argv);
  const webui = typed.groups.webui as {
    host: string | null;
    port: number | null;
    token: string | null;
    work_dirs: string[] | null;
  };
  const model = typed.groups.model as Record<string, unknown>;
  const data = typed.groups.data as Record<string, unknown>;
  const finetuning = typed.groups.finetuning as Record<string, unknown>;
  const initial: Record<string, unknown> = {};
  if (model.model_name_or_path) initial.model_name_or_path = model.model_name_or_path;
  if (model.adapter_name_or_path) initial.adapter_name_or_path = (model.adapter_name_or_path as string[]).join(',');
  if (data.template) initial.template = data.template;
  if (typed.given.finetuning_type !== undefined) initial.finetuning_type = finetuning.finetuning_type;
  const { startBoard } = await import('../webui/serve.js');
  const board = await startBoard({
    host: webui.host ?? '127.0.0.1',
    port: webui.port ?? 7860,
    token: webui.token ?? (env.WEBUI_TOKEN || null),
    workDirs: webui.work_dirs ?? [process.cwd()],
    initial,
  });
  const tokenHint = (webui.token ?? env.WEBUI_TOKEN) ? ' (open it with ?token=<your token>)' : '';
  console.error(`[lmforge] board on ${board.url}/${tokenHint}; Ctrl-C stops it`);
  await untilStopped();
  await board.close();
  return 0;
}
