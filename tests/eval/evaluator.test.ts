import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseEvalCommandArgs } from '../../src/cli/eval.js';
import type { Message } from '../../src/data/converters.js';
import { type ChoiceScorer, EvalDataError, loadSubject, parseTask, runEvaluation } from '../../src/eval/index.js';

const TASK_DIR = join(import.meta.dirname, '..', '..', 'examples', 'eval');
const tmp = () => mkdtempSync(join(tmpdir(), 'lmf-eval-'));

/** Always the same letter. */
const always = (letter: number): ChoiceScorer => ({
  choiceLogits: async (prompts) => prompts.map(() => [0, 1, 2, 3].map((i) => (i === letter ? 1 : 0))),
});

/** Knows the answer to every question (by its last user message) in `answers`. */
function oracle(answers: Map<string, string>): ChoiceScorer {
  return {
    choiceLogits: async (prompts) =>
      prompts.map((p) => {
        const letter = answers.get(p.at(-1)!.content);
        assert.ok(letter, `unexpected prompt ${JSON.stringify(p.at(-1)!.content)}`);
        return ['A', 'B', 'C', 'D'].map((l) => (l === letter ? 5 : -1));
      }),
  };
}

test('MMLU, 0-shot: exact prompts, accuracy table, results.json, results.log and results_detail.json', async () => {
  const saveDir = join(tmp(), 'out');
  const seen: Message[][] = [];
  const batchSizes: number[] = [];
  const result = await runEvaluation(
    { task: 'mmlu_test', taskDir: TASK_DIR, nShot: 0, lang: 'en', batchSize: 2, seed: 42, saveDir },
    always(0),
    {
      onBatch: (_, b) => {
        batchSizes.push(b.length);
        seen.push(...b.map((m) => [...m]));
      },
    },
  );
  assert.deepEqual(batchSizes, [2, 1, 2]); // astronomy (3 questions), philosophy (2), in mapping.json order
  assert.deepEqual(seen[0], [
    {
      role: 'user',
      content:
        'The following are multiple choice questions (with answers) about astronomy.\n\n' +
        "What is the main fuel of a main-sequence star's core?\nA. Helium fusion\nB. Hydrogen fusion\nC. Carbon burning\n" +
        'D. Neutron decay\nAnswer:',
    },
  ]);
  assert.equal(
    seen[3]![0]!.content,
    'The following are multiple choice questions (with answers) about philosophy.\n\n' +
      '"I think, therefore I am" is associated with which philosopher?\nA. Descartes\nB. Locke\nC. Spinoza\nD. Hobbes\nAnswer:',
  );
  // Answers: astronomy B, A, C; philosophy A, D. Always 'A': 1/3 STEM, 1/2 Humanities, 2/5 overall.
  assert.deepEqual(result.corrects, { astronomy: [false, true, false], philosophy: [true, false] });
  assert.deepEqual(result.scores, { Average: 100 * (2 / 5), STEM: 100 * (1 / 3), Humanities: 100 * (1 / 2) }); // 100 * np.mean
  const table = '        Average: 40.00\n           STEM: 33.33\n     Humanities: 50.00';
  assert.equal(result.scoreInfo, table);
  assert.equal(readFileSync(join(saveDir, 'results.log'), 'utf8'), table);
  assert.equal(
    readFileSync(join(saveDir, 'results.json'), 'utf8'),
    '{\n  "astronomy": {\n    "0": "A",\n    "1": "A",\n    "2": "A"\n  },\n  "philosophy": {\n    "0": "A",\n    "1": "A"\n  }\n}',
  );
  // Each question's choice, gold answer and verdict, per subject.
  const detail = {
    astronomy: [
      { index: 0, choice: 'A', gold: 'B', correct: false },
      { index: 1, choice: 'A', gold: 'A', correct: true },
      { index: 2, choice: 'A', gold: 'C', correct: false },
    ],
    philosophy: [
      { index: 0, choice: 'A', gold: 'A', correct: true },
      { index: 1, choice: 'A', gold: 'D', correct: false },
    ],
  };
  assert.deepEqual(result.questions, detail);
  assert.deepEqual(JSON.parse(readFileSync(join(saveDir, 'results_detail.json'), 'utf8')), detail);
  await assert.rejects(
    runEvaluation(
      { task: 'mmlu_test', taskDir: TASK_DIR, nShot: 0, lang: 'en', batchSize: 2, seed: 42, saveDir },
      always(0),
    ),
    /already exists/,
  );
});

test('MMLU, 2-shot: the dev examples come first as answered turns, the subject line on the first turn only', async () => {
  const shots = [
    'Which planet is closest to the Sun?\nA. Venus\nB. Mercury\nC. Earth\nD. Mars\nAnswer:',
    'What holds a planet in its orbit around a star, above all else?\nA. Magnetism\nB. Friction\nC. Gravity\n' +
      'D. Radiation pressure\nAnswer:',
  ];
  const shotAnswers = ['B', 'C'];
  const prompts: Message[][] = [];
  const answers = new Map([
    [
      "What is the main fuel of a main-sequence star's core?\nA. Helium fusion\nB. Hydrogen fusion\nC. Carbon burning\nD. Neutron decay\nAnswer:",
      'B',
    ],
    [
      'Light from a receding galaxy is shifted toward longer wavelengths. What is this called?\nA. Redshift\nB. Blueshift\nC. Parallax\nD. Aberration\nAnswer:',
      'A',
    ],
    [
      'Which object has an escape velocity greater than the speed of light?\nA. A neutron star\nB. A white dwarf\nC. A black hole\nD. A red giant\nAnswer:',
      'C',
    ],
    [
      '"I think, therefore I am" is associated with which philosopher?\nA. Descartes\nB. Locke\nC. Spinoza\nD. Hobbes\nAnswer:',
      'A',
    ],
    [
      'Utilitarianism judges actions mainly by their\nA. intentions\nB. duties\nC. virtues\nD. consequences\nAnswer:',
      'D',
    ],
  ]);
  const result = await runEvaluation(
    { task: 'mmlu_test', taskDir: TASK_DIR, nShot: 2, lang: 'en', batchSize: 4, seed: 7 },
    oracle(answers),
    { onBatch: (s, b) => s === 'astronomy' && prompts.push(...b.map((m) => [...m])) },
  );
  assert.deepEqual(result.scores, { Average: 100, STEM: 100, Humanities: 100 });
  const system = 'The following are multiple choice questions (with answers) about astronomy.\n\n';
  for (const p of prompts) {
    assert.equal(p.length, 5);
    const order = p[0]!.content.endsWith(shots[0]!) ? [0, 1] : [1, 0];
    assert.deepEqual(p.slice(0, 4), [
      { role: 'user', content: system + shots[order[0]!]! },
      { role: 'assistant', content: shotAnswers[order[0]!]! },
      { role: 'user', content: shots[order[1]!]! },
      { role: 'assistant', content: shotAnswers[order[1]!]! },
    ]);
    assert.equal(p[4]!.role, 'user');
  }
});

test('C-Eval validation (zh template, val/ folder, header with id and explanation)', async () => {
  const seen: Message[][] = [];
  const result = await runEvaluation(
    { task: 'ceval_validation', taskDir: TASK_DIR, nShot: 0, lang: 'zh', batchSize: 8, seed: 1 },
    always(0),
    { onBatch: (_, b) => seen.push(...b.map((m) => [...m])) },
  );
  assert.equal(
    seen[0]![0]!.content,
    '以下是中国关于计算机网络考试的单项选择题，请选出其中的正确答案。\n\n' +
      '在OSI参考模型中，负责路由选择的是____。\nA. 物理层\nB. 数据链路层\nC. 网络层\nD. 传输层\n答案：',
  );
  // computer_network C, C, A (1 of 3 is 'A'); high_school_geography B, C (0 of 2).
  assert.equal(result.scoreInfo, '        Average: 20.00\n           STEM: 33.33\nSocial Sciences: 0.00');
});

test('CMMLU test (index column, Question/Answer headers), 1-shot zh', async () => {
  const seen: Message[][] = [];
  const result = await runEvaluation(
    { task: 'cmmlu_test', taskDir: TASK_DIR, nShot: 1, lang: 'zh', batchSize: 3, seed: 3 },
    always(0),
    { onBatch: (_, b) => seen.push(...b.map((m) => [...m])) },
  );
  const first = seen[0]!;
  assert.equal(first.length, 3);
  assert.match(first[0]!.content, /^以下是中国关于农学考试的单项选择题，请选出其中的正确答案。\n\n(水稻|植物)/);
  assert.equal(
    first[2]!.content,
    '土壤中能被植物直接吸收的氮主要是？\nA. 铵态氮和硝态氮\nB. 有机氮\nC. 氮气\nD. 蛋白质\n答案：',
  );
  // agronomy A, C, B, D (1 of 4, Other); ancient_chinese B, A (1 of 2, Social Sciences).
  assert.equal(result.scoreInfo, '        Average: 33.33\nSocial Sciences: 50.00\n          Other: 25.00');
});

test('cells are typed as pandas types them and cast to strings as datasets does', () => {
  const dir = tmp();
  mkdirSync(join(dir, 'mmlu', 'test'), { recursive: true });
  writeFileSync(
    join(dir, 'mmlu', 'test', 'x_test.csv'),
    'Q1,True,0.5,NA,007,A\nQ2,FALSE,1,text,8,B\n"Q3, with comma",true,,None,9,C\n',
  );
  const rows = loadSubject(dir, 'mmlu', 'x', 'test');
  assert.deepEqual(
    rows.map((r) => [r.question, r.A, r.B, r.C, r.D, r.answer]),
    [
      ['Q1', 'true', '0.5', 'None', '7', 'A'],
      ['Q2', 'false', '1', 'text', '8', 'B'],
      ['Q3, with comma', 'true', 'nan', 'None', '9', 'C'],
    ],
  );
  assert.throws(() => loadSubject(dir, 'mmlu', 'y', 'test'), /Missing test data for subject 'y'/);
});

test('arguments and task names', () => {
  assert.deepEqual(parseTask('ceval_validation'), { name: 'ceval', split: 'validation' });
  assert.throws(() => parseTask('mmlu'), EvalDataError);
  assert.throws(() => parseTask('mmlu_dev'), /<benchmark>_<split>/);
  // The command's arguments go through the shared parser (tests/cli/spelling.test.ts checks its spellings).
  const m = ['--model_name_or_path', 'm'];
  assert.deepEqual(parseEvalCommandArgs([...m, '--task', 'mmlu_test']).evalArgs, {
    task: 'mmlu_test',
    taskDir: 'evaluation',
    batchSize: 4,
    seed: 42,
    lang: 'en',
    nShot: 5,
  });
  assert.deepEqual(
    parseEvalCommandArgs([
      ...m,
      '--task=cmmlu_test',
      ...['--task_dir', 'd', '--n_shot', '0', '--lang', 'zh', '--batch_size', '8', '--save_dir', 's', 'seed=1'],
    ]).evalArgs,
    { task: 'cmmlu_test', taskDir: 'd', batchSize: 8, seed: 1, lang: 'zh', nShot: 0, saveDir: 's' },
  );
  assert.throws(() => parseEvalCommandArgs([...m, '--task', 'x_test', '--shots', '2']), /unknown argument 'shots'/);
  assert.throws(() => parseEvalCommandArgs([...m, '--lang', 'fr', '--task', 'x_test']), /must be one of en, zh/);
  assert.throws(() => parseEvalCommandArgs(m), /task is required/);
});

test('a missing mapping.json says where the benchmark belongs', async () => {
  await assert.rejects(
    runEvaluation({ task: 'mmlu_test', taskDir: tmp(), nShot: 0, lang: 'en', batchSize: 1, seed: 1 }, always(0)),
    /mapping\.json does not exist/,
  );
});
