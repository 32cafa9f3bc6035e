/** `lmforge <command>`: a thin face over the library. Each command lives in its own file under src/cli/. */
import { didYouMean } from '../hparams/did-you-mean.js';
import { reportFailure } from './failure.js';
import { version } from './version.js';

export interface Command {
  describe: string;
  run: (args: string[]) => Promise<number>;
  /**
   * Reads the command's arguments without running it (the shared parser; tests check every command takes
   * LLaMA-Factory's spellings). Absent for the commands that take none.
   */
  parse?: (args: string[]) => Promise<{ groups?: Record<string, Record<string, unknown>> } | object>;
}

export const COMMANDS: Record<string, Command> = {
  // Commands load on use, so data commands run where the native engine is not built.
  api: {
    describe: 'serve a model over an OpenAI-compatible API (chat, completions, embeddings)',
    run: async (args) => (await import('./api.js')).apiCommand(args),
    parse: async (args) => (await import('./api.js')).parseApiArgs(args),
  },
  chat: {
    describe: 'chat with a model in the terminal (clear resets the history, exit quits)',
    run: async (args) => (await import('./chat.js')).chatCommand(args),
    parse: async (args) => (await import('./chat.js')).parseChatArgs(args),
  },
  data: {
    describe: 'preview and measure tokenized datasets (preview, stats)',
    run: async (args) => (await import('./data.js')).dataCommand(args),
    parse: async (args) => (await import('./data.js')).parseDataArgs(args),
  },
  env: {
    describe: 'versions, CPU, instruction set, threads, memory and native addon (paste it into bug reports)',
    run: async (args) => (await import('./env.js')).envCommand(args),
  },
  eval: {
    describe: 'multiple-choice benchmarks (MMLU, C-Eval, CMMLU) with a model',
    run: async (args) => (await import('./eval.js')).evalCommand(args),
    parse: async (args) => (await import('./eval.js')).parseEvalCommandArgs(args),
  },
  help: {
    describe: "this list; lmforge help <command> shows that command's options",
    run: async (args) => helpCommand(args),
  },
  expand: {
    describe: 'LLaMA Pro block expansion: insert zero-initialised layers to train with use_llama_pro',
    run: async (args) => (await import('./expand.js')).expandCommand(args),
    parse: async (args) => (await import('./expand.js')).parseExpandArgs(args),
  },
  export: {
    describe: 'merge LoRA adapters into the model and write a Hugging Face checkpoint (+ tokenizer, Modelfile)',
    run: async (args) => (await import('./export.js')).exportCommand(args),
    parse: async (args) => (await import('../export/index.js')).parseExportArgs(args),
  },
  tokenizer: {
    describe: "train a byte-level BPE tokenizer, extend a model's vocabulary with it, measure tokens per character",
    run: async (args) => (await import('./tokenizer.js')).tokenizerCommand(args),
    parse: async (args) => (await import('./tokenizer.js')).parseTokenizerArgs(args),
  },
  kb: {
    describe: 'a local knowledge base over your files: create, add, remove, list, search, ask, chat (with sources)',
    run: async (args) => (await import('./kb.js')).kbCommand(args),
    parse: async (args) => (await import('./kb.js')).parseKbArgs(args),
  },
  train: {
    describe:
      'fine-tune or pre-train a model from a LLaMA-Factory-style YAML (stages pt, sft, rm, dpo/orpo/simpo, kto, ppo)',
    run: async (args) => (await import('./train.js')).trainCommand(args),
    parse: async (args) => (await import('../hparams/index.js')).parseTrainArgs(args),
  },
  webui: {
    describe: 'the browser board (LlamaBoard): train and watch runs, chat; 127.0.0.1:7860 unless --host/--port',
    run: async (args) => (await import('./webui.js')).webuiCommand(args),
    parse: async (args) => (await import('./webui.js')).parseWebuiArgs(args),
  },
  version: {
    describe: 'print the lmforge version (also --version, -v)',
    run: async () => {
      console.log(version());
      return 0;
    },
  },
};

/** LLaMA-Factory commands lmforge does not have yet: named plainly rather than answered "unknown command". */
const NOT_YET: Record<string, string> = {
  webchat:
    'chat in lmforge webui (its Chat tab), in the terminal with lmforge chat, or run lmforge api and point an OpenAI-compatible web chat client ' +
    'at http://localhost:8000/v1',
};

function usage(): string {
  const rows = Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(10)} ${c.describe}`);
  return [
    'Usage: lmforge <command> [options]',
    '',
    'Commands:',
    ...rows,
    '',
    'lmforge <command> -h (or lmforge help <command>) shows its options.',
  ].join('\n');
}

async function helpCommand(args: string[]): Promise<number> {
  const [topic] = args;
  if (topic === undefined) {
    console.log(usage());
    return 0;
  }
  if (COMMANDS[topic] && topic !== 'help') return COMMANDS[topic].run(['-h']);
  return main([topic]);
}

/**
 * For the `lmforge` process only (bin/lmforge.js): an error thrown outside main's await chain (a stream or socket
 * callback, a rejected promise nobody awaited) is reported like any failed command, not as Node's raw trace.
 */
export function installCrashHandlers(argv: readonly string[]): void {
  const [name = 'lmforge', ...rest] = argv;
  const fail = (e: unknown) => {
    process.exitCode = reportFailure(e, name, rest, version());
    process.exit();
  };
  process.on('uncaughtException', fail);
  process.on('unhandledRejection', fail);
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '-h' || name === '--help') {
    console.log(usage());
    return 0;
  }
  if (name === '-v' || name === '--version') {
    console.log(version());
    return 0;
  }
  const command = COMMANDS[name];
  if (!command) {
    const later = NOT_YET[name];
    if (later) {
      console.error(`lmforge ${name} is not available yet in this version; ${later}.\n\n${usage()}`);
      return 2;
    }
    const guess = didYouMean(name, Object.keys(COMMANDS));
    const hint = guess ? ` Did you mean '${guess}'?` : '';
    console.error(`lmforge: unknown command '${name}'.${hint}\n\n${usage()}`);
    return 2;
  }
  try {
    return await command.run(rest);
  } catch (e) {
    return reportFailure(e, name, rest, version());
  }
}
