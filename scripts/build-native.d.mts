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
export function sourceHash(root: string): string;
export function prebuildPaths(root: string, platform?: string, arch?: string): { binary: string; sourcesFile: string };
export function targetNapi(root: string): number;
export const NO_PREBUILD: string;
export function prebuildProblem(root: string, opts?: { napi?: string | undefined }): string | null;
export function installPrebuild(root: string, hash: string): void;
