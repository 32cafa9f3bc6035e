/** Where a template refuses its input (a wrong role order, a bad function message, an unknown tool format...). */
export class TemplateError extends Error {
  override name = 'TemplateError';
  /** The user's data or arguments are at fault: the CLI prints the message without a stack. */
  readonly userFacing = true;
}
