/**
 * Classification metrics over generated labels: the trimmed prediction is the predicted label, the trimmed
 * reference the gold one. Per label precision / recall / F1 (0 where undefined, as sklearn's zero_division=0), their
 * unweighted (macro) mean, and the micro average from the summed counts. The label set is `metric_labels`, or the
 * gold labels seen when none is given (a free-text prediction then only costs the recall of its gold label).
 * All values are x100, like BLEU and ROUGE in predict_results.json.
 */

export interface LabelCounts {
  tp: number;
  fp: number;
  fn: number;
}

export class ClassificationTally {
  private readonly counts = new Map<string, LabelCounts>();
  private samples = 0;
  private correct = 0;

  constructor(private readonly labels: readonly string[] | null) {
    for (const label of labels ?? []) this.counts.set(label, { tp: 0, fp: 0, fn: 0 });
  }

  /** Counts one sample; returns whether the predicted label is the gold one. */
  add(prediction: string, reference: string): boolean {
    const predicted = prediction.trim();
    const gold = reference.trim();
    this.samples++;
    const right = predicted === gold;
    if (right) this.correct++;
    const entry = (label: string): LabelCounts | undefined => {
      let c = this.counts.get(label);
      if (c === undefined && this.labels === null) {
        c = { tp: 0, fp: 0, fn: 0 };
        this.counts.set(label, c);
      }
      return c;
    };
    if (right) {
      const c = entry(gold);
      if (c) c.tp++;
      return true;
    }
    const g = entry(gold);
    if (g) g.fn++;
    // Without a label set, only gold labels count: a prediction outside them is nobody's false positive.
    const p = this.labels === null ? this.counts.get(predicted) : entry(predicted);
    if (p) p.fp++;
    return false;
  }

  accuracy(): number {
    return this.samples === 0 ? 0 : (100 * this.correct) / this.samples;
  }

  /** predict_{precision,recall,f1}_{macro,micro} and, with a given label set, predict_f1_<label> per label. */
  metrics(which: { precision: boolean; recall: boolean; f1: boolean }): Record<string, number> {
    const out: Record<string, number> = {};
    const perLabel = [...this.counts.entries()].map(([label, c]) => ({ label, ...scores(c) }));
    const total = [...this.counts.values()].reduce((a, c) => ({ tp: a.tp + c.tp, fp: a.fp + c.fp, fn: a.fn + c.fn }), {
      tp: 0,
      fp: 0,
      fn: 0,
    });
    const micro = scores(total);
    const macro = (k: 'precision' | 'recall' | 'f1') =>
      perLabel.length === 0 ? 0 : perLabel.reduce((a, s) => a + s[k], 0) / perLabel.length;
    for (const k of ['precision', 'recall', 'f1'] as const) {
      if (!which[k]) continue;
      out[`predict_${k}_macro`] = macro(k);
      out[`predict_${k}_micro`] = micro[k];
      if (this.labels !== null) for (const s of perLabel) out[`predict_${k}_${s.label}`] = s[k];
    }
    return out;
  }
}

function scores(c: LabelCounts): { precision: number; recall: number; f1: number } {
  const precision = c.tp + c.fp === 0 ? 0 : c.tp / (c.tp + c.fp);
  const recall = c.tp + c.fn === 0 ? 0 : c.tp / (c.tp + c.fn);
  const f1 = precision + recall === 0 ? 0 : (2 * precision * recall) / (precision + recall);
  return { precision: 100 * precision, recall: 100 * recall, f1: 100 * f1 };
}
