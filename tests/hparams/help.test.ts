import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EVAL_GROUPS, formatDefault, formatHelp, TRAIN_GROUPS } from '../../src/hparams/index.js';

test('-h lists every argument of every group with its type, default and help', () => {
  const help = formatHelp();
  for (const group of Object.values(TRAIN_GROUPS)) {
    for (const [name, spec] of Object.entries(group)) {
      const line = help.split('\n').find((l) => l.startsWith(`  --${name} `));
      assert.ok(line, `--${name} missing from -h`);
      assert.ok(line.includes(`(default: ${formatDefault(spec.default)})`), `${name}: ${line}`);
      assert.ok(help.includes(spec.help.split(' ').slice(0, 4).join(' ')), `${name}'s help missing`);
    }
  }
  assert.match(help, /--lr_scheduler_type \{linear,cosine,cosine_with_restarts,/);
  assert.match(help, /--deepspeed STR\? {2}\(default: None\)\n.*\n.*\[ignored here: DeepSpeed/);
  for (const title of [
    'Model arguments:',
    'Data arguments:',
    'Fine-tuning arguments:',
    'Training arguments',
    'Generating arguments:',
  ]) {
    assert.ok(help.includes(title), title);
  }
});

test('argument names are unique across the groups a command parses', () => {
  for (const groups of [TRAIN_GROUPS, EVAL_GROUPS]) {
    const seen = new Set<string>();
    for (const group of Object.values(groups)) {
      for (const name of Object.keys(group)) {
        assert.ok(!seen.has(name), `${name} is declared twice`);
        seen.add(name);
      }
    }
  }
});
