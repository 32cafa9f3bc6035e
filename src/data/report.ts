/** Collects what was wrong with individual records so bad data is told, not crashed on. */

export interface DataIssue {
  /** dataset name as given in `dataset:` */
  dataset: string;
  /** the file (or hub repo) the record came from */
  file: string;
  /** 0-based index of the record in the loaded (sampled/truncated) dataset */
  index: number;
  /** the column or message field at fault, e.g. `conversations[2].from` */
  field: string;
  /** the rule the record broke */
  rule: string;
}

export class DataReport {
  readonly issues: DataIssue[] = [];
  /** records dropped per dataset name */
  readonly dropped = new Map<string, number>();

  add(issue: DataIssue): void {
    this.issues.push(issue);
  }

  noteDropped(dataset: string): void {
    this.dropped.set(dataset, (this.dropped.get(dataset) ?? 0) + 1);
  }

  get droppedCount(): number {
    let n = 0;
    for (const v of this.dropped.values()) n += v;
    return n;
  }

  /** One line per issue for the first `limit` issues, then a count of the rest and of the dropped records. */
  summary(limit = 5): string {
    if (this.issues.length === 0) return '';
    const lines = this.issues.slice(0, limit).map(formatIssue);
    if (this.issues.length > limit) lines.push(`... and ${this.issues.length - limit} more issue(s)`);
    for (const [name, n] of this.dropped) lines.push(`dropped ${n} invalid record(s) from dataset "${name}"`);
    return lines.join('\n');
  }
}

export function formatIssue(i: DataIssue): string {
  return `${i.file} record ${i.index} (dataset "${i.dataset}"), field ${i.field}: ${i.rule}`;
}
