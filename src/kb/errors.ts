/** Knowledge-base errors the user can cause (bad path, unknown knowledge base, bad argument): printed as one line. */
export class KbError extends Error {
  readonly userFacing = true;
  override name = 'KbError';
}
