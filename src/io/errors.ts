/**
 * The error every reader and writer in src/io throws for a malformed or unsupported file: it names the file and,
 * where one is at fault, the tensor or JSON key, so a user can find the problem without a debugger.
 */
export class FormatError extends Error {
  /** A malformed file is the user's to fix: the CLI prints the message without a stack. */
  readonly userFacing = true;
  constructor(
    readonly file: string,
    readonly key: string | null,
    problem: string,
  ) {
    super(`${file}${key === null ? '' : `: "${key}"`}: ${problem}`);
    this.name = 'FormatError';
  }
}
