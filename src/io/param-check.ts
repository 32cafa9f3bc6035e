/**
 * Compares the tensors a checkpoint holds with the parameters a config implies (`expectedParameters`), so a model
 * loader can refuse a mismatched checkpoint with one message that names every missing, unexpected and mis-shaped
 * tensor instead of failing on the first.
 */
import { formatShape, type Shape, shapeEquals } from '../engine/tensor.js';

export interface ParameterReport {
  readonly missing: readonly string[];
  readonly unexpected: readonly string[];
  readonly misshaped: readonly { name: string; expected: Shape; found: Shape }[];
  readonly ok: boolean;
}

/** `ignore(name)` marks checkpoint tensors that may be present without being parameters (e.g. rotary inv_freq). */
export function checkParameters(
  expected: ReadonlyMap<string, Shape>,
  found: ReadonlyMap<string, Shape>,
  ignore: (name: string) => boolean = () => false,
): ParameterReport {
  const missing = [...expected.keys()].filter((n) => !found.has(n));
  const unexpected = [...found.keys()].filter((n) => !expected.has(n) && !ignore(n));
  const misshaped: { name: string; expected: Shape; found: Shape }[] = [];
  for (const [name, shape] of expected) {
    const f = found.get(name);
    if (f && !shapeEquals(f, shape)) misshaped.push({ name, expected: shape, found: f });
  }
  return { missing, unexpected, misshaped, ok: missing.length + unexpected.length + misshaped.length === 0 };
}

/** A multi-line description of a failed report, naming `source` (the checkpoint folder). */
export function formatParameterReport(report: ParameterReport, source: string): string {
  const lines = [`${source} does not match the model config:`];
  const list = (names: readonly string[]) =>
    names.slice(0, 20).join(', ') + (names.length > 20 ? `, ... (${names.length - 20} more)` : '');
  if (report.missing.length) lines.push(`  missing (${report.missing.length}): ${list(report.missing)}`);
  if (report.unexpected.length) lines.push(`  unexpected (${report.unexpected.length}): ${list(report.unexpected)}`);
  for (const m of report.misshaped.slice(0, 20))
    lines.push(`  ${m.name}: expected ${formatShape(m.expected)}, found ${formatShape(m.found)}`);
  return lines.join('\n');
}
