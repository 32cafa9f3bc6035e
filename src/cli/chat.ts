/**
 * `lmforge chat cfg.yaml | --model_name_or_path dir [--template t] [--system "..."] [--show_speed]`: LLaMA-Factory's
 * terminal chat. Reads stdin line by line (a pipe works too), streams the answer, keeps the history; `clear`
 * forgets it, `exit` (or end of input) quits. The model runs in-process: the terminal has nothing else to do.
 * A family with paged attention decodes through the scheduler, as `lmforge api` does (one request at a time),
 * which yields between steps: Ctrl-C during an answer then aborts that answer (the turn is not kept) and the chat
 * goes on; Ctrl-C at the prompt, or during a generate()-decoded answer, quits.
 */
import { createInterface } from 'node:readline';
import { CHAT_GROUPS, formatHelp, INFER_GROUPS } from '../hparams/index.js';
import { parseInferArgs } from '../infer/chat-args.js';
import { type GenerationResult, isAbortError, type Message } from '../infer/chat-engine.js';
import { ChatModel } from '../infer/chat-model.js';
import { isContextLengthError } from '../infer/context-limit.js';

export interface ChatIo {
  input: NodeJS.ReadableStream;
  output: NodeJS.WritableStream;
  /** Emits 'SIGINT' on Ctrl-C (default: process). */
  interrupts?: NodeJS.EventEmitter;
}

const WELCOME =
  'Welcome to the CLI application, use `clear` to remove the history, use `exit` to exit the application.';

const TOO_LONG_HINT = 'This message was not added to the history; `clear` forgets the history.';
const INTERRUPTED = '(interrupted: this message and its answer were not added to the history)';

export async function chatCommand(
  argv: string[],
  io: ChatIo = { input: process.stdin, output: process.stdout },
): Promise<number> {
  const interrupts = io.interrupts ?? process;
  if (argv.includes('-h') || argv.includes('--help')) {
    console.log(
      formatHelp(INFER_GROUPS, 'chat', {
        extra: [
          '',
          'Type a message and Enter; `clear` forgets the history, `exit` (or Ctrl-D, Ctrl-C) quits.',
          'Ctrl-C while an answer streams stops that answer (families with paged attention).',
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
      // Only while an answer is decoded, and only when decoding yields to the event loop (else the handler would
      // run after the answer, and swallow the Ctrl-C that should have quit); installed before "Assistant: " shows, so
      // a Ctrl-C the user sends on seeing it finds it.
      const interrupt = new AbortController();
      const onInterrupt = () => interrupt.abort();
      if (model.runner?.yieldsWhileGenerating) interrupts.on('SIGINT', onInterrupt);
      out('Assistant: ');
      const started = performance.now();
      let response = '';
      let result: GenerationResult;
      try {
        result = await model.chatLive(
          messages,
          {},
          (piece) => {
            response += piece.text;
            if (piece.text) out(piece.text);
          },
          interrupt.signal,
        );
      } catch (e) {
        // One turn too long for the context, or aborted, ends that turn, not the chat: the history stays as it was.
        if (isAbortError(e) && interrupt.signal.aborted) {
          messages.pop();
          out(`\n${INTERRUPTED}\n\nUser: `);
          continue;
        }
        if (!isContextLengthError(e)) throw e;
        messages.pop();
        out(`(no reply) ${(e as Error).message} ${TOO_LONG_HINT}\n\nUser: `);
        continue;
      } finally {
        interrupts.off('SIGINT', onInterrupt);
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
