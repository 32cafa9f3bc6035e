/**
 * How many optimizer updates a run makes, as HF's Trainer.set_initial_training_values counts them (transformers
 * >= 4.52: a last partial accumulation group is an update too). Schedules, progress and trainer_state use it.
 */

export interface RunLength {
  /** Optimizer updates per pass over the data. */
  updatesPerEpoch: number;
  /** Total optimizer updates (TrainerState.max_steps, the schedules' num_training_steps). */
  maxSteps: number;
  /** Whole epochs the loop will start (TrainerState.num_train_epochs). */
  numTrainEpochs: number;
}

export function runLength(o: {
  /** Batches per epoch (len(train_dataloader)). */
  batchesPerEpoch: number;
  gradientAccumulationSteps: number;
  numTrainEpochs: number;
  /** max_steps > 0 overrides the epochs. */
  maxSteps: number;
}): RunLength {
  const ga = o.gradientAccumulationSteps;
  const updatesPerEpoch = Math.max(Math.floor(o.batchesPerEpoch / ga) + (o.batchesPerEpoch % ga > 0 ? 1 : 0), 1);
  if (o.maxSteps > 0) {
    const epochs = Math.floor(o.maxSteps / updatesPerEpoch) + (o.maxSteps % updatesPerEpoch > 0 ? 1 : 0);
    return { updatesPerEpoch, maxSteps: o.maxSteps, numTrainEpochs: epochs };
  }
  return {
    updatesPerEpoch,
    maxSteps: Math.ceil(o.numTrainEpochs * updatesPerEpoch),
    numTrainEpochs: Math.ceil(o.numTrainEpochs),
  };
}
