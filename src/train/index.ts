/** Training's engine-independent parts: schedules, the files a run writes, plots and progress. */

export { lastCheckpoint, listCheckpoints } from './checkpoints.js';
export * from './optimizers.js';
export {
  lossChartSvg,
  niceTicks,
  plotFileName,
  plotLoss,
  renderLossChart,
  smooth,
  systemFontsAvailable,
} from './plot.js';
export {
  formatBar,
  formatClock,
  formatLogLine,
  formatRate,
  Progress,
  type ProgressInfo,
  type ProgressStream,
} from './progress.js';
export { formatTimedelta, pyJsonDumps, pyRound } from './py-format.js';
export { type Metrics, perplexity, saveMetrics, speedMetrics } from './results.js';
export {
  getWarmupSteps,
  LrScheduler,
  learningRateAt,
  lrLambda,
  type SchedulerConfig,
  SchedulerError,
  type SchedulerState,
} from './schedulers.js';
export { type RunLength, runLength } from './steps.js';
export { strokeText, strokeTextWidth } from './stroke-font.js';
export { TrainError, type TrainEvents, type TrainOptions, type TrainResult, train } from './trainer.js';
export { type Clock, TRAINER_LOG_NAME, type TrainerLogLine, TrainerLogWriter } from './trainer-log.js';
export { type LogEntry, parsePythonJson, TRAINER_STATE_NAME, TrainerState } from './trainer-state.js';
