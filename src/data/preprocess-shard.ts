/**
 * One shard of tokenization, the same code in the main thread (one worker) and in worker threads: a worker
 * rebuilds the tokenizer from its folder and the template by name, checks that it matches the caller's, and
 * processes whole batches so the records equal a single pass.
 */
import { Tokenizer } from '../tokenizer/tokenizer.js';
import type { AlignedExample } from './converters.js';
import { createProcessor, processRange } from './processors/index.js';
import type { ProcessorKind, ResolvedProcessorArgs } from './processors/types.js';
import { getTemplate } from './template/index.js';
import type { Template } from './template/template.js';
import { encodeRecords } from './token-store.js';

/** What a worker needs to rebuild the caller's tokenizer and template. */
export interface TemplateRecipe {
  /** a registered template name, or null for one parsed from the tokenizer's chat template */
  name: string | null;
  enableThinking: boolean | null;
  defaultSystem: string;
}

/** Ids that tell whether a rebuilt tokenizer matches the caller's. */
export interface TokenizerFingerprint {
  size: number;
  bos: number | null;
  eos: number | null;
  pad: number | null;
}

export interface ShardJob {
  tokenizerDir: string;
  recipe: TemplateRecipe;
  fingerprint: TokenizerFingerprint;
  kind: ProcessorKind;
  args: ResolvedProcessorArgs;
  examples: AlignedExample[];
  /** dataset index of examples[0]; a multiple of args.batchSize */
  offset: number;
}

export interface ShardResult {
  /** token-store bytes of the records */
  bytes: Uint8Array;
  dropped: Array<{ index: number; reason: string }>;
  truncated: number;
}

export function fingerprintOf(tokenizer: Tokenizer): TokenizerFingerprint {
  return { size: tokenizer.size, bos: tokenizer.bosTokenId, eos: tokenizer.eosTokenId, pad: tokenizer.padTokenId };
}

/** Rebuilds the tokenizer + template as getTemplate left them in the caller. */
export function rebuild(job: Pick<ShardJob, 'tokenizerDir' | 'recipe' | 'fingerprint'>): {
  tokenizer: Tokenizer;
  template: Template;
} {
  const tokenizer = Tokenizer.fromDir(job.tokenizerDir);
  const template = getTemplate(job.recipe.name, tokenizer, {
    enableThinking: job.recipe.enableThinking,
    defaultSystem: job.recipe.defaultSystem,
    log: () => {},
  });
  const got = fingerprintOf(tokenizer);
  if (JSON.stringify(got) !== JSON.stringify(job.fingerprint)) {
    throw new Error(
      `a tokenization worker rebuilt a different tokenizer from ${job.tokenizerDir} (${JSON.stringify(got)} vs ` +
        `${JSON.stringify(job.fingerprint)}): the tokenizer was changed after getTemplate; ` +
        'save it to a folder first or set preprocessing_num_workers to 1',
    );
  }
  return { tokenizer, template };
}

export async function runShard(
  job: ShardJob,
  built?: { tokenizer: Tokenizer; template: Template },
): Promise<ShardResult> {
  const { tokenizer, template } = built ?? rebuild(job);
  const processor = createProcessor(job.kind, { tokenizer, template, args: job.args });
  const out = await processRange(processor, job.examples, job.args.batchSize, job.offset);
  return { bytes: encodeRecords(out.records), dropped: out.dropped, truncated: out.truncated };
}
