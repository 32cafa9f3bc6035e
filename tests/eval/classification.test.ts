/** Classification metrics over generated labels: per-label, macro and micro precision/recall/F1, worked by hand. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ClassificationTally } from '../../src/eval/classification.js';

const close = (a: number, b: number, what: string) => assert.ok(Math.abs(a - b) < 1e-9, `${what}: ${a} vs ${b}`);

test('a label set: per-label scores, their macro mean and the micro average from the summed counts', () => {
  const tally = new ClassificationTally(['pos', 'neg', 'neu']);
  const pairs: [string, string][] = [
    [' pos', 'pos'], // tp pos
    ['pos', 'neg'], // fp pos, fn neg
    ['neg', 'neg'], // tp neg
    ['maybe', 'neu'], // fn neu; "maybe" is no label: nobody's false positive
    ['neg\n', 'neg'], // tp neg
  ];
  assert.deepEqual(
    pairs.map(([p, g]) => tally.add(p, g)),
    [true, false, true, false, true],
  );
  close(tally.accuracy(), 60, 'accuracy');
  const m = tally.metrics({ precision: true, recall: true, f1: true });
  // pos: tp 1, fp 1, fn 0 -> p 50, r 100, f1 66.67; neg: tp 2, fp 0, fn 1 -> p 100, r 66.67, f1 80; neu: all 0.
  close(m.predict_precision_pos!, 50, 'p pos');
  close(m.predict_recall_neg!, 200 / 3, 'r neg');
  close(m.predict_f1_pos!, 200 / 3, 'f1 pos');
  close(m.predict_f1_neg!, 80, 'f1 neg');
  assert.equal(m.predict_f1_neu, 0);
  close(m.predict_precision_macro!, 50, 'p macro');
  close(m.predict_recall_macro!, (100 + 200 / 3) / 3, 'r macro');
  close(m.predict_f1_macro!, (200 / 3 + 80) / 3, 'f1 macro');
  // micro: tp 3, fp 1, fn 2 -> p 75, r 60, f1 66.67
  close(m.predict_precision_micro!, 75, 'p micro');
  close(m.predict_recall_micro!, 60, 'r micro');
  close(m.predict_f1_micro!, 200 / 3, 'f1 micro');
});

test('without a label set the gold labels seen are the set, and only the asked metrics are reported', () => {
  const tally = new ClassificationTally(null);
  tally.add('a', 'a');
  tally.add('b', 'a'); // b is no gold label: only a's recall pays
  tally.add('a', 'c');
  const m = tally.metrics({ precision: false, recall: true, f1: false });
  assert.deepEqual(Object.keys(m).sort(), ['predict_recall_macro', 'predict_recall_micro']);
  // a: tp 1, fn 1 -> r 50; c: fn 1 -> r 0
  close(m.predict_recall_macro!, 25, 'macro');
  close(m.predict_recall_micro!, 100 / 3, 'micro');
});
