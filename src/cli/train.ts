/** `lmforge train cfg.yaml [key=value ...]` or `lmforge train --key value ...`: LLaMA-Factory's train command. */
import { launchedRank } from '../dist/environment.js';
import { launchRanks, splitLaunchArgs } from '../dist/launch.js';
import { currentWorld } from '../dist/world.js';
import { formatHelp, parseTrainArgs, TRAIN_GROUPS } from '../hparams/index.js';
import { train } from '../train/trainer.js';
import { setReportDir } from './failure.js';
import { trainSummary } from './train-summary.js';

export async function trainCommand(args: string[]): Promise<number> {
  if (args.includes('-h') || args.includes('--help')) {
    console.log(formatHelp(TRAIN_GROUPS, 'train'));
    return 0;
  }
  if (args.length === 0) {
    console.error('Usage: lmforge train <config.yaml> [key=value ...]   (lmforge train -h lists every argument)');
    return 2;
  }
  // --nproc_per_node N: start mpirun over this command (src/dist/launch.ts); its ranks come back here without it.
  const { spec, rest } = splitLaunchArgs(args);
  if (spec && !launchedRank()) return launchRanks(spec, rest, (m) => console.error(`[lmforge] ${m}`));
  const parsed = parseTrainArgs(rest);
  // A crash trace is saved beside the run (once train has made output_dir), else in the temp folder.
  setReportDir(parsed.training.output_dir);
  // Ctrl-C: finish the current step, save a checkpoint, exit; a second Ctrl-C exits at once.
  const controller = new AbortController();
  const onSigint = () => {
    if (controller.signal.aborted) process.exit(130);
    console.error('\n[lmforge] stopping after this step and saving a checkpoint (Ctrl-C again to quit now)');
    controller.abort();
  };
  process.on('SIGINT', onSigint);
  try {
    const result = await train(parsed, { signal: controller.signal });
    if (result.interrupted) return 130;
    if (currentWorld().isMain) console.error(`[lmforge] ${trainSummary(result)}`);
    return 0;
  } finally {
    process.off('SIGINT', onSigint);
  }
}
