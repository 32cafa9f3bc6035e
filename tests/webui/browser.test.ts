// The board in a real browser (issue #15 item 7): playwright-core driving Debian's Chromium (.ci/run installs it).
// Trains the tiny model from the Train tab to 100% with the loss chart drawn, aborts a second run and sees its
// checkpoint, chats with the first run's adapter and sees a streamed answer, exports the merged model, predicts
// with the adapter (metrics and a table of predictions) and runs a benchmark from the Evaluate & Predict tab,
// switches to Chinese. Screenshots of
// each tab (desktop and phone width) go to artifacts/webui/.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import { type Browser, chromium, type Page } from 'playwright-core';
import { type RunningBoard, startBoard } from '../../src/webui/serve.js';
import { tempDir } from '../util/tokenizers.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const REPO = resolve('.');
const SHOTS = join(REPO, 'artifacts', 'webui');

async function fillForm(page: Page, outputDir: string, maxSteps: number): Promise<void> {
  await page.fill('#output_dir', outputDir);
  await page.dispatchEvent('#output_dir', 'change');
  await page.fill('#max_steps', String(maxSteps));
}

test('train to 100%, abort a run, chat with the adapter, export, predict and evaluate, switch to Chinese — in Chromium', {
  skip: existsSync(CHROMIUM) ? false : `${CHROMIUM} is missing (apt-get install -y chromium fonts-wqy-microhei)`,
}, async () => {
  mkdirSync(SHOTS, { recursive: true });
  const work = tempDir('webui-browser');
  let board: RunningBoard | null = null;
  let browser: Browser | null = null;
  try {
    board = await startBoard({ host: '127.0.0.1', port: 0, token: null, workDirs: [work, REPO], pollMs: 200 });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    page.setDefaultTimeout(45_000);
    await page.goto(`${board.url}/`);
    await page.waitForSelector('body[data-ready=true]');

    // Top bar and data: the tiny model, its datasets, a preview with trained spans.
    await page.fill('#model', join(REPO, 'examples/tiny/base'));
    await page.dispatchEvent('#model', 'change');
    await page.selectOption('#template', 'qwen');
    await page.dispatchEvent('#template', 'change');
    await page.waitForSelector('#template-warning:not([hidden])'); // the tokenizer's own template is chatml's
    await page.fill('#dataset_dir', join(REPO, 'examples/data'));
    await page.dispatchEvent('#dataset_dir', 'change');
    await page.waitForSelector('#dataset option[value=tiny_sft]', { state: 'attached' });
    await page.selectOption('#dataset', 'tiny_sft');
    await page.fill('#cutoff_len', '48');
    await page.fill('#per_device_train_batch_size', '2');
    await page.fill('#gradient_accumulation_steps', '1');
    await page.fill('#learning_rate', '3e-3');
    await page.fill('#logging_steps', '1');
    await page.click('#preview-data');
    await page.waitForSelector('#preview .record .trained');
    await fillForm(page, 'saves/run1', 4);
    await page.click('#cmd-preview');
    await page.waitForSelector('#command:not([hidden])');
    assert.match((await page.textContent('#command')) ?? '', /^lmforge train \\\n\s+--model_name_or_path /);

    // Start: progress reaches 100% and the chart has its raw and smoothed lines.
    await page.click('#start');
    await page.waitForSelector('#progress-label[data-status=finished]', { timeout: 60_000 });
    assert.equal(await page.getAttribute('#progress', 'value'), '100');
    assert.match((await page.textContent('#progress-label')) ?? '', /4\/4/);
    const points = await page.getAttribute('#loss-chart polyline.smoothed', 'points');
    assert.equal(points?.trim().split(' ').length, 4);
    await page.screenshot({ path: join(SHOTS, 'train.png'), fullPage: true });

    // A second run, aborted after its first logged steps: it ends with a checkpoint.
    await fillForm(page, 'saves/run2', 300);
    await page.click('#start');
    await page.waitForSelector('#progress-label[data-status=running]');
    await page.waitForSelector('#loss-chart polyline.raw');
    await page.click('#abort');
    await page.waitForSelector('#progress-label[data-status=aborted]', { timeout: 60_000 });
    assert.match((await page.textContent('#progress-label')) ?? '', /checkpoint-\d+/);

    // Chat with the first run's adapter: the answer streams in.
    await page.click('#tab-chat');
    await page.waitForSelector('#adapter option[value="saves/run1"]', { state: 'attached' });
    await page.selectOption('#adapter', 'saves/run1');
    await page.click('#chat-load');
    await page.waitForSelector('#chat-status[data-loaded=true]');
    await page.fill('#max_new_tokens', '24');
    await page.fill('#query', 'Who are you?');
    await page.click('#send');
    // (page-side code as strings: the tests are compiled without the DOM library)
    await page.waitForFunction("(document.querySelector('.msg.assistant')?.textContent ?? '').length > 0");
    await page.screenshot({ path: join(SHOTS, 'chat.png'), fullPage: true });

    // Export: the adapter merged into the base as a Hugging Face checkpoint.
    await page.click('#tab-export');
    await page.fill('#export_dir', 'saves/merged');
    await page.click('#export-start');
    await page.waitForSelector('#export-status[data-status=finished]', { timeout: 60_000 });
    assert.ok(existsSync(join(work, 'saves/merged/config.json')), (await page.textContent('#export-log')) ?? '');
    await page.screenshot({ path: join(SHOTS, 'export.png'), fullPage: true });

    // Evaluate & Predict: do_predict with the adapter, then a benchmark; results as tables.
    await page.click('#tab-eval');
    await page.waitForSelector('#eval_dataset option[value=tiny_sft]', { state: 'attached' });
    await page.selectOption('#eval_dataset', 'tiny_sft');
    await page.fill('#predict_max_samples', '4');
    await page.fill('#per_device_eval_batch_size', '2');
    await page.fill('#predict_cutoff_len', '48');
    await page.fill('#predict_max_new_tokens', '8');
    await page.fill('#predict_metrics', 'bleu,rouge,exact_match');
    await page.fill('#predict_output_dir', 'saves/predict');
    await page.click('#predict-cmd');
    await page.waitForSelector('#predict-command:not([hidden])');
    assert.match((await page.textContent('#predict-command')) ?? '', /^lmforge train \\[\s\S]*--do_predict true/);
    await page.click('#predict-start');
    await page.waitForSelector('#predict-progress-label[data-status=finished]', { timeout: 60_000 });
    assert.match((await page.textContent('#predict-progress-label')) ?? '', /2\/2/);
    await page.waitForSelector('#predict-table tr:nth-child(5)'); // the heading and 4 predictions
    assert.match((await page.textContent('#predict-metrics')) ?? '', /predict_bleu-4[\s\S]*predict_exact_match/);
    assert.match((await page.textContent('#predict-table')) ?? '', /bleu-4: /);
    await page.fill('#bench_task_dir', join(REPO, 'examples/eval'));
    await page.fill('#bench_n_shot', '0');
    await page.fill('#bench_output_dir', 'saves/mmlu');
    await page.click('#bench-start');
    await page.waitForSelector('#bench-progress-label[data-status=finished]', { timeout: 60_000 });
    await page.waitForSelector('#bench-results tr:nth-child(2)');
    assert.match((await page.textContent('#bench-results')) ?? '', /Average[\s\S]*astronomy/);
    await page.screenshot({ path: join(SHOTS, 'eval.png'), fullPage: true });

    // Chinese labels, and the phone-width layout.
    await page.selectOption('#lang', 'zh');
    assert.equal(await page.textContent('#tab-train'), '训练');
    assert.equal(await page.textContent('label[for=model]'), '模型路径');
    assert.equal(await page.textContent('#tab-eval'), '评估与预测');
    await page.click('#tab-train');
    await page.screenshot({ path: join(SHOTS, 'train-zh.png'), fullPage: true });
    await page.setViewportSize({ width: 390, height: 844 });
    const overflow = (await page.evaluate('document.documentElement.scrollWidth - window.innerWidth')) as number;
    assert.ok(overflow <= 0, `the page is ${overflow}px wider than a phone`);
    await page.screenshot({ path: join(SHOTS, 'train-phone.png'), fullPage: true });
  } finally {
    await browser?.close();
    await board?.close();
  }
});
