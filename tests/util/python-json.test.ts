import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pyFloat, pythonFloatRepr, pythonJsonDumps } from '../../src/util/python-json.js';

test('float repr matches Python repr()', () => {
  // Values and the text CPython 3 prints for repr(float(x)).
  const cases: [number, string][] = [
    [0, '0.0'],
    [-0, '-0.0'],
    [1, '1.0'],
    [10000, '10000.0'],
    [0.02, '0.02'],
    [1e-5, '1e-05'],
    [1e-6, '1e-06'],
    [0.0001, '0.0001'],
    [0.00012, '0.00012'],
    [1.5e-7, '1.5e-07'],
    [500000, '500000.0'],
    [1e16, '1e+16'],
    [1.2345e17, '1.2345e+17'],
    [123456789012345.6, '123456789012345.6'],
    [-2.5, '-2.5'],
    [0.1 + 0.2, '0.30000000000000004'],
    [Number.NaN, 'NaN'],
    [Number.POSITIVE_INFINITY, 'Infinity'],
  ];
  for (const [x, want] of cases) assert.equal(pythonFloatRepr(x), want, String(x));
});

test('dumps matches json.dumps(indent=2, sort_keys=True), ensure_ascii included', () => {
  const text = pythonJsonDumps(
    { b: [1, pyFloat(2), []], a: { z: null, y: true }, c: 'é"\n\u0001', d: {}, e: 0.5 },
    { indent: 2, sortKeys: true },
  );
  assert.equal(
    text,
    '{\n  "a": {\n    "y": true,\n    "z": null\n  },\n  "b": [\n    1,\n    2.0,\n    []\n  ],\n' +
      '  "c": "\\u00e9\\"\\n\\u0001",\n  "d": {},\n  "e": 0.5\n}',
  );
  assert.equal(pythonJsonDumps({ a: [1, 2], b: 'x' }), '{"a": [1, 2], "b": "x"}');
});
