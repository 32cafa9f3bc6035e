/** Errors of the dataset pipeline. Each names the file, record or key at fault and says what to do. */

/** dataset_info.json is missing, unreadable, or one of its entries has a wrong key or value. */
export class DatasetConfigError extends Error {
  override name = 'DatasetConfigError';
  readonly userFacing = true;
}

/** A dataset name is not defined in dataset_info.json. */
export class UnknownDatasetError extends Error {
  override name = 'UnknownDatasetError';
  readonly userFacing = true;
  constructor(
    readonly dataset: string,
    readonly configPath: string,
    readonly defined: string[],
  ) {
    const list = defined.length > 0 ? defined.join(', ') : '(none)';
    super(
      `Undefined dataset "${dataset}" in ${configPath}. Defined datasets: ${list}. ` +
        'Add an entry for it to dataset_info.json or fix the name.',
    );
  }
}

/** A data file cannot be found, read or parsed. */
export class DatasetFileError extends Error {
  override name = 'DatasetFileError';
  readonly userFacing = true;
  constructor(
    readonly file: string,
    message: string,
  ) {
    super(`${file}: ${message}`);
  }
}

/** A hub download (Hugging Face, ModelScope, OpenMind) failed or is impossible here. */
export class HubDownloadError extends Error {
  override name = 'HubDownloadError';
  readonly userFacing = true;
  constructor(
    readonly dataset: string,
    readonly repo: string,
    readonly hub: 'hf_hub' | 'ms_hub' | 'om_hub',
    reason: string,
  ) {
    const label = dataset === repo ? `"${repo}"` : `"${dataset}" (${repo})`;
    super(
      `Cannot download dataset ${label} from ${hubLabel(hub)}: ${reason}. ` +
        'Download it on a machine with network access (or fix the network/proxy), or put the files in dataset_dir ' +
        'and point "file_name" at them in dataset_info.json.',
    );
  }
}

function hubLabel(hub: 'hf_hub' | 'ms_hub' | 'om_hub'): string {
  return hub === 'hf_hub' ? 'the Hugging Face Hub' : hub === 'ms_hub' ? 'ModelScope' : 'Modelers (OpenMind)';
}

/** Every record of a dataset was invalid, or the dataset does not fit the training stage. */
export class InvalidDatasetError extends Error {
  override name = 'InvalidDatasetError';
  readonly userFacing = true;
}
