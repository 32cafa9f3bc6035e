/** Every problem found in the arguments, reported at once so the user fixes them in one go. */
export class HparamsError extends Error {
  /** The CLI prints `message` without a stack for errors marked user-facing. */
  readonly userFacing = true;
  constructor(readonly problems: string[]) {
    super(
      problems.length === 1
        ? (problems[0] as string)
        : `${problems.length} problems with the arguments:\n${problems.map((p) => `  - ${p}`).join('\n')}`,
    );
    this.name = 'HparamsError';
  }
}
