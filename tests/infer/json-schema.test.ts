/**
 * The JSON-schema matcher behind response_format: which texts it accepts as complete, as prefixes, or refuses;
 * which schema keywords it refuses; and random walks over the bytes it allows always end in JSON that parses and
 * validates against the schema (checked by an independent validator).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { compileSchema, SchemaError } from '../../src/infer/json-schema/compile.js';
import { advance, advanceBytes, canEnd, initialStates, type Stack } from '../../src/infer/json-schema/matcher.js';
import { schemaViolation } from '../util/json-schema-validator.js';

const enc = new TextEncoder();

const PERSON = {
  type: 'object',
  properties: {
    name: { type: 'string', minLength: 1, maxLength: 5 },
    age: { type: 'integer' },
    score: { type: 'number' },
    tags: { type: 'array', items: { enum: ['a', 'b', 12] }, minItems: 1, maxItems: 2 },
    kid: { $ref: '#/$defs/kid' },
    mood: { const: 'ok' },
  },
  required: ['name', 'age'],
  additionalProperties: false,
  $defs: {
    kid: {
      anyOf: [
        { type: 'null' },
        {
          type: 'object',
          properties: { x: { type: ['number', 'boolean'] } },
          required: ['x'],
          additionalProperties: false,
        },
      ],
    },
  },
};

function status(schema: object, text: string | Uint8Array): 'complete' | 'prefix' | 'rejected' {
  const states = advanceBytes(initialStates(compileSchema(schema)), typeof text === 'string' ? enc.encode(text) : text);
  return states.length === 0 ? 'rejected' : canEnd(states) ? 'complete' : 'prefix';
}

test('object schemas: required keys in order, bounds, enums, anyOf through $ref', () => {
  const cases: [string, ReturnType<typeof status>][] = [
    ['{"name":"bob","age":3}', 'complete'],
    ['{"name":"bob","age":-30,"score":-0.5e+3,"tags":["a",12],"kid":{"x":true},"mood":"ok"}', 'complete'],
    ['{"name":"bob","age":3', 'prefix'],
    ['{"name":"","age":3}', 'rejected'], // minLength
    ['{"name":"bobbyy","age":3}', 'rejected'], // maxLength
    ['{"name":"b","age":1.5}', 'rejected'], // integer
    ['{"name":"b","age":01}', 'rejected'], // leading zero
    ['{"age":1,"name":"b"}', 'rejected'], // schema order
    ['{"name":"b"}', 'rejected'], // required age
    ['{"name":"b","age":1,"tags":[]}', 'rejected'], // minItems
    ['{"name":"b","age":1,"tags":["a","b","a"]}', 'rejected'], // maxItems
    ['{"name":"b","age":1,"tags":["c"]}', 'rejected'], // enum
    ['{"name":"b","age":1,"kid":null}', 'complete'],
    ['{"name":"b","age":1,"kid":{}}', 'rejected'],
    ['{"name":"b","age":1,"zz":1}', 'rejected'], // additionalProperties false
    ['{"name":"b","age":1} ', 'rejected'], // nothing after the value
    ['{"name":"\\u00e9\\n","age":0}', 'complete'],
    ['{"name":"\\x","age":0}', 'rejected'],
  ];
  for (const [text, expected] of cases) assert.equal(status(PERSON, text), expected, text);
});

test('strings take valid UTF-8 only and count characters, not bytes', () => {
  const s = { type: 'string', maxLength: 2 };
  assert.equal(status(s, '"é世"'), 'complete');
  assert.equal(status(s, '"é世x"'), 'rejected');
  assert.equal(status(s, Uint8Array.of(0x22, 0xe4, 0x22)), 'rejected'); // a broken sequence cannot close the string
  assert.equal(status(s, Uint8Array.of(0x22, 0xc0, 0x80)), 'rejected'); // overlong
  assert.equal(status(s, Uint8Array.of(0x22, 0x0a)), 'rejected'); // raw control character
});

test('an empty schema and json_object take any JSON; a top-level number may end or go on', () => {
  assert.equal(status({}, '[1,{"a":[true,null,"x"]},-2.5E-3]'), 'complete');
  assert.equal(status({ type: 'object' }, '{"a":{"b":[]}}'), 'complete');
  assert.equal(status({ type: 'object' }, '[1]'), 'rejected');
  assert.equal(status({ type: 'number' }, '12'), 'complete');
  assert.equal(status({ type: 'number' }, '12.'), 'prefix');
});

test('recursive $ref to the root', () => {
  const tree = {
    type: 'object',
    properties: { v: { type: 'integer' }, kids: { type: 'array', items: { $ref: '#' }, maxItems: 2 } },
    required: ['v'],
    additionalProperties: false,
  };
  assert.equal(status(tree, '{"v":1,"kids":[{"v":2,"kids":[{"v":3}]},{"v":4}]}'), 'complete');
  assert.equal(status(tree, '{"v":1,"kids":[{"w":2}]}'), 'rejected');
});

test('keywords the grammar cannot enforce are refused by name', () => {
  for (const [schema, keyword] of [
    [{ type: 'string', pattern: 'a+' }, 'pattern'],
    [{ type: 'string', format: 'email' }, 'format'],
    [{ oneOf: [{ type: 'string' }] }, 'oneOf'],
    [{ type: 'integer', minimum: 0 }, 'minimum'],
    [{ type: 'object', properties: { a: { type: 'array', uniqueItems: true } } }, 'uniqueItems'],
  ] as const)
    assert.throws(
      () => compileSchema(schema),
      (e: unknown) => e instanceof SchemaError && e.message.includes(`'${keyword}'`),
    );
  assert.throws(() => compileSchema({ $ref: '#/$defs/missing' }), /does not name a schema/);
  assert.throws(() => compileSchema({ type: 'object', required: ['a'] }), /not in properties/);
  assert.throws(() => compileSchema({ type: 'date' }), /expected object, string/);
});

/** mulberry32 */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

test('random walks over the allowed bytes always end in JSON valid against the schema', () => {
  const schemas = [PERSON, { type: 'array', items: { type: 'number' }, maxItems: 3 }, { type: 'object' }];
  for (const [k, schema] of schemas.entries()) {
    const root = compileSchema(schema);
    let finished = 0;
    for (let seed = 0; seed < 60; seed++) {
      const random = rng(seed * 7 + k);
      let states: Stack[] = initialStates(root);
      const bytes: number[] = [];
      for (let step = 0; step < 400; step++) {
        if (canEnd(states) && random() < 0.3) break;
        const options: number[] = [];
        for (let b = 0; b < 256; b++) if (advance(states, b).length > 0) options.push(b);
        if (options.length === 0) break;
        // Prefer closing bytes so walks end (the schemas' bounds do the rest).
        const closers = options.filter((b) => b === 0x22 || b === 0x7d || b === 0x5d);
        const pool = closers.length > 0 && random() < 0.4 ? closers : options;
        const b = pool[Math.floor(random() * pool.length)] as number;
        bytes.push(b);
        states = advance(states, b);
      }
      if (!canEnd(states)) continue;
      finished++;
      const text = new TextDecoder('utf-8', { fatal: true }).decode(Uint8Array.from(bytes));
      const value = JSON.parse(text);
      assert.equal(schemaViolation(value, schema), null, text);
    }
    assert.ok(finished >= 40, `only ${finished} of 60 walks finished for schema ${k}`);
  }
});
