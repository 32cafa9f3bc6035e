// The board's Knowledge-base tab in Chromium (issue #16 item 6): create a knowledge base in a work dir, add a
// folder of files, see the documents, search with scores, ask with the Chat tab's tiny model (streamed answer and
// numbered sources), remove a document, and read the tab in Chinese. Screenshot: artifacts/webui/kb.png.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import { type Browser, chromium } from 'playwright-core';
import { type RunningBoard, startBoard } from '../../src/webui/serve.js';
import { tempDir } from '../util/tokenizers.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const REPO = resolve('.');
const SHOTS = join(REPO, 'artifacts', 'webui');

test('the Knowledge-base tab creates, adds, lists, searches, asks and removes, in English and Chinese', {
  skip: existsSync(CHROMIUM) ? false : `${CHROMIUM} is missing (apt-get install -y chromium fonts-wqy-microhei)`,
}, async () => {
  mkdirSync(SHOTS, { recursive: true });
  const work = tempDir('webui-kb');
  mkdirSync(join(work, 'docs'));
  writeFileSync(join(work, 'docs', 'cats.md'), '# Cats\n\nThe cat sat on the mat in the sunny kitchen.\n');
  writeFileSync(join(work, 'docs', 'poem.txt'), '床前明月光，疑是地上霜。举头望明月，低头思故乡。\n');
  let board: RunningBoard | null = null;
  let browser: Browser | null = null;
  try {
    board = await startBoard({ host: '127.0.0.1', port: 0, token: null, workDirs: [work, REPO], pollMs: 200 });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    page.setDefaultTimeout(45_000);
    await page.goto(`${board.url}/`);
    await page.waitForSelector('body[data-ready=true]');

    await page.click('#tab-kb');
    await page.waitForSelector('#panel-kb:not([hidden])');
    await page.fill('#kb_root', join(work, 'kbs'));
    await page.fill('#kb_name', 'notes');
    await page.click('#kb-create');
    await page.waitForSelector('#kb_select option[value=notes]', { state: 'attached' });
    await page.fill('#kb_paths', join(work, 'docs'));
    await page.click('#kb-add');
    await page.waitForFunction("document.querySelectorAll('#kb-docs li').length === 2");
    assert.match((await page.textContent('#kb-message')) ?? '', /2 files/);

    await page.fill('#kb_query', 'where did the cat sit');
    await page.click('#kb-search');
    await page.waitForSelector('#kb-hits li');
    assert.match((await page.textContent('#kb-hits li')) ?? '', /cats\.md \(Cats\)[\s\S]*cat sat on the mat/);

    await page.click('#kb-ask');
    await page.waitForSelector('#kb-message.warning'); // no model yet: the tab says where to load one
    assert.match((await page.textContent('#kb-message')) ?? '', /Chat tab/);
    await page.fill('#model', join(REPO, 'examples/tiny/base'));
    await page.dispatchEvent('#model', 'change');
    await page.click('#tab-chat');
    await page.click('#chat-load');
    await page.waitForSelector('#chat-status[data-loaded=true]');
    await page.click('#tab-kb');
    await page.click('#kb-ask');
    await page.waitForSelector('#kb-answer[data-done=true]');
    assert.ok(((await page.textContent('#kb-answer')) ?? '').length > 0, 'a streamed answer');
    assert.match((await page.textContent('#kb-hits')) ?? '', /cats\.md[\s\S]*cat sat on the mat/);
    await page.screenshot({ path: join(SHOTS, 'kb.png'), fullPage: true });

    await page.click('#kb-docs li button');
    await page.waitForFunction("document.querySelectorAll('#kb-docs li').length === 1");

    await page.selectOption('#lang', 'zh');
    assert.equal(await page.textContent('#tab-kb'), '知识库');
    assert.equal(await page.textContent('#kb-search'), '检索');
  } finally {
    await browser?.close();
    await board?.close();
  }
});
