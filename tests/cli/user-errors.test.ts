// Every user error is one clear message on every command (issue #20 item 4): exit 1, the file or field named, no
// stack frames unless LMFORGE_DEBUG=1; an unexpected error says it is a bug and where its saved trace is.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { cpSync, existsSync, readFileSync, truncateSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { reportFailure, setReportDir } from '../../src/cli/failure.js';
import { HparamsError } from '../../src/hparams/index.js';
import { tempDir } from '../util/tokenizers.js';

const run = promisify(execFile);

async function lmforge(args: string[], env: Record<string, string> = {}) {
  try {
    const r = await run(process.execPath, ['--import', 'tsx', 'bin/lmforge.js', ...args], {
      env: { ...process.env, ...env },
    });
    return { out: r.stdout, err: r.stderr, code: 0 };
  } catch (e) {
    const x = e as { stdout: string; stderr: string; code: number };
    return { out: x.stdout, err: x.stderr, code: x.code };
  }
}

const FRAME = /^\s+at /m;

/** A scratch copy of the bundled model and data, with one file broken per case. */
function fixtures() {
  const root = tempDir('user-errors');
  const model = join(root, 'model');
  cpSync('examples/tiny/base', model, { recursive: true });
  const truncated = join(root, 'truncated');
  cpSync(model, truncated, { recursive: true });
  truncateSync(join(truncated, 'model.safetensors'), 1000);
  const noField = join(root, 'no-field');
  cpSync(model, noField, { recursive: true });
  const cfg = JSON.parse(readFileSync(join(noField, 'config.json'), 'utf8'));
  delete cfg.hidden_size;
  writeFileSync(join(noField, 'config.json'), JSON.stringify(cfg));
  const data = join(root, 'data');
  cpSync('examples/data', data, { recursive: true });
  writeFileSync(join(data, 'broken.json'), '[{"instruction": "x",');
  const info = JSON.parse(readFileSync(join(data, 'dataset_info.json'), 'utf8'));
  info.broken = { file_name: 'broken.json' };
  writeFileSync(join(data, 'dataset_info.json'), JSON.stringify(info));
  const badInfo = join(root, 'bad-info');
  cpSync('examples/data', badInfo, { recursive: true });
  writeFileSync(join(badInfo, 'dataset_info.json'), '{"tiny_sft": ');
  return { root, model, truncated, noField, data, badInfo };
}

test('user errors on every command: exit 1, one message naming the file or field, no stack frames', async () => {
  const f = fixtures();
  const trainArgs = (model: string, dataset: string, dir = f.data) => [
    'train',
    ...['--model_name_or_path', model, '--dataset', dataset, '--dataset_dir', dir, '--template', 'qwen'],
    ...['--do_train', '--output_dir', join(f.root, `out-${Math.random().toString(36).slice(2)}`)],
  ];
  const dataArgs = (dataset: string, dir = f.data) => [
    ...['data', 'stats', '--model_name_or_path', f.model, '--dataset', dataset, '--dataset_dir', dir],
  ];
  const evalArgs = (model: string) => [
    ...['eval', '--model_name_or_path', model, '--task', 'mmlu_test', '--task_dir', 'examples/eval'],
  ];
  const cases: Array<[string[], RegExp]> = [
    [trainArgs(f.model, 'tiny_sft', f.badInfo), /bad-info\/dataset_info\.json/],
    [trainArgs(f.model, 'nope'), /Undefined dataset "nope"/],
    [trainArgs(f.model, 'broken'), /broken\.json: malformed JSON/],
    [trainArgs(f.truncated, 'tiny_sft'), /truncated\/model\.safetensors: truncated/],
    [trainArgs(f.noField, 'tiny_sft'), /config\.json: "hidden_size": is required/],
    [[...trainArgs(f.model, 'tiny_sft'), '--use_apollo', 'true'], /use_apollo: true is not supported/],
    [dataArgs('tiny_sft', f.badInfo), /bad-info\/dataset_info\.json/],
    [dataArgs('nope'), /Undefined dataset "nope"/],
    [dataArgs('broken'), /broken\.json: malformed JSON/],
    [['chat', '--model_name_or_path', f.truncated], /model\.safetensors: truncated/],
    [['chat', '--model_name_or_path', f.noField], /"hidden_size": is required/],
    [['chat', '--model_name_or_path', f.model, '--num_beams', '4'], /num_beams: 4 is not supported/],
    [['api', '--model_name_or_path', f.noField, '--port', '0'], /"hidden_size": is required/],
    [['api', '--model_name_or_path', f.model, '--port', 'x'], /port: expected an integer/],
    [evalArgs(f.truncated), /model\.safetensors: truncated/],
    [evalArgs(join(f.root, 'missing')), /missing is not a local Hugging Face model folder/],
  ];
  // Two at a time: each is a process start plus at most a model header read.
  for (let i = 0; i < cases.length; i += 2) {
    const batch = cases.slice(i, i + 2);
    const results = await Promise.all(batch.map(([args]) => lmforge(args)));
    batch.forEach(([args, pattern], k) => {
      const r = results[k]!;
      const what = args.slice(0, 2).join(' ');
      assert.equal(r.code, 1, `${what}: ${r.err}`);
      assert.match(r.err, pattern, what);
      assert.match(r.err, new RegExp(`^lmforge ${args[0]}: `, 'm'), what);
      assert.doesNotMatch(r.err, FRAME, `${what} printed a stack:\n${r.err}`);
      assert.doesNotMatch(r.err, /Node\.js v\d/, what);
    });
  }
  // LMFORGE_DEBUG=1 adds the trace.
  const debug = await lmforge(['chat', '--model_name_or_path', f.noField], { LMFORGE_DEBUG: '1' });
  assert.equal(debug.code, 1);
  assert.match(debug.err, FRAME);
});

test('an unexpected error says it is a bug, where to report it, and saves the trace (output_dir, else a temp file)', () => {
  const lines: string[] = [];
  const io = { error: (l: string) => lines.push(l), env: {} };
  const bug = new TypeError("Cannot read properties of undefined (reading 'x')");
  const dir = tempDir('crash');
  setReportDir(dir);
  try {
    assert.equal(reportFailure(bug, 'train', ['cfg.yaml'], '0.1.0', io), 1);
  } finally {
    setReportDir(undefined);
  }
  const text = lines.join('\n');
  assert.match(text, /lmforge train: unexpected error \(a bug in lmforge, not in your setup\): Cannot read/);
  assert.match(text, /Please report it to the lmforge issue tracker/);
  const file = /The full trace is in (\S+)\./.exec(text)?.[1];
  assert.ok(file && existsSync(file), text);
  assert.equal(dirname(file), dir);
  const trace = readFileSync(file, 'utf8');
  assert.match(trace, /command: lmforge train cfg\.yaml/);
  assert.match(trace, /TypeError: Cannot read properties/);
  assert.match(trace, FRAME);
  assert.doesNotMatch(text, FRAME, 'the trace goes to the file, not the terminal');

  // Without a known output folder the trace goes to a temp file.
  lines.length = 0;
  reportFailure(new Error('boom'), 'chat', [], '0.1.0', io);
  const tmpFile = /The full trace is in (\S+)\./.exec(lines.join('\n'))?.[1];
  assert.ok(tmpFile && existsSync(tmpFile) && dirname(tmpFile) !== dir);

  // A user error writes no file and shows no frames.
  lines.length = 0;
  assert.equal(reportFailure(new HparamsError(['cutoff_len: expected an integer']), 'train', [], '0.1.0', io), 1);
  assert.deepEqual(lines, ['lmforge train: cutoff_len: expected an integer']);
  // A system error about a user's path reads as a message.
  lines.length = 0;
  const enoent = Object.assign(new Error("ENOENT: no such file or directory, open '/x/y'"), {
    code: 'ENOENT',
    path: '/x/y',
  });
  reportFailure(enoent, 'data', [], '0.1.0', io);
  assert.deepEqual(lines, ['lmforge data: /x/y: no such file or folder (ENOENT)']);
});

test('an error thrown outside the command (a callback, an unawaited promise) is reported as a bug, not a raw trace', async () => {
  // What bin/lmforge.js installs: the same report as a failed command, trace in a file, exit 1.
  const script = [
    "import { installCrashHandlers } from './src/cli/main.ts';",
    "installCrashHandlers(['api', '--port', '0']);",
    "setTimeout(() => { throw new RangeError('late failure'); }, 1);",
    "Promise.reject(new Error('unawaited')).catch(() => {});",
  ].join('\n');
  for (const source of [
    script,
    script.replace(
      "setTimeout(() => { throw new RangeError('late failure'); }, 1);",
      "Promise.reject(new RangeError('late failure'));",
    ),
  ]) {
    let r: { stderr: string; code: number };
    try {
      await run(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', source]);
      assert.fail('the process should exit 1');
    } catch (e) {
      r = e as { stderr: string; code: number };
    }
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /lmforge api: unexpected error \(a bug in lmforge, not in your setup\): late failure/);
    assert.doesNotMatch(r.stderr, FRAME);
    const file = /The full trace is in (\S+)\./.exec(r.stderr)?.[1];
    assert.ok(file && existsSync(file), r.stderr);
    assert.match(readFileSync(file, 'utf8'), /RangeError: late failure/);
  }
});

test('a missing optional package (the knowledge base, text-to-SQL) is one line saying what to install', () => {
  const lines: string[] = [];
  const io = { error: (l: string) => lines.push(l), env: {} };
  const missing = Object.assign(new Error("Cannot find package 'mammoth' imported from /app/src/kb/loaders/docx.ts"), {
    code: 'ERR_MODULE_NOT_FOUND',
  });
  assert.equal(reportFailure(missing, 'kb', ['add', 'notes'], '0.1.0', io), 1);
  assert.equal(lines.length, 1, lines.join('\n'));
  const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as { peerDependencies: Record<string, string> };
  assert.match(
    lines[0]!,
    new RegExp(`needs mammoth.*npm install --save-exact .*mammoth@${pkg.peerDependencies.mammoth}`),
  );
  assert.match(lines[0]!, /better-sqlite3@/);
  // Any other missing module is a bug in lmforge, reported as one.
  lines.length = 0;
  const other = Object.assign(new Error("Cannot find package 'left-pad' imported from /x.js"), {
    code: 'ERR_MODULE_NOT_FOUND',
  });
  reportFailure(other, 'kb', [], '0.1.0', io);
  assert.match(lines.join('\n'), /unexpected error/);
});
