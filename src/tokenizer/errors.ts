/** A tokenizer directory that cannot be loaded, or a request the loaded tokenizer cannot serve. */
export class TokenizerError extends Error {
  override name = 'TokenizerError';
  readonly userFacing = true;
}
