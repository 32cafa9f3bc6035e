/** LLaMA-Factory's GeneratingArguments (decoding for predict_with_generate, chat and api): names, defaults, help. */
import { type ArgValues, bool, float, int } from './spec.js';

export const GENERATING_ARGS = {
  do_sample: bool(true, 'Whether or not to use sampling, use greedy decoding otherwise.'),
  temperature: float(0.95, 'The value used to modulate the next token probabilities.'),
  top_p: float(
    0.7,
    'The smallest set of most probable tokens with probabilities that add up to top_p or higher are kept.',
  ),
  top_k: int(50, 'The number of highest probability vocabulary tokens to keep for top-k filtering.'),
  num_beams: int(1, 'Number of beams for beam search. 1 means no beam search.', {
    refuse: { why: 'beam search is not implemented: use num_beams: 1', everywhere: true },
  }),
  max_length: int(1024, 'The maximum length the generated tokens can have. It can be overridden by max_new_tokens.'),
  max_new_tokens: int(1024, 'The maximum numbers of tokens to generate, ignoring the number of tokens in the prompt.'),
  repetition_penalty: float(1, 'The parameter for repetition penalty. 1.0 means no penalty.'),
  length_penalty: float(1, 'Exponential penalty to the length that is used with beam-based generation.'),
  skip_special_tokens: bool(true, 'Whether or not to remove special tokens in the decoding.'),
};

export type GeneratingArgs = ArgValues<typeof GENERATING_ARGS>;

/**
 * The sampling options of `generate` for these arguments (predict_with_generate, PPO rollouts): greedy when
 * do_sample is false or the temperature is 0 (HF refuses temperature 0 with sampling; LLaMA-Factory turns it off),
 * and the sampling knobs only when sampling.
 */
export function samplingOptions(g: GeneratingArgs): {
  doSample: boolean;
  temperature: number;
  topP: number;
  topK: number;
  repetitionPenalty: number;
} {
  const doSample = g.do_sample && g.temperature > 0;
  return {
    doSample,
    temperature: doSample ? g.temperature : 1,
    topP: doSample ? g.top_p : 1,
    topK: doSample ? g.top_k : 0,
    repetitionPenalty: g.repetition_penalty,
  };
}
