// Types for scripts/build-native.mjs, so tests/scripts/build-native.test.ts can import its functions.
export const BUILD_ENV: string[];
export function hashedFiles(root: string): string[];
export function nodedirArgs(): string[];
export function buildHash(
  root: string,
  opts?: { env?: Record<string, string | undefined>; args?: string[]; compiler?: string },
): string;
export function outputPaths(root: string): { binary: string; hashFile: string };
export function isCurrent(root: string, hash: string): boolean;
export function forced(argv?: string[], env?: Record<string, string | undefined>): boolean;
export function build(root: string, opts?: { gyp?: string; args?: string[] }): number;
