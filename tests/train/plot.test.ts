import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { Resvg } from '@resvg/resvg-js';
import {
  lossChartSvg,
  niceTicks,
  plotFileName,
  plotLoss,
  renderLossChart,
  smooth,
  systemFontsAvailable,
  TrainerState,
} from '../../src/train/index.js';

test('smooth matches LLaMA-Factory: EMA with weight 1.8 * (sigmoid(0.05 n) - 0.5)', () => {
  // n = 3: weight = 1.8 * (1 / (1 + e^-0.15) - 0.5) = 0.06737372161874929 (CPython).
  const got = smooth([1, 2, 3]);
  const expected = [1, 1.9326262783812507, 2.92808706001649];
  for (const [i, v] of got.entries()) assert.ok(Math.abs(v - (expected[i] as number)) < 1e-14, `${i}: ${v}`);
  assert.deepEqual(smooth([]), []);
  // Long runs smooth harder: the weight tends to 0.9.
  const flat = smooth([...Array(200).fill(1), 0]);
  assert.ok(Math.abs((flat[200] as number) - 0.9) < 1e-3);
});

test('ticks are round numbers covering the range', () => {
  assert.deepEqual(niceTicks(0, 10, 5), { ticks: [0, 2, 4, 6, 8, 10], step: 2 });
  const t = niceTicks(0.37, 2.61, 10);
  assert.equal(t.step, 0.25);
  assert.equal(t.ticks[0], 0.5);
});

test('a single logged value whose EMA is an ulp away charts (a 2-step DPO run logs loss 0.6931 once)', () => {
  // DPO starts at ln 2, logged to 4 places; its EMA is that plus rounding: the y window was an ulp wide and the tick
  // loop never advanced (V8 died growing the tick array).
  const logged = Number(Math.LN2.toFixed(4));
  assert.notEqual(smooth([logged])[0], logged);
  const svg = lossChartSvg({
    title: 't',
    xLabel: 'step',
    yLabel: 'loss',
    steps: [2],
    values: [logged],
    text: 'strokes',
  });
  assert.match(svg, /^<svg /);
  const tiny = niceTicks(logged, logged + 1e-16, 8);
  assert.ok(tiny.ticks.length >= 1 && tiny.ticks.length < 10);
});

function pngSize(png: Buffer): { width: number; height: number } {
  assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], 'PNG signature');
  assert.equal(png.subarray(12, 16).toString('ascii'), 'IHDR');
  return { width: png.readUInt32BE(16), height: png.readUInt32BE(20) };
}

/** Dark pixels in a rectangle: text and lines drawn there. */
function inkIn(svg: string, x0: number, y0: number, x1: number, y1: number, useFonts: boolean): number {
  const img = new Resvg(svg, { font: { loadSystemFonts: useFonts } }).render();
  const px = img.pixels; // a getter that copies the whole image: read it once
  let ink = 0;
  for (let y = y0; y < y1; y++) {
    for (let x = x0; x < x1; x++) {
      const i = (y * img.width + x) * 4;
      if ((px[i] as number) < 128 && (px[i + 1] as number) < 128) ink++;
    }
  }
  return ink;
}

const chart = {
  title: 'training loss of saves/x',
  xLabel: 'step',
  yLabel: 'loss',
  steps: [5, 10, 15, 20],
  values: [2, 1.5, 1.2, 1.1],
};

test('the chart renders to a 640x480 PNG, like matplotlib at dpi 100', () => {
  const png = renderLossChart(chart);
  assert.deepEqual(pngSize(png), { width: 640, height: 480 });
});

test('titles are readable without any installed font (stroked glyphs)', () => {
  const svg = lossChartSvg({ ...chart, text: 'strokes' });
  assert.ok(!svg.includes('<text'), 'no <text>: nothing depends on fonts');
  // The title band above the axes has ink even when resvg loads no font at all.
  assert.ok(inkIn(svg, 150, 20, 490, 52, false) > 200);
  const blank = lossChartSvg({ ...chart, title: '', text: 'strokes' });
  assert.equal(inkIn(blank, 150, 20, 490, 52, false), 0);
});

test('with installed fonts the text is real <text> in DejaVu Sans', { skip: !systemFontsAvailable() }, () => {
  const svg = lossChartSvg({ ...chart, text: 'font' });
  assert.match(svg, /<text [^>]*font-family="DejaVu Sans[^>]*>training loss of saves\/x<\/text>/);
  assert.ok(inkIn(svg, 150, 20, 490, 52, true) > 200);
});

test('plotLoss writes one PNG per key found in trainer_state.json and names it as LLaMA-Factory does', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lmf-plot-'));
  const s = new TrainerState();
  for (let step = 1; step <= 20; step++) {
    s.global_step = step;
    s.logTraining(3 / step, 1, 1e-4);
    if (step % 5 === 0) s.log({ eval_loss: 2 / step });
  }
  s.save(dir);
  const r = plotLoss(dir, ['loss', 'eval_loss', 'rewards/accuracies']);
  assert.deepEqual(r.written, [join(dir, 'training_loss.png'), join(dir, 'training_eval_loss.png')]);
  assert.deepEqual(r.missing, ['rewards/accuracies']);
  assert.deepEqual(pngSize(readFileSync(join(dir, 'training_loss.png'))), { width: 640, height: 480 });
  assert.equal(plotFileName('rewards/accuracies'), 'training_rewards_accuracies.png');
  assert.ok(!existsSync(join(dir, 'training_rewards_accuracies.png')));
});
