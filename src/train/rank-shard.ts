/**
 * The distributed sampler: every rank walks the same seeded global order (data-order.ts, with micro-batches of
 * per_device_train_batch_size x world size examples), and rank r takes the r-th per-device slice of each global
 * micro-batch. A global micro-batch too short to give every rank an example (the end of an epoch) is filled by
 * wrapping around its start, as torch's DistributedSampler pads an epoch; so every rank runs the same number of
 * micro-batches and collectives.
 */

/** Each rank's example indices of one global micro-batch (`world` slices of `perDevice`, the last ones maybe short). */
export function rankSlices(global: readonly number[], world: number, perDevice: number): number[][] {
  if (world === 1) return [[...global]];
  const slices: number[][] = [];
  for (let r = 0; r < world; r++) {
    const slice = global.slice(r * perDevice, (r + 1) * perDevice);
    slices.push(slice.length > 0 ? slice : [global[r % global.length] as number]);
  }
  return slices;
}
