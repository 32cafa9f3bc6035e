/**
 * Checkpoints saved by bitsandbytes through Transformers (config.json `quantization_config.quant_method:
 * bitsandbytes`; the `*-bnb-4bit` / `*-8bit` models users download). A 4-bit projection is stored as QuantState's
 * packed dict beside its `weight` (packed uint8, [ceil(out*in/2), 1]):
 *   weight.absmax (f32 per block, or uint8 codes when double-quantized), weight.quant_map (f32 [16]),
 *   weight.nested_absmax (f32), weight.nested_quant_map (f32 [256]) when double-quantized, and
 *   weight.quant_state.bitsandbytes__nf4|fp4: uint8 bytes of a JSON object {quant_type, blocksize, dtype, shape,
 *   nested_blocksize, nested_dtype, nested_offset}.
 * An 8-bit projection (LLM.int8()) is `weight` int8 [out, in] with `SCB` (f32 row absmax) and `weight_format`.
 * Modules in llm_int8_skip_modules (and the head) stay plain tensors.
 */
import type { QuantizedParts } from '../engine/index.js';
import type { CheckpointReader } from './checkpoint.js';
import type { ModelConfig } from './model-config.js';
import type { RawTensor } from './safetensors.js';

export interface BnbQuantization {
  bits: 4 | 8;
  /** The config's 4-bit type (each tensor's own quant_state names its type too). */
  quantType: 'nf4' | 'fp4';
  doubleQuant: boolean;
}

/** The bitsandbytes quantization a config.json declares, or null. Throws on one lmforge cannot read. */
export function bnbQuantizationOf(config: ModelConfig, source: string): BnbQuantization | null {
  const q = config.raw.quantization_config as Record<string, unknown> | undefined;
  if (!q || typeof q !== 'object') return null;
  if (q.quant_method !== 'bitsandbytes')
    throw new Error(
      `${source}: config.json's quantization_config.quant_method is ${JSON.stringify(q.quant_method)}; lmforge reads bitsandbytes checkpoints only (GPTQ/AWQ/... are not supported): use the unquantized model, with quantization_bit to quantize it on the fly`,
    );
  const four = q.load_in_4bit === true || q._load_in_4bit === true;
  const eight = q.load_in_8bit === true || q._load_in_8bit === true;
  if (four === eight)
    throw new Error(`${source}: quantization_config must set exactly one of load_in_4bit and load_in_8bit`);
  const quantType = q.bnb_4bit_quant_type === 'fp4' ? 'fp4' : 'nf4';
  return { bits: four ? 4 : 8, quantType, doubleQuant: q.bnb_4bit_use_double_quant === true };
}

const QUANT_STATE = /\.weight\.quant_state\.bitsandbytes__(nf4|fp4)$/;
const AUXILIARY =
  /\.(weight\.(absmax|quant_map|nested_absmax|nested_quant_map|quant_state\.bitsandbytes__(nf4|fp4))|SCB|weight_format)$/;

/** Whether a checkpoint tensor is part of a quantized weight's state rather than a parameter. */
export function isBnbAuxiliary(name: string): boolean {
  return AUXILIARY.test(name);
}

interface QuantStateJson {
  quant_type?: unknown;
  blocksize?: unknown;
  shape?: unknown;
  nested_blocksize?: unknown;
  nested_offset?: unknown;
}

function quantState(reader: CheckpointReader, name: string): QuantStateJson {
  const text = new TextDecoder().decode(reader.readBytes(name));
  try {
    return JSON.parse(text) as QuantStateJson;
  } catch {
    throw new Error(`${reader.dir}: ${name} is not bitsandbytes' packed quant_state JSON`);
  }
}

/**
 * The checkpoint's tensor shapes with each 4-bit weight given the shape its quant_state records ([out, in]) and the
 * quantization state left out: what the model's expected parameters are checked against.
 */
export function bnbParameterShapes(reader: CheckpointReader): Map<string, readonly number[]> {
  const shapes = reader.shapes();
  for (const name of [...shapes.keys()]) {
    if (!QUANT_STATE.test(name)) continue;
    const weight = name.slice(0, name.indexOf('.quant_state.'));
    const shape = quantState(reader, name).shape;
    if (!Array.isArray(shape) || shape.length !== 2 || !shape.every((d) => Number.isInteger(d) && d > 0))
      throw new Error(`${reader.dir}: ${name} records shape ${JSON.stringify(shape)}, expected [out, in]`);
    shapes.set(weight, shape as number[]);
  }
  for (const name of [...shapes.keys()]) if (isBnbAuxiliary(name)) shapes.delete(name);
  return shapes;
}

const f32 = (reader: CheckpointReader, name: string) => {
  const t = reader.load(name, { dtype: 'f32' });
  try {
    return t.toFloat32Array();
  } finally {
    t.dispose();
  }
};

/** The stored quantized weight `name` ([out, in]) as QuantizedParts, or null when the checkpoint holds it unquantized. */
export function readBnbWeight(
  reader: CheckpointReader,
  name: string,
  shape: readonly [number, number],
): QuantizedParts | null {
  const [rows, cols] = shape;
  const stateName = ['nf4', 'fp4'].map((t) => `${name}.quant_state.bitsandbytes__${t}`).find((n) => reader.has(n));
  if (stateName) {
    const state = quantState(reader, stateName);
    const type = state.quant_type === 'fp4' ? 'fp4' : 'nf4';
    if (reader.info(name).dtype !== 'U8')
      throw new Error(`${reader.dir}: ${name} is ${reader.info(name).dtype}; a 4-bit bitsandbytes weight is packed U8`);
    const parts: QuantizedParts = {
      type,
      rows,
      cols,
      blocksize: Number(state.blocksize ?? 64),
      data: reader.readBytes(name),
      code: f32(reader, `${name}.quant_map`),
    };
    if (reader.has(`${name}.nested_absmax`)) {
      parts.qabsmax = reader.readBytes(`${name}.absmax`);
      parts.nestedAbsmax = f32(reader, `${name}.nested_absmax`);
      parts.nestedCode = f32(reader, `${name}.nested_quant_map`);
      parts.nestedBlocksize = Number(state.nested_blocksize ?? 256);
      parts.offset = Number(state.nested_offset ?? 0);
    } else parts.absmax = f32(reader, `${name}.absmax`);
    return parts;
  }
  const scb = `${name.slice(0, -'.weight'.length)}.SCB`;
  if (reader.has(scb)) {
    if (reader.info(name).dtype !== 'I8')
      throw new Error(`${reader.dir}: ${name} is ${reader.info(name).dtype}; an 8-bit bitsandbytes weight is I8`);
    return { type: 'int8', rows, cols, data: reader.readBytes(name), scb: f32(reader, scb) };
  }
  return null;
}

const f32Bytes = (a: Float32Array): Uint8Array =>
  new Uint8Array(a.buffer.slice(a.byteOffset, a.byteOffset + a.byteLength));

/** A quantized weight `name` ([out, in]) as the tensors bitsandbytes saves for it (the layout readBnbWeight reads). */
export function bnbWeightTensors(name: string, p: QuantizedParts): [string, RawTensor][] {
  const raw = (dtype: RawTensor['dtype'], shape: number[], bytes: Uint8Array): RawTensor => ({
    raw: true,
    dtype,
    shape,
    bytes,
  });
  if (p.type === 'int8') {
    const prefix = name.slice(0, -'.weight'.length);
    return [
      [name, raw('I8', [p.rows, p.cols], p.data)],
      [`${prefix}.SCB`, raw('F32', [p.rows], f32Bytes(p.scb as Float32Array))],
      // bitsandbytes' weight_format: 0 = row-major
      [`${prefix}.weight_format`, raw('U8', [], new Uint8Array([0]))],
    ];
  }
  const state: Record<string, unknown> = {
    quant_type: p.type,
    blocksize: p.blocksize ?? 64,
    dtype: 'float32',
    shape: [p.rows, p.cols],
  };
  const out: [string, RawTensor][] = [[name, raw('U8', [p.data.length, 1], p.data)]];
  if (p.qabsmax) {
    const nested = p.nestedAbsmax as Float32Array;
    out.push(
      [`${name}.absmax`, raw('U8', [p.qabsmax.length], p.qabsmax)],
      [`${name}.nested_absmax`, raw('F32', [nested.length], f32Bytes(nested))],
      [`${name}.nested_quant_map`, raw('F32', [256], f32Bytes(p.nestedCode as Float32Array))],
    );
    Object.assign(state, {
      nested_blocksize: p.nestedBlocksize ?? 256,
      nested_dtype: 'float32',
      nested_offset: p.offset ?? 0,
    });
  } else {
    const absmax = p.absmax as Float32Array;
    out.push([`${name}.absmax`, raw('F32', [absmax.length], f32Bytes(absmax))]);
  }
  out.push([`${name}.quant_map`, raw('F32', [16], f32Bytes(p.code as Float32Array))]);
  const json = new TextEncoder().encode(JSON.stringify(state));
  out.push([`${name}.quant_state.bitsandbytes__${p.type}`, raw('U8', [json.length], json)]);
  return out;
}

/** config.json's quantization_config for a model whose projections are stored as `p` (Transformers' keys). */
export function bnbQuantizationConfig(p: Pick<QuantizedParts, 'type' | 'qabsmax'>): Record<string, unknown> {
  if (p.type === 'int8')
    return {
      quant_method: 'bitsandbytes',
      load_in_8bit: true,
      load_in_4bit: false,
      llm_int8_threshold: 6.0,
      llm_int8_has_fp16_weight: false,
    };
  return {
    quant_method: 'bitsandbytes',
    load_in_4bit: true,
    load_in_8bit: false,
    bnb_4bit_quant_type: p.type,
    bnb_4bit_use_double_quant: p.qabsmax !== undefined,
    bnb_4bit_compute_dtype: 'float32',
    bnb_4bit_quant_storage: 'uint8',
  };
}
