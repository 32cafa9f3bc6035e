/**
 * Checks, without running it, a command a doc block shows: the command exists and the arguments are ones it accepts
 * (each lmforge command's own parser reads them, config file included), and every repository file it names exists.
 * Used for blocks marked `<!-- test: check ... -->` (long jobs, models the reader downloads).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseApiArgs } from '../../src/cli/api.js';
import { parseChatArgs } from '../../src/cli/chat.js';
import { parseEvalCommandArgs } from '../../src/cli/eval.js';
import { parseExpandArgs } from '../../src/cli/expand.js';
import { parseKbArgs } from '../../src/cli/kb.js';
import { parseTokenizerArgs } from '../../src/cli/tokenizer.js';
import { parseWebuiArgs } from '../../src/cli/webui.js';
import { parseExportArgs } from '../../src/export/index.js';
import { parseTrainArgs } from '../../src/hparams/index.js';

/** Folders of this repository that commands read from: a path into them must exist. */
const REPO_INPUTS = /^(examples|docs|scripts|tests)\//;

export function checkCommand(argv: readonly string[], repo: string): void {
  const [program, ...rest] = argv;
  if (program === 'npx') {
    const [tool, ...args] = rest;
    if (tool === 'lmforge') checkLmforge(args, repo);
    else if (tool === 'tsx') checkPaths(args, repo);
    else throw new Error(`npx ${tool}: not a tool this repository provides`);
    return;
  }
  if (program === 'npm') {
    checkNpm(rest, repo);
    return;
  }
  if (program === 'curl') return;
  throw new Error(`${program}: the checked blocks may run npx lmforge, npm and curl only`);
}

function checkNpm(args: readonly string[], repo: string): void {
  const [sub, ...rest] = args;
  const scripts = (JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8')) as { scripts: Record<string, string> })
    .scripts;
  if (sub === 'install' || sub === 'ci' || sub === 'pack') return;
  if (sub === 'test') return;
  if (sub === 'run' && rest[0] !== undefined && rest[0] in scripts) return;
  throw new Error(`npm ${args.join(' ')}: not an npm command or a script in package.json`);
}

function checkLmforge(args: readonly string[], repo: string): void {
  const [command, ...rest] = args;
  checkPaths(rest, repo);
  switch (command) {
    case 'train':
      parseTrainArgs(rest);
      return;
    case 'chat':
      parseChatArgs(rest);
      return;
    case 'api':
      parseApiArgs(rest);
      return;
    case 'eval':
      parseEvalCommandArgs(rest);
      return;
    case 'export':
      parseExportArgs(rest);
      return;
    case 'tokenizer':
      parseTokenizerArgs(rest);
      return;
    case 'expand':
      parseExpandArgs(rest);
      return;
    case 'webui':
      parseWebuiArgs(rest);
      return;
    case 'kb':
      parseKbArgs(rest);
      return;
    default:
      throw new Error(
        `lmforge ${command}: not a command this block may leave unrun (data and env are quick: run them)`,
      );
  }
}

/** Every argument (or key=value's value) that points into the repository's own folders names a real file. */
function checkPaths(args: readonly string[], repo: string): void {
  for (const arg of args) {
    const value = arg.includes('=') && !arg.startsWith('-') ? arg.slice(arg.indexOf('=') + 1) : arg;
    if (REPO_INPUTS.test(value) && !existsSync(join(repo, value)))
      throw new Error(`${value} does not exist in the repository`);
  }
}
