/**
 * `lmforge chat cfg.yaml | --model_name_or_path dir [--template t] [--system "..."] [--show_speed]`: LLaMA-Factory's
 * terminal chat. Reads stdin line by line (a pipe works too), streams the answer, keeps the history; `clear`
 * forgets it, `exit` (or end of input) quits. The model runs in-process: the terminal has nothing else to do.
 */
import { createInterface } from 'node:readline';
import { formatHelp, INFER_GROUPS } from '../hparams/index.js';
import { parseInferArgs } from '../infer/chat-args.js';
import type { Message } from '../infer/chat-engine.js';
import { ChatModel } from '../infer/chat-model.js';

export interface ChatIo {
  input: NodeJS.ReadableStream;
  output: NodeJS.WritableStream;
}

const WELCOME =
  'Welcome to the CLI application, use `clear` to remove the history, use `exit` to exit the application.';

export async function chatCommand(
  argv: string[],
  io: ChatIo = { input: process.stdin, output: process.stdout },
): Promise<number> {
  if (argv.includes('-h') || argv.includes('--help')) {
    console.log(
      formatHelp(INFER_GROUPS, 'chat', {
        extra: [
          '',
          'Type a message and Enter; `clear` forgets the history, `exit` (or Ctrl-D, Ctrl-C) quits.',
          '  --system <text>   system prompt (default_system)',
          '  --show_speed      print tokens/s after each answer',
        ],
      }),
    );
    return 0;
  }
  const { rest, system, showSpeed } = takeChatFlags(argv);
  const { model: args, notes, loaded } = parseInferArgs(rest);
  for (const note of notes) console.error(`[lmforge] note: ${note}`);
  if (loaded) console.error(`[lmforge] ${loaded}`);
  if (system !== undefined) args.default_system = system;
  const model = await ChatModel.load(args, { inProcess: true });
  const out = (s: string) => io.output.write(s);
  try {
    out(`${WELCOME}\n`);
    let messages: Message[] = [];
    const lines = createInterface({ input: io.input, terminal: false });
    out('\nUser: ');
    for await (const line of lines) {
      const query = line.trim();
      if (query === 'exit') break;
      if (query === 'clear') {
        messages = [];
        out('History has been removed.\n\nUser: ');
        continue;
      }
      messages.push({ role: 'user', content: line });
      out('Assistant: ');
      const started = performance.now();
      let response = '';
      const result = await model.chatLive(messages, {}, (piece) => {
        response += piece.text;
        if (piece.text) out(piece.text);
      });
      out('\n');
      if (showSpeed) {
        const seconds = (performance.now() - started) / 1000;
        out(`[${result.completionTokens} tokens, ${(result.completionTokens / seconds).toFixed(1)} tokens/s]\n`);
      }
      messages.push({ role: 'assistant', content: response });
      out('\nUser: ');
    }
    out('\n');
    return 0;
  } finally {
    await model.close();
    // A terminal's stdin handle keeps the event loop alive after readline closes: `exit` would hang until Ctrl-D.
    const input = io.input as NodeJS.ReadStream;
    if (input.isTTY) input.destroy();
  }
}

/** The chat's own flags (not LLaMA-Factory arguments): --system and --show_speed. */
export function takeChatFlags(argv: readonly string[]): { rest: string[]; system?: string; showSpeed: boolean } {
  const rest: string[] = [];
  let system: string | undefined;
  let showSpeed = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    if (a === '--show_speed') showSpeed = true;
    else if (a.startsWith('--system=')) system = a.slice('--system='.length);
    else if (a === '--system') {
      const next = argv[i + 1];
      if (next === undefined)
        throw Object.assign(new Error('--system needs a value: --system "<prompt>"'), { userFacing: true });
      system = next;
      i++;
    } else rest.push(a);
  }
  return system === undefined ? { rest, showSpeed } : { rest, system, showSpeed };
}
