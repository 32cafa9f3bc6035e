#!/usr/bin/env node
// The lmforge command. Sources are TypeScript, run through tsx's loader (a dependency), so nothing is compiled
// ahead of time and stack traces point at the .ts files.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../src/cli/main.ts');
process.exitCode = await main(process.argv.slice(2));
