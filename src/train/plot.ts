/**
 * training_loss.png (and training_eval_loss.png, training_rewards_accuracies.png, ...) as LLaMA-Factory's
 * plot_loss draws them with matplotlib: a 640x480 figure, the raw curve at 40% opacity, its EMA-smoothed curve,
 * title "training <key> of <dir>", x label "step", y label <key>, legend original/smoothed. We build the SVG and
 * render it with resvg; text uses DejaVu Sans (matplotlib's default) when the machine has fonts, else strokes.
 */
import { existsSync, readdirSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { Resvg } from '@resvg/resvg-js';
import { writeFileAtomic } from '../io/atomic.js';
import { maxOf, minOf } from '../util/arrays.js';
import { strokeText, strokeTextWidth } from './stroke-font.js';
import { TRAINER_STATE_NAME, TrainerState } from './trainer-state.js';

/**
 * LLaMA-Factory's smooth(): TensorBoard-style EMA whose weight grows with the number of points,
 * w = 1.8 * (sigmoid(0.05 * n) - 0.5), started from the first value.
 */
export function smooth(scalars: readonly number[]): number[] {
  if (scalars.length === 0) return [];
  const weight = 1.8 * (1 / (1 + Math.exp(-0.05 * scalars.length)) - 0.5);
  let last = scalars[0] as number;
  return scalars.map((v) => {
    last = last * weight + (1 - weight) * v;
    return last;
  });
}

export type TextMode = 'auto' | 'font' | 'strokes';

export interface ChartOptions {
  title: string;
  xLabel: string;
  yLabel: string;
  steps: readonly number[];
  values: readonly number[];
  /** 'auto' uses installed fonts when any exist, else stroked glyphs. */
  text?: TextMode;
}

// matplotlib's defaults: 6.4x4.8 in at 100 dpi, subplot box 0.125..0.9 x 0.11..0.88, tab:blue.
const WIDTH = 640;
const HEIGHT = 480;
const BOX = { left: 80, right: 576, top: 57.6, bottom: 427.2 };
const BLUE = '#1f77b4';
const PT = 100 / 72; // pixels per point at 100 dpi
const FONT_FAMILY = 'DejaVu Sans, Bitstream Vera Sans, Liberation Sans, Arial, Helvetica, sans-serif';

const FONT_DIRS = [
  '/usr/share/fonts',
  '/usr/local/share/fonts',
  join(homedir(), '.fonts'),
  join(homedir(), '.local/share/fonts'),
  '/System/Library/Fonts',
  '/Library/Fonts',
  'C:\\Windows\\Fonts',
];

let fontsFound: boolean | undefined;

/** Whether any font file is installed where resvg looks for system fonts (searched once, a few levels deep). */
export function systemFontsAvailable(): boolean {
  if (fontsFound !== undefined) return fontsFound;
  const search = (dir: string, depth: number): boolean => {
    let entries: import('node:fs').Dirent[];
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch {
      return false;
    }
    for (const e of entries) {
      if (e.isFile() && /\.(ttf|otf|ttc)$/i.test(e.name)) return true;
      if (e.isDirectory() && depth > 0 && search(join(dir, e.name), depth - 1)) return true;
    }
    return false;
  };
  fontsFound = FONT_DIRS.some((d) => existsSync(d) && search(d, 3));
  return fontsFound;
}

/** Round tick positions covering [lo, hi], about `target` of them, with steps 1, 2, 2.5 or 5 times 10^k. */
export function niceTicks(lo: number, hi: number, target = 7): { ticks: number[]; step: number } {
  const raw = (hi - lo) / Math.max(1, target);
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = ([1, 2, 2.5, 5, 10].find((m) => m * mag >= raw) ?? 10) * mag;
  const ticks: number[] = [];
  // A step below the values' float resolution would never advance (an endless loop that ends in V8's array limit).
  if (!(step > 0) || lo + step === lo || hi + step === hi) return { ticks: [lo], step: Math.max(step, 0) };
  for (let t = Math.ceil(lo / step - 1e-9) * step; t <= hi + step * 1e-9; t += step) {
    ticks.push(Math.abs(t) < step * 1e-9 ? 0 : t);
  }
  return { ticks, step };
}

/** Tick labels with the decimals the step needs, all alike (1.0, 1.5, 2.0), as matplotlib's ScalarFormatter. */
export function formatTick(value: number, step: number): string {
  const abs = Math.max(Math.abs(value), step);
  if (abs >= 1e5 || step < 1e-4) return value.toExponential(1).replace('e+', 'e');
  let d = Math.max(0, Math.ceil(-Math.log10(step) - 1e-9));
  // 2.5-style steps need one more decimal than their magnitude suggests (0.25 -> 2 decimals).
  while (d < 10 && Math.abs(Number(step.toFixed(d)) - step) > step * 1e-6) d++;
  return value.toFixed(d);
}

function escapeXml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

interface TextDraw {
  (s: string, x: number, y: number, size: number, anchor: 'start' | 'middle' | 'end', rotate?: number): string;
  width(s: string, size: number): number;
}

function textDrawer(useFont: boolean): TextDraw {
  if (!useFont) {
    const draw = ((s, x, y, size, anchor, rotate) =>
      strokeText(s, { x, y, fontSize: size, anchor, ...(rotate ? { rotate } : {}) })) as TextDraw;
    draw.width = strokeTextWidth;
    return draw;
  }
  const draw = ((s, x, y, size, anchor, rotate) => {
    const transform = rotate ? ` transform="rotate(${rotate} ${x} ${y})"` : '';
    return (
      `<text x="${x}" y="${y}" font-family="${FONT_FAMILY}" font-size="${size.toFixed(2)}" ` +
      `text-anchor="${anchor}" fill="#000"${transform}>${escapeXml(s)}</text>`
    );
  }) as TextDraw;
  // DejaVu Sans averages about 0.6 em per character of mixed text.
  draw.width = (s, size) => [...s].length * size * 0.6;
  return draw;
}

/** The chart as an SVG document (640x480). */
export function lossChartSvg(o: ChartOptions): string {
  const useFont = (o.text ?? 'auto') === 'font' || ((o.text ?? 'auto') === 'auto' && systemFontsAvailable());
  const text = textDrawer(useFont);
  const n = Math.min(o.steps.length, o.values.length);
  const xs = o.steps.slice(0, n);
  const raw = o.values.slice(0, n);
  const smoothed = smooth(raw);
  const finite = [...raw, ...smoothed].filter(Number.isFinite);
  let [xMin, xMax] = n > 0 ? [minOf(xs), maxOf(xs)] : [0, 1];
  let [yMin, yMax] = finite.length > 0 ? [minOf(finite), maxOf(finite)] : [0, 1];
  // matplotlib pads data limits by 5%; a single value gets a unit-wide window around it.
  if (xMax === xMin) [xMin, xMax] = [xMin - 1, xMax + 1];
  // A flat curve can differ from itself by rounding (one logged 0.6931 and its EMA an ulp apart): a window an ulp
  // wide has no ticks that a float can step through, so it counts as a single value.
  if (yMax - yMin <= 1e-9 * Math.max(1, Math.abs(yMin), Math.abs(yMax)))
    [yMin, yMax] = [yMin - Math.max(Math.abs(yMin) * 0.05, 0.05), yMax + Math.max(Math.abs(yMax) * 0.05, 0.05)];
  const xPad = (xMax - xMin) * 0.05;
  const yPad = (yMax - yMin) * 0.05;
  [xMin, xMax, yMin, yMax] = [xMin - xPad, xMax + xPad, yMin - yPad, yMax + yPad];
  const px = (x: number) => BOX.left + ((x - xMin) / (xMax - xMin)) * (BOX.right - BOX.left);
  const py = (y: number) => BOX.bottom - ((y - yMin) / (yMax - yMin)) * (BOX.bottom - BOX.top);

  const tickSize = 10 * PT;
  const labelSize = 10 * PT;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}">`,
    `<rect width="${WIDTH}" height="${HEIGHT}" fill="#fff"/>`,
  ];
  const xTicks = niceTicks(xMin, xMax, 8);
  const yTicks = niceTicks(yMin, yMax, 8);
  const tickLen = 3.5 * PT;
  for (const t of xTicks.ticks) {
    const x = px(t);
    out.push(
      `<line x1="${x}" y1="${BOX.bottom}" x2="${x}" y2="${BOX.bottom + tickLen}" stroke="#000" stroke-width="1.1"/>`,
    );
    out.push(
      text(formatTick(t, xTicks.step), x, BOX.bottom + tickLen + 3.5 * PT + tickSize * 0.75, tickSize, 'middle'),
    );
  }
  let widestY = 0;
  for (const t of yTicks.ticks) {
    const y = py(t);
    const label = formatTick(t, yTicks.step);
    widestY = Math.max(widestY, text.width(label, tickSize));
    out.push(
      `<line x1="${BOX.left - tickLen}" y1="${y}" x2="${BOX.left}" y2="${y}" stroke="#000" stroke-width="1.1"/>`,
    );
    out.push(text(label, BOX.left - tickLen - 3.5 * PT, y + tickSize * 0.36, tickSize, 'end'));
  }
  // Curves are clipped to the axes, as matplotlib clips artists to the axes patch.
  out.push(
    `<clipPath id="axes"><rect x="${BOX.left}" y="${BOX.top}" width="${BOX.right - BOX.left}" height="${BOX.bottom - BOX.top}"/></clipPath>`,
  );
  const poly = (ys: readonly number[]) =>
    ys
      .map((y, i) => (Number.isFinite(y) ? `${px(xs[i] as number).toFixed(2)},${py(y).toFixed(2)}` : ''))
      .filter((s) => s)
      .join(' ');
  const lineWidth = (1.5 * PT).toFixed(2);
  out.push(
    `<g clip-path="url(#axes)" fill="none" stroke="${BLUE}" stroke-width="${lineWidth}" stroke-linejoin="round" stroke-linecap="square">`,
    `<polyline points="${poly(raw)}" stroke-opacity="0.4"/>`,
    `<polyline points="${poly(smoothed)}"/>`,
    '</g>',
  );
  // A one-point line draws nothing (matplotlib shows an empty axes); a dot says there is one value.
  if (n === 1 && Number.isFinite(raw[0])) {
    out.push(`<circle cx="${px(xs[0] as number)}" cy="${py(raw[0] as number)}" r="3" fill="${BLUE}"/>`);
  }
  out.push(
    `<rect x="${BOX.left}" y="${BOX.top}" width="${BOX.right - BOX.left}" height="${BOX.bottom - BOX.top}" fill="none" stroke="#000" stroke-width="1.1"/>`,
  );
  // Title: 12 pt, 6 pt above the axes; shrunk when a long output_dir would run off the figure.
  let titleSize = 12 * PT;
  let titleWidth = text.width(o.title, titleSize);
  const margin = 16;
  if (titleWidth > WIDTH - 2 * margin) {
    titleSize *= (WIDTH - 2 * margin) / titleWidth;
    titleWidth = WIDTH - 2 * margin;
  }
  // Centred over the axes like matplotlib, but slid inwards rather than cut at the figure's edge.
  const titleX = Math.min(
    Math.max((BOX.left + BOX.right) / 2, margin + titleWidth / 2),
    WIDTH - margin - titleWidth / 2,
  );
  out.push(text(o.title, titleX, BOX.top - 6 * PT, titleSize, 'middle'));
  out.push(
    text(
      o.xLabel,
      (BOX.left + BOX.right) / 2,
      BOX.bottom + tickLen + 3.5 * PT + tickSize + 4 * PT + labelSize * 0.75,
      labelSize,
      'middle',
    ),
  );
  // 4 pt from the tick labels, measured from the label's descent (the side facing them once rotated).
  const yLabelX = BOX.left - tickLen - 3.5 * PT - widestY - 4 * PT - 0.3 * labelSize;
  out.push(text(o.yLabel, yLabelX, (BOX.top + BOX.bottom) / 2, labelSize, 'middle', -90));
  out.push(legend(text, xs.map(px), [...raw, ...smoothed].map(py)));
  out.push('</svg>');
  return out.join('\n');
}

/** matplotlib's legend(loc='best'): the corner box covering the fewest plotted points. */
function legend(text: TextDraw, xs: number[], ys: number[]): string {
  const size = 10 * PT;
  const handle = 2 * size;
  const w =
    0.5 * size +
    handle +
    0.8 * size +
    Math.max(text.width('original', size), text.width('smoothed', size)) +
    0.5 * size;
  const h = 2 * size * 1.25 + 0.6 * size;
  const pad = 0.5 * size;
  const corners = [
    { x: BOX.right - pad - w, y: BOX.top + pad },
    { x: BOX.left + pad, y: BOX.top + pad },
    { x: BOX.left + pad, y: BOX.bottom - pad - h },
    { x: BOX.right - pad - w, y: BOX.bottom - pad - h },
  ];
  const points = xs.length;
  const covered = (c: { x: number; y: number }) => {
    let k = 0;
    for (let i = 0; i < ys.length; i++) {
      const x = xs[i % points] as number;
      const y = ys[i] as number;
      if (x >= c.x && x <= c.x + w && y >= c.y && y <= c.y + h) k++;
    }
    return k;
  };
  const best = corners.reduce((a, b) => (covered(b) < covered(a) ? b : a));
  const rows = ['original', 'smoothed'].map((label, i) => {
    const cy = best.y + 0.3 * size + size * 1.25 * (i + 0.5) + 0.1 * size;
    const x0 = best.x + 0.5 * size;
    const opacity = i === 0 ? ' stroke-opacity="0.4"' : '';
    return (
      `<line x1="${x0}" y1="${cy}" x2="${x0 + handle}" y2="${cy}" stroke="${BLUE}" stroke-width="${(1.5 * PT).toFixed(2)}"${opacity}/>` +
      text(label, x0 + handle + 0.8 * size, cy + size * 0.36, size, 'start')
    );
  });
  return (
    `<rect x="${best.x}" y="${best.y}" width="${w}" height="${h}" rx="3" fill="#fff" fill-opacity="0.8" stroke="#ccc" stroke-width="1.1"/>` +
    rows.join('')
  );
}

/** The chart as PNG bytes. */
export function renderLossChart(o: ChartOptions): Buffer {
  const useFont = (o.text ?? 'auto') === 'font' || ((o.text ?? 'auto') === 'auto' && systemFontsAvailable());
  const resvg = new Resvg(lossChartSvg({ ...o, text: useFont ? 'font' : 'strokes' }), {
    fitTo: { mode: 'original' },
    font: { loadSystemFonts: useFont, defaultFontFamily: 'DejaVu Sans' },
  });
  return resvg.render().asPng();
}

/** LLaMA-Factory's file name: training_<key>.png with '/' replaced by '_'. */
export function plotFileName(key: string): string {
  return `training_${key.replace(/\//g, '_')}.png`;
}

/**
 * plot_loss(save_dictionary, keys): one PNG per key found in trainer_state.json's log_history. Keys with no values
 * are skipped and returned in `missing` (LLaMA-Factory warns "No metric <key> to plot.").
 */
export function plotLoss(
  outputDir: string,
  keys: readonly string[] = ['loss'],
  options: { text?: TextMode } = {},
): { written: string[]; missing: string[] } {
  const state = TrainerState.load(join(outputDir, TRAINER_STATE_NAME));
  const written: string[] = [];
  const missing: string[] = [];
  for (const key of keys) {
    const steps: number[] = [];
    const values: number[] = [];
    for (const entry of state.log_history) {
      const v = entry[key];
      if (typeof v === 'number') {
        steps.push(entry.step);
        values.push(v);
      }
    }
    if (values.length === 0) {
      missing.push(key);
      continue;
    }
    const path = join(outputDir, plotFileName(key));
    const png = renderLossChart({
      title: `training ${key} of ${outputDir}`,
      xLabel: 'step',
      yLabel: key,
      steps,
      values,
      ...(options.text ? { text: options.text } : {}),
    });
    writeFileAtomic(path, png);
    written.push(path);
  }
  return { written, missing };
}
