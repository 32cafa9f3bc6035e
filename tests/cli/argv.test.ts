// parseFlags: the LLaMA-Factory spellings (`--flag False`, `key=value`, `--model_name_or_path`) for commands that
// parse their own flags.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseFlags } from '../../src/cli/argv.js';

const OPTIONS = {
  model: { type: 'string' },
  packing: { type: 'boolean' },
  mask_history: { type: 'boolean', default: true },
  count: { type: 'string', default: '1' },
} as const;

test("booleans take a bare flag, a following true/false word in any of Python's spellings, or =value", () => {
  assert.equal(parseFlags(['--packing'], OPTIONS).values.packing, true);
  assert.equal(parseFlags(['--packing', 'True'], OPTIONS).values.packing, true);
  assert.equal(parseFlags(['--packing', 'False'], OPTIONS).values.packing, false);
  assert.equal(parseFlags(['--packing=0'], OPTIONS).values.packing, false);
  assert.equal(parseFlags(['--packing', 'true', '--count', '3'], OPTIONS).values.count, '3');
  // An explicit false overrides the option's default of true.
  assert.equal(parseFlags(['--mask_history', 'false'], OPTIONS).values.mask_history, false);
  assert.equal(parseFlags([], OPTIONS).values.mask_history, true);
  // A word that is not a boolean after a boolean flag stays a positional, as parseArgs would read it.
  assert.deepEqual(parseFlags(['--packing', 'data.json'], OPTIONS).positionals, ['data.json']);
  assert.throws(() => parseFlags(['--packing=maybe'], OPTIONS), /--packing takes true or false, not 'maybe'/);
});

test('key=value words and aliases spell the same option', () => {
  const aliases = { model_name_or_path: 'model' };
  assert.equal(parseFlags(['model_name_or_path=/m'], OPTIONS, aliases).values.model, '/m');
  assert.equal(parseFlags(['--model_name_or_path', '/m'], OPTIONS, aliases).values.model, '/m');
  assert.equal(parseFlags(['--model_name_or_path=/m'], OPTIONS, aliases).values.model, '/m');
  assert.equal(parseFlags(['packing=False'], OPTIONS).values.packing, false);
  assert.throws(() => parseFlags(['--nope', 'x'], OPTIONS), /Unknown option '--nope'/);
});
