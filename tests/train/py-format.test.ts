import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatTimedelta, pyJsonDumps, pyRound } from '../../src/train/index.js';
import { pythonFloatRepr as pyFloatRepr } from '../../src/util/python-json.js';

// Expected strings are what CPython 3 prints for the same values.
test('floats print like Python repr', () => {
  const cases: [number, string][] = [
    [5e-5, '5e-05'],
    [1e-4, '0.0001'],
    [1e-5, '1e-05'],
    [2.5e-7, '2.5e-07'],
    [3, '3.0'],
    [100, '100.0'],
    [-1.5, '-1.5'],
    [0.1, '0.1'],
    [123.456, '123.456'],
    [1e15, '1000000000000000.0'],
    [1e16, '1e+16'],
    [1.2345e16, '1.2345e+16'],
    [0, '0.0'],
    [Number.NaN, 'NaN'],
    [Number.POSITIVE_INFINITY, 'Infinity'],
  ];
  for (const [x, s] of cases) assert.equal(pyFloatRepr(x), s, String(x));
});

test('round() breaks exact ties to even, on the binary value', () => {
  assert.equal(pyRound(0.125, 2), 0.12);
  assert.equal(pyRound(0.375, 2), 0.38);
  assert.equal(pyRound(2.675, 2), 2.67); // 2.675 is stored just below the tie
  assert.equal(pyRound(2.5, 0), 2);
  assert.equal(pyRound(3.5, 0), 4);
  assert.equal(pyRound(100 / 3, 2), 33.33);
  assert.equal(pyRound(-0.125, 2), -0.12);
});

test('timedelta strings', () => {
  assert.equal(formatTimedelta(0), '0:00:00');
  assert.equal(formatTimedelta(65.9), '0:01:05');
  assert.equal(formatTimedelta(86400 + 3661), '1 day, 1:01:01');
  assert.equal(formatTimedelta(2 * 86400), '2 days, 0:00:00');
});

test('json.dumps layout: separators, indent, sorted keys, ASCII escapes, typed numbers', () => {
  assert.equal(
    pyJsonDumps({ current_steps: 5, loss: 2, lr: 5e-5, s: 'é"' }, { intKeys: new Set(['current_steps']) }),
    '{"current_steps": 5, "loss": 2.0, "lr": 5e-05, "s": "\\u00e9\\""}',
  );
  assert.equal(
    pyJsonDumps({ b: [1, 2], a: {}, c: [] }, { indent: 2, sortKeys: true, intKeys: new Set(['b']) }),
    '{\n  "a": {},\n  "b": [\n    1,\n    2\n  ],\n  "c": []\n}',
  );
  assert.equal(pyJsonDumps('😀'), '"\\ud83d\\ude00"');
});
