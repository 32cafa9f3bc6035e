// One spelling for every command (issue #11 item 3): LLaMA-Factory's names from a YAML, key=value and --key value,
// booleans as a bare flag or followed by true/false/True/False/1/0, and the old spellings as aliases.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { COMMANDS } from '../../src/cli/main.js';
import { tempDir } from '../util/tokenizers.js';

type Groups = Record<string, Record<string, unknown>>;

/** What each command needs besides the argument under test to parse (eval needs a task, export a folder). */
const REQUIRED: Record<string, string[]> = { eval: ['--task', 'mmlu_test'], export: ['--export_dir', '/out'] };
/** The commands that take no arguments. */
const ARGUMENTLESS = ['env', 'help', 'version'];

const parsers = Object.entries(COMMANDS).filter(([name]) => !ARGUMENTLESS.includes(name));

async function parse(name: string, argv: string[]): Promise<Groups> {
  const required = argv.includes('--task') ? [] : (REQUIRED[name] ?? []);
  const parsed = (await COMMANDS[name]!.parse!([...argv, ...required])) as Groups & { groups?: Groups };
  return parsed.groups ?? parsed;
}

test('every command but env/help/version has a parser (a new command must add one)', () => {
  for (const [name, command] of Object.entries(COMMANDS)) {
    if (!ARGUMENTLESS.includes(name)) assert.equal(typeof command.parse, 'function', name);
  }
  assert.ok(parsers.length >= 5);
});

test('every command takes --model_name_or_path from flags, key=value and a YAML', async () => {
  const yaml = join(tempDir('spelling'), 'cfg.yaml');
  // A training YAML: keys other commands do not take are skipped by them, not refused.
  writeFileSync(yaml, 'model_name_or_path: /from/yaml\nlearning_rate: 1.0e-4\ntemplate: qwen\n');
  for (const [name] of parsers) {
    for (const argv of [['--model_name_or_path', '/m'], ['--model_name_or_path=/m'], ['model_name_or_path=/m']]) {
      const groups = await parse(name, argv);
      assert.equal(groups.model?.model_name_or_path, '/m', `${name} ${argv.join(' ')}`);
    }
    const fromYaml = await parse(name, [yaml]);
    assert.equal(fromYaml.model?.model_name_or_path, '/from/yaml', `${name} yaml`);
    assert.equal(fromYaml.data?.template, 'qwen', `${name} yaml`);
    const overridden = await parse(name, [yaml, 'model_name_or_path=/over']);
    assert.equal(overridden.model?.model_name_or_path, '/over', `${name} yaml + key=value`);
  }
});

test('every command takes booleans as --flag, --flag true|false|True|False|1|0, --flag=v and flag=v', async () => {
  const trueForms = [['--train_on_prompt'], ...['true', 'True', '1'].map((v) => ['--train_on_prompt', v])];
  trueForms.push(['--train_on_prompt=True'], ['train_on_prompt=1']);
  // enable_thinking defaults to true, so each false form is seen to be read.
  const falseForms = ['false', 'False', '0'].map((v) => ['--enable_thinking', v]);
  falseForms.push(['--enable_thinking=false'], ['enable_thinking=False']);
  for (const [name] of parsers) {
    for (const form of trueForms) {
      const groups = await parse(name, ['--model_name_or_path', '/m', ...form, '--template', 'qwen']);
      assert.equal(groups.data?.train_on_prompt, true, `${name} ${form.join(' ')}`);
      assert.equal(groups.data?.template, 'qwen', `${name} ${form.join(' ')}: the next flag is still read`);
    }
    for (const form of falseForms) {
      const groups = await parse(name, ['--model_name_or_path', '/m', ...form]);
      assert.equal(groups.data?.enable_thinking, false, `${name} ${form.join(' ')}`);
    }
    await assert.rejects(parse(name, ['--model_name_or_path', '/m', '--train_on_prompt=maybe']), /expected a boolean/);
  }
});

test('old spellings stay as aliases: --model (data) and --system (chat)', async () => {
  const data = await parse('data', ['--model', '/m', '--dataset', 'a,b']);
  assert.equal(data.model?.model_name_or_path, '/m');
  assert.deepEqual(data.data?.dataset, ['a', 'b']);
  const chat = await parse('chat', ['--model', '/m', '--system', 'be brief', '--show_speed', 'False']);
  assert.equal(chat.data?.default_system, 'be brief');
  assert.equal(chat.chat?.show_speed, false);
  const api = await parse('api', ['--model_name_or_path', '/m', '--port', '9000', 'host=127.0.0.1']);
  assert.equal(api.server?.port, 9000);
  assert.equal(api.server?.host, '127.0.0.1');
});

test("eval's --split is read as LLaMA-Factory reads the task's split", async () => {
  const split = await parse('eval', ['--model_name_or_path', '/m', '--task', 'mmlu', '--split', 'validation']);
  assert.equal(split.evaluation?.task, 'mmlu_validation');
  const same = await parse('eval', [
    '--model_name_or_path',
    '/m',
    '--task',
    'ceval_validation',
    '--split',
    'validation',
  ]);
  assert.equal(same.evaluation?.task, 'ceval_validation');
  await assert.rejects(
    parse('eval', ['--model_name_or_path', '/m', '--task', 'mmlu_test', '--split', 'validation']),
    /--split validation contradicts --task mmlu_test .*use --task mmlu_validation/,
  );
  await assert.rejects(
    parse('eval', ['--model_name_or_path', '/m', '--split', 'dev']),
    /must be one of test, validation/,
  );
});
