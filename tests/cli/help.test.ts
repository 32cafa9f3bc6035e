import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { test } from 'node:test';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** `lmforge ...args` as a child; stdout, stderr and the exit code. */
async function lmforge(...args: string[]): Promise<{ out: string; err: string; code: number }> {
  try {
    const r = await run(process.execPath, ['--import', 'tsx', 'bin/lmforge.js', ...args]);
    return { out: r.stdout, err: r.stderr, code: 0 };
  } catch (e) {
    const x = e as { stdout: string; stderr: string; code: number };
    return { out: x.stdout, err: x.stderr, code: x.code };
  }
}

const usageLines = (text: string) => text.split('\n').filter((l) => l.startsWith('Usage:'));

test('each command -h prints its own Usage line, once', async () => {
  const commands = ['train', 'eval', 'chat', 'api', 'data', 'export'];
  const results = await Promise.all(commands.map((c) => lmforge(c, '-h')));
  commands.forEach((c, i) => {
    const { out, code } = results[i]!;
    assert.equal(code, 0, c);
    const usage = usageLines(out);
    assert.equal(usage.length, 1, `${c}: ${usage.join(' | ')}`);
    assert.ok(usage[0]!.startsWith(`Usage: lmforge ${c} `), `${c}: ${usage[0]}`);
  });
  const [, evalHelp, , , dataHelp, exportHelp] = results.map((r) => r.out);
  assert.match(exportHelp!, /--export_dir /);
  assert.match(exportHelp!, /--adapter_name_or_path /);
  assert.doesNotMatch(exportHelp!, /--lora_rank|--learning_rate/);
  assert.match(evalHelp!, /--task /);
  assert.match(evalHelp!, /--model_name_or_path /);
  assert.doesNotMatch(evalHelp!, /--rope_scaling|--lora_rank|--learning_rate/);
  assert.ok(evalHelp!.split('\n').length < 80, 'eval -h lists only the eval arguments');
  assert.match(dataHelp!, /preview/);
  assert.match(dataHelp!, /stats/);
  assert.match(dataHelp!, /--dataset NAME/);
  assert.match(dataHelp!, /--model_name_or_path DIR .*--model for short/);
});

test('top-level help names every train stage', async () => {
  const { out, code } = await lmforge('-h');
  assert.equal(code, 0);
  assert.match(out, /train .*pt, sft, rm, dpo\/orpo\/simpo, kto, ppo/);
});

test('LLaMA-Factory commands not here yet say so; unknown ones suggest the closest command', async () => {
  const webchat = await lmforge('webchat');
  assert.equal(webchat.code, 2);
  assert.match(webchat.err, /lmforge webchat is not available yet in this version/);
  assert.match(webchat.err, /Commands:\n[\s\S]*chat[\s\S]*train/);
  assert.match(webchat.err, /lmforge webui/);
  const typo = await lmforge('trian');
  assert.equal(typo.code, 2);
  assert.match(typo.err, /unknown command 'trian'\. Did you mean 'train'\?/);
  const none = await lmforge('zzzzzz');
  assert.doesNotMatch(none.err, /Did you mean/);
});

test('lmforge version, --version and -v print the package version', async () => {
  const pkg = JSON.parse((await import('node:fs')).readFileSync('package.json', 'utf8')) as { version: string };
  for (const arg of ['version', '--version', '-v']) {
    const { out, code } = await lmforge(arg);
    assert.equal(code, 0);
    assert.equal(out.trim(), pkg.version);
  }
});

test('lmforge help lists every command with one line each; help <command> shows its -h', async () => {
  const { COMMANDS } = await import('../../src/cli/main.js');
  const { out, code } = await lmforge('help');
  assert.equal(code, 0);
  const rows = out.split('\n').filter((l) => /^ {2}\w/.test(l));
  assert.deepEqual(
    rows.map((l) => l.trim().split(/\s+/)[0]),
    Object.keys(COMMANDS),
  );
  for (const name of ['version', 'env', 'help', 'train', 'chat', 'api', 'eval', 'data']) {
    assert.ok(
      rows.some((l) => l.trim().startsWith(`${name} `)),
      name,
    );
  }
  const evalHelp = await lmforge('help', 'eval');
  assert.equal(evalHelp.code, 0);
  assert.match(evalHelp.out, /^Usage: lmforge eval /m);
  assert.match(evalHelp.out, /--split /);
});

test('lmforge env prints versions, CPU, ISA, threads, memory and the native addon', async () => {
  const { out, code } = await lmforge('env');
  assert.equal(code, 0);
  const rows = new Map(
    out
      .trim()
      .split('\n')
      .map((l) => {
        const m = /^- ([^:]+): (.*)$/.exec(l);
        assert.ok(m, `not a '- key: value' line: ${l}`);
        return [m[1]!, m[2]!] as const;
      }),
  );
  assert.equal(rows.get('Node.js version'), process.version);
  assert.equal(rows.get('V8 version'), process.versions.v8);
  assert.match(rows.get('lmforge version')!, /^\d+\.\d+\.\d+/);
  assert.match(rows.get('CPU')!, /\(\d+ logical CPUs\)/);
  assert.match(rows.get('memory')!, /GiB total, .* GiB free/);
  assert.match(rows.get('instruction set')!, /^(portable|avx2|avx512)/);
  assert.match(rows.get('instruction sets available')!, /^portable/);
  assert.match(rows.get('threads')!, /^\d+ /);
  assert.match(rows.get('physical cores')!, /^\d+$/);
  assert.match(rows.get('native addon')!, /lmforge\.node$/);
  assert.match(rows.get('native addon sha256')!, /^[0-9a-f]{64}$/);
  const capped = await run(process.execPath, ['--import', 'tsx', 'bin/lmforge.js', 'env'], {
    env: { ...process.env, LMFORGE_ISA: 'portable' },
  });
  assert.match(capped.stdout, /^- instruction set: portable \(capped by LMFORGE_ISA=portable\)$/m);
});

test('data preview/stats -h name the LLaMA-Factory spellings they take', async () => {
  for (const sub of ['preview', 'stats']) {
    const { out, code } = await lmforge('data', sub, '-h');
    assert.equal(code, 0);
    assert.match(out, new RegExp(`^Usage: lmforge data ${sub} \\[config\\.yaml\\] .*--model_name_or_path DIR`, 'm'));
    assert.match(out, /--flag true\|false\|True\|False\|1\|0/);
  }
});
