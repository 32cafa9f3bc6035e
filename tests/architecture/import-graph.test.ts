/**
 * Architecture rules for the two biggest rooms (issue #22): no import circle through a file of src/train or
 * src/models, and no file there over 400 lines (a file that grows past that holds more than one concept).
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { findCircles, type ImportGraph, importGraph } from '../util/import-graph.js';

const GUARDED = ['src/train/', 'src/models/'];
const MAX_LINES = 400;

test('the circle finder reports every circle, self-imports included, and nothing in a tree', () => {
  const graph: ImportGraph = new Map([
    ['a', ['b']],
    ['b', ['c', 'd']],
    ['c', ['a']],
    ['d', ['e']],
    ['e', []],
    ['f', ['f']],
  ]);
  const circles = findCircles(graph).map((c) => c.join(' -> '));
  assert.deepEqual(circles.sort(), ['a -> b -> c -> a', 'f -> f']);
  assert.deepEqual(
    findCircles(
      new Map([
        ['a', ['b', 'c']],
        ['b', ['c']],
        ['c', []],
      ]),
    ),
    [],
  );
});

test('the graph reads imports, import type, re-exports and index folders', () => {
  const graph = importGraph('src');
  const causalLm = graph.get('src/models/causal-lm.ts') ?? [];
  assert.ok(causalLm.includes('src/models/model.ts'), 're-export of model.ts');
  assert.ok(causalLm.includes('src/models/family.ts'), 'type re-export of family.ts');
  assert.ok((graph.get('src/models/model.ts') ?? []).includes('src/engine/index.ts'));
});

test('no import circle passes through src/train or src/models', () => {
  const circles = findCircles(importGraph('src')).filter((c) => c.some((f) => GUARDED.some((g) => f.startsWith(g))));
  assert.deepEqual(
    circles.map((c) => c.join(' -> ')),
    [],
    'break each circle: move what both files need into a module both may import',
  );
});

test(`no file in src/train or src/models is over ${MAX_LINES} lines`, () => {
  const long: string[] = [];
  const walk = (dir: string): string[] =>
    readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
      e.isDirectory() ? walk(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
    );
  for (const dir of GUARDED)
    for (const file of walk(dir)) {
      const lines = readFileSync(file, 'utf8').split('\n').length - 1;
      if (lines > MAX_LINES) long.push(`${file}: ${lines} lines`);
    }
  assert.deepEqual(long, [], 'split these by concern');
});
