import assert from 'node:assert/strict';
import { test } from 'node:test';
import { StopStringFilter, truncateAtStop } from '../../src/infer/stop-strings.js';

function run(stops: string[], pieces: string[]): { shown: string[]; stopped: boolean; tail: string } {
  const f = new StopStringFilter(stops);
  const shown: string[] = [];
  let stopped = false;
  for (const p of pieces) {
    const r = f.push(p);
    shown.push(r.text);
    if ((stopped = r.stopped)) break;
  }
  return { shown, stopped, tail: f.flush() };
}

test('holds back a possible stop-string start and releases it when it cannot be one', () => {
  assert.deepEqual(run(['###'], ['ab#', '#c', 'd']), { shown: ['ab', '##c', 'd'], stopped: false, tail: '' });
  assert.deepEqual(run(['###'], ['ab#', '#']), { shown: ['ab', ''], stopped: false, tail: '##' });
});

test('a stop string split over pieces ends the text before it', () => {
  assert.deepEqual(run(['##'], ['A', 'B#', '#C', 'D']), { shown: ['A', 'B', ''], stopped: true, tail: '' });
  assert.deepEqual(run(['END'], ['xE', 'N', 'Dy']), { shown: ['x', '', ''], stopped: true, tail: '' });
});

test('the earliest of several stop strings wins; empty stop strings are ignored', () => {
  assert.deepEqual(run(['cd', 'b'], ['abcd']), { shown: ['a'], stopped: true, tail: '' });
  assert.deepEqual(run([''], ['abc']), { shown: ['abc'], stopped: false, tail: '' });
  assert.deepEqual(truncateAtStop('hello world', ['o w', 'l']), { text: 'he', stopped: true });
  assert.deepEqual(truncateAtStop('hello', ['z']), { text: 'hello', stopped: false });
  assert.deepEqual(truncateAtStop('hello', []), { text: 'hello', stopped: false });
});

test('pushing after a stop emits nothing', () => {
  const f = new StopStringFilter(['x']);
  assert.deepEqual(f.push('ax'), { text: 'a', stopped: true });
  assert.deepEqual(f.push('more'), { text: '', stopped: true });
  assert.equal(f.flush(), '');
});
