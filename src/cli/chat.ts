/**
 * `lmforge chat cfg.yaml | --model_name_or_path dir [--template t] [--system "..."] [--show_speed]`: LLaMA-Factory's
 * terminal chat. Reads stdin line by line (a pipe works too), streams the answer, keeps the history; `clear`
 * forgets it, `exit` (or end of input) quits. The model runs in-process: the terminal has nothing else to do.
 */
import { createInterface } from 'node:readline';
import { CHAT_GROUPS, formatHelp, INFER_GROUPS } from '../hparams/index.js';
import { parseInferArgs } from '../infer/chat-args.js';
import type { GenerationResult, Message } from '../infer/chat-engine.js';
import { ChatModel } from '../infer/chat-model.js';
import { isContextLengthError } from '../infer/context-limit.js';

export interface ChatIo {
  input: NodeJS.ReadableStream;
  output: NodeJS.WritableStream;
}

const WELCOME =
  'Welcome to the CLI application, use `clear` to remove the history, use `exit` to exit the application.';

const TOO_LONG_HINT = 'This message was not added to the history; `clear` forgets the history.';

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
          '  --system <text>   system prompt (the same as --default_system)',
          '  --show_speed      print tokens/s after each answer',
        ],
      }),
    );
    return 0;
  }
  const { model: args, notes, loaded, groups } = parseChatArgs(argv);
  const showSpeed = groups.chat?.show_speed === true;
  for (const note of notes) console.error(`[lmforge] note: ${note}`);
  if (loaded) console.error(`[lmforge] ${loaded}`);
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
      let result: GenerationResult;
      try {
        result = await model.chatLive(messages, {}, (piece) => {
          response += piece.text;
          if (piece.text) out(piece.text);
        });
      } catch (e) {
        if (!isContextLengthError(e)) throw e;
        // One turn too long for the context ends that turn, not the chat: the history stays as it was.
        messages.pop();
        out(`(no reply) ${(e as Error).message} ${TOO_LONG_HINT}\n\nUser: `);
        continue;
      }
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

/** `lmforge chat`'s arguments: inference ones plus --show_speed (`--system` is default_system). */
export function parseChatArgs(argv: readonly string[]) {
  return parseInferArgs(argv, CHAT_GROUPS, 'chat');
}
