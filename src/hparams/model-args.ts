/** LLaMA-Factory's ModelArguments (base model, quantization, export, inference backend): names, defaults, help. */
import {
  type ArgValues,
  bool,
  choice,
  float,
  int,
  optChoice,
  optDict,
  optFloat,
  optInt,
  optList,
  optStr,
  str,
} from './spec.js';

/** Refused arguments say what would differ; removing one runs without it. */
const REMOVE = (name: string) => `remove ${name} to run without it`;

const GPU_ONLY = 'a GPU kernel option; the CPU engine has its own kernels and ignores it';
const MULTIMODAL = 'images, videos and audio are not supported; only text is read';

export const MODEL_ARGS = {
  model_name_or_path: optStr(
    'Path to the model weight or identifier from huggingface.co/models or modelscope.cn/models.',
  ),
  adapter_name_or_path: optList(
    'Path to the adapter weight or identifier from huggingface.co/models. Use commas to separate multiple adapters.',
  ),
  adapter_folder: optStr('The folder containing the adapter weights to load.', {
    refuse: {
      why: 'adapters are not read from adapter_folder: name each one in adapter_name_or_path (comma-separated)',
      everywhere: true,
    },
  }),
  cache_dir: optStr('Where to store the pre-trained models downloaded from huggingface.co or modelscope.cn.'),
  use_fast_tokenizer: bool(
    true,
    'Whether or not to use one of the fast tokenizer (backed by the tokenizers library).',
    { note: 'lmforge always reads tokenizer.json (the fast tokenizer)' },
  ),
  resize_vocab: bool(false, 'Whether or not to resize the tokenizer vocab and the embedding layers.'),
  split_special_tokens: bool(
    false,
    'Whether or not the special tokens should be split during the tokenization process.',
  ),
  add_tokens: optList('Non-special tokens to be added into the tokenizer. Use commas to separate multiple tokens.'),
  add_special_tokens: optList('Special tokens to be added into the tokenizer. Use commas to separate multiple tokens.'),
  model_revision: str('main', 'The specific model version to use (can be a branch name, tag name or commit id).', {
    note: 'models load from a local folder only; check out the revision there',
  }),
  low_cpu_mem_usage: bool(true, 'Whether or not to use memory-efficient model loading.', {
    note: 'weights are always read tensor by tensor',
  }),
  rope_scaling: optChoice(
    ['linear', 'dynamic', 'yarn', 'llama3'] as const,
    'Which scaling strategy should be adopted for the RoPE embeddings.',
    {
      refuse: {
        why: "the rope_scaling argument is not applied (a config.json's own rope_scaling is); set it in the model's config.json or remove it",
        everywhere: true,
      },
    },
  ),
  flash_attn: choice(
    ['auto', 'disabled', 'sdpa', 'fa2', 'fa3'] as const,
    'auto',
    'Enable FlashAttention for faster training and inference.',
    {
      note: 'FlashAttention is CUDA-only; the CPU engine uses its own fused attention',
    },
  ),
  shift_attn: bool(false, 'Enable shift short attention (S^2-Attn) proposed by LongLoRA.'),
  mixture_of_depths: optChoice(
    ['convert', 'load'] as const,
    'Convert the model to mixture-of-depths (MoD) or load the MoD model.',
    {
      refuse: { why: `mixture-of-depths is not implemented; ${REMOVE('mixture_of_depths')}`, everywhere: true },
    },
  ),
  use_unsloth: bool(false, "Whether or not to use unsloth's optimization for the LoRA training.", { note: GPU_ONLY }),
  use_unsloth_gc: bool(false, "Whether or not to use unsloth's gradient checkpointing (no need to install unsloth).", {
    note: GPU_ONLY,
  }),
  enable_liger_kernel: bool(false, 'Whether or not to enable liger kernel for faster training.', { note: GPU_ONLY }),
  moe_aux_loss_coef: optFloat('Coefficient of the auxiliary router loss in mixture-of-experts model.'),
  disable_gradient_checkpointing: bool(false, 'Whether or not to disable gradient checkpointing.'),
  use_reentrant_gc: bool(true, 'Whether or not to use reentrant gradient checkpointing.', {
    note: 'a PyTorch checkpointing detail with no equivalent here',
  }),
  upcast_layernorm: bool(false, 'Whether or not to upcast the layernorm weights in fp32.', {
    note: 'norm weights are always f32 on the CPU engine',
  }),
  upcast_lmhead_output: bool(false, 'Whether or not to upcast the output of lm_head in fp32.', {
    note: 'lm_head outputs are always f32 on the CPU engine',
  }),
  train_from_scratch: bool(false, 'Whether or not to randomly initialize the model weights.', {
    refuse: {
      why: `random initialization is not implemented: the pretrained weights would be trained; ${REMOVE('train_from_scratch')}`,
    },
  }),
  infer_backend: choice(
    ['huggingface', 'vllm', 'sglang'] as const,
    'huggingface',
    'Backend engine used at inference.',
    {
      note: "inference runs on lmforge's own engine",
    },
  ),
  offload_folder: str('offload', 'Path to offload model weights.', { note: 'weights are never offloaded on CPU' }),
  use_kv_cache: bool(true, 'Whether or not to use KV cache in generation.', {
    note: 'generation always uses the KV cache (same tokens, only faster)',
  }),
  infer_dtype: choice(
    ['auto', 'float16', 'bfloat16', 'float32'] as const,
    'auto',
    'Data type for model weights and activations at inference.',
  ),
  hf_hub_token: optStr('Auth token to log in with Hugging Face Hub.'),
  ms_hub_token: optStr('Auth token to log in with ModelScope Hub.', { note: 'ModelScope downloads are not supported' }),
  om_hub_token: optStr('Auth token to log in with Modelers Hub.', { note: 'Modelers downloads are not supported' }),
  print_param_status: bool(false, 'For debugging purposes, print the status of the parameters in the model.', {
    note: 'parameter status is not printed; the trainable parameter count is',
  }),
  trust_remote_code: bool(
    false,
    'Whether to trust the execution of code from datasets/models defined on the Hub or not.',
    { note: 'no remote Python code is ever run; architectures come from the built-in registry' },
  ),
  new_special_tokens_config: optStr(
    'Path to YAML config with special token descriptions for semantic initialization. If set, this takes ' +
      'precedence over add_special_tokens.',
    {
      refuse: {
        why: `description-based token initialization is not implemented; ${REMOVE('new_special_tokens_config')}`,
      },
    },
  ),
  init_special_tokens: choice(
    ['noise_init', 'desc_init', 'desc_init_w_noise'] as const,
    'noise_init',
    'Initialization method for new special tokens.',
    { refuse: { why: 'only noise_init is implemented: set init_special_tokens: noise_init' } },
  ),
  use_v1_kernels: bool(false, 'Whether or not to use high-performance kernels in training.', { note: GPU_ONLY }),
  // ProcessorArguments: images, videos and audio, which this text-only engine does not take.
  image_max_pixels: int(768 * 768, 'The maximum number of pixels of image inputs.', { note: MULTIMODAL }),
  image_min_pixels: int(32 * 32, 'The minimum number of pixels of image inputs.', { note: MULTIMODAL }),
  image_do_pan_and_scan: bool(false, 'Use pan and scan to process image for gemma3.', { note: MULTIMODAL }),
  crop_to_patches: bool(false, 'Whether to crop the image to patches for internvl.', { note: MULTIMODAL }),
  video_max_pixels: int(256 * 256, 'The maximum number of pixels of video inputs.', { note: MULTIMODAL }),
  video_min_pixels: int(16 * 16, 'The minimum number of pixels of video inputs.', { note: MULTIMODAL }),
  video_fps: float(2, 'The frames to sample per second for video inputs.', { note: MULTIMODAL }),
  video_maxlen: int(128, 'The maximum number of sampled frames for video inputs.', { note: MULTIMODAL }),
  use_audio_in_video: bool(false, 'Whether or not to use audio in video inputs.', { note: MULTIMODAL }),
  audio_sampling_rate: int(16000, 'The sampling rate of audio inputs.', { note: MULTIMODAL }),
  // QuantizationArguments
  quantization_method: choice(
    ['bnb', 'gptq', 'awq', 'aqlm', 'quanto', 'eetq', 'hqq', 'mxfp4'] as const,
    'bnb',
    'Quantization method to use for on-the-fly quantization.',
  ),
  quantization_bit: optInt('The number of bits to quantize the model using on-the-fly quantization.'),
  quantization_type: choice(
    ['fp4', 'nf4'] as const,
    'nf4',
    'Quantization data type to use in bitsandbytes int4 training.',
  ),
  double_quantization: bool(true, 'Whether or not to use double quantization in bitsandbytes int4 training.'),
  quantization_device_map: optChoice(
    ['auto'] as const,
    'Device map used to infer the 4-bit quantized model, needs bitsandbytes>=0.43.0.',
    { note: 'there is one device (the CPU)' },
  ),
  // ExportArguments
  export_dir: optStr('Path to the directory to save the exported model.'),
  export_size: float(5, 'The file shard size (in GB) of the exported model.'),
  export_device: choice(
    ['cpu', 'auto'] as const,
    'cpu',
    'The device used in model export, use `auto` to accelerate exporting.',
    { note: 'there is one device (the CPU); the export runs there' },
  ),
  export_quantization_bit: optInt('The number of bits to quantize the exported model.'),
  export_quantization_dataset: optStr('Path to the dataset or dataset name to use in quantizing the exported model.'),
  export_quantization_nsamples: int(128, 'The number of samples used for quantization.'),
  export_quantization_maxlen: int(1024, 'The maximum length of the model inputs used for quantization.'),
  export_legacy_format: bool(false, 'Whether or not to save the `.bin` files instead of `.safetensors`.'),
  export_hub_model_id: optStr('The name of the repository if push the model to the Hugging Face hub.'),
  // lmforge's own: LLaMA-Factory sends GGUF users to llama.cpp's converter.
  export_format: choice(
    ['hf', 'gguf'] as const,
    'hf',
    'hf: a Hugging Face folder (safetensors, config, tokenizer, Modelfile); gguf: one GGUF file for llama.cpp, ' +
      'Ollama and LM Studio (model-<gguf_type>.gguf) and a Modelfile pointing at it (lmforge only).',
  ),
  gguf_type: choice(
    ['f32', 'f16', 'bf16', 'q8_0', 'q4_0', 'q4_k_m', 'q5_k_m', 'q6_k'] as const,
    'f16',
    'Tensor type of the GGUF export; norms and biases stay f32 (lmforge only).',
  ),
  // VllmArguments: accepted so LLaMA-Factory configs load; vLLM is a CUDA server.
  vllm_maxlen: int(4096, 'Maximum sequence (prompt + response) length of the vLLM engine.', {
    note: 'vLLM is not used',
  }),
  vllm_gpu_util: optFloat(
    'The fraction of GPU memory in (0,1) to be used for the vLLM engine.',
    { note: 'vLLM is not used' },
    0.7,
  ),
  vllm_enforce_eager: bool(false, 'Whether or not to disable CUDA graph in the vLLM engine.', {
    note: 'vLLM is not used',
  }),
  vllm_max_lora_rank: int(32, 'Maximum rank of all LoRAs in the vLLM engine.', { note: 'vLLM is not used' }),
  vllm_config: optDict('Config to initialize the vllm engine. Please use JSON strings.', { note: 'vLLM is not used' }),
};

/** Derived by the parser from fp16/bf16/pure_bf16 (LLaMA-Factory's `compute_dtype`); never given by the user. */
export type ComputeDtype = 'f32' | 'f16' | 'bf16';
export type ModelArgs = ArgValues<typeof MODEL_ARGS> & { compute_dtype: ComputeDtype; model_max_length: number };

/**
 * The on-the-fly quantization the arguments ask for (bitsandbytes' 4-bit NF4/FP4 or 8-bit LLM.int8()), or undefined.
 * Throws a message naming the argument when it asks for something else.
 */
export function quantizationOf(
  ma: Pick<ModelArgs, 'quantization_bit' | 'quantization_method' | 'quantization_type' | 'double_quantization'>,
): { bits: 4 | 8; type: 'nf4' | 'fp4'; doubleQuant: boolean } | undefined {
  if (ma.quantization_bit === null || ma.quantization_bit === undefined) return undefined;
  if (ma.quantization_method !== 'bnb')
    throw new Error(
      `quantization_method ${ma.quantization_method} is not available: lmforge quantizes as bitsandbytes does (quantization_method: bnb)`,
    );
  if (ma.quantization_bit !== 4 && ma.quantization_bit !== 8)
    throw new Error(`quantization_bit must be 4 or 8 for bitsandbytes, got ${ma.quantization_bit}`);
  return { bits: ma.quantization_bit, type: ma.quantization_type, doubleQuant: ma.double_quantization };
}
