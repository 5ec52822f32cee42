// Turns the converted fp32 graph into an int8 one in ONNX's QDQ form: every convolution reads
// DequantizeLinear(int8 weights, one scale per output channel) and activations pass through
// QuantizeLinear → DequantizeLinear pairs at ranges calibrated on generated images. ONNX
// Runtime fuses each DQ → Conv → Q into an integer QLinearConv (and DQ → Add → Q into
// QLinearAdd) when it loads the graph; the file itself stays a plain opset-13 graph.
import { onnx } from 'onnx-proto';

type Node = onnx.INodeProto;
type Tensor = onnx.ITensorProto;
const DataType = onnx.TensorProto.DataType;

export interface QuantizeOptions {
  /** Activations as uint8 (asymmetric, the fast path of x86 kernels: u8 × s8) or int8. */
  activations: 'u8' | 's8';
  /** Weight scales: one per output channel, or one per tensor. */
  perChannel: boolean;
  /**
   * Convolutions left in fp32: the depthwise 3×3 ones (the weakest integer kernels), the first
   * (reads the image) or the last (writes what the features average).
   */
  keepFp32: ('depthwise' | 'first' | 'last')[];
  /**
   * Take the image as uint8 NHWC pixels (0–255) instead of floats in [0, 1]: the pixels are
   * already quantised, so the first convolution reads them as they come from the decoder.
   */
  uint8Input: boolean;
}

export const DEFAULT_QUANTIZE_OPTIONS: QuantizeOptions = { activations: 'u8', perChannel: true, keepFp32: [], uint8Input: true };

/** Float range of an activation tensor over the calibration images. */
export type Ranges = Map<string, { min: number; max: number }>;

/** Per-channel mean of each convolution's input over the calibration images (NCHW channel order). */
export type ChannelMeans = Map<string, Float64Array>;

/** The tensors every convolution reads, whose channel means bias correction needs. */
export function convInputs(model: onnx.IModelProto): string[] {
  return [...new Set(model.graph!.node!.filter((n) => n.opType === 'Conv').map((n) => n.input![0]))];
}

/**
 * The activation tensors to calibrate: what convolutions read and what they and residual Adds
 * write, except ReLU6 outputs, whose range is the clip's own [0, 6] (as TFLite quantises
 * them; an MSE search over their histograms kept 6 for every one of them anyway).
 */
export function activationTensors(model: onnx.IModelProto): string[] {
  return quantizedTensors(model).filter((t) => clipBounds(model, t) === undefined);
}

function quantizedTensors(model: onnx.IModelProto): string[] {
  const graph = model.graph!;
  const consumers = consumerMap(graph.node!);
  const names = new Set<string>();
  for (const node of graph.node!) {
    if (node.opType === 'Conv') {
      names.add(node.input![0]);
      names.add(outputAfterActivation(node, consumers));
    } else if (node.opType === 'Add') {
      for (const input of node.input!) names.add(input);
      names.add(node.output![0]);
    }
  }
  return [...names];
}

/** The fp32 model with every tensor of `activationTensors` also a graph output, for calibration. */
export function withActivationOutputs(fp32: Uint8Array, alsoOutput: string[] = []): { bytes: Uint8Array; tensors: string[] } {
  const model = onnx.ModelProto.decode(fp32);
  const tensors = activationTensors(model);
  const existing = new Set(model.graph!.output!.map((o) => o.name));
  for (const name of new Set([...tensors, ...alsoOutput])) {
    if (!existing.has(name)) model.graph!.output!.push({ name, type: { tensorType: { elemType: DataType.FLOAT } } });
  }
  return { bytes: onnx.ModelProto.encode(model).finish(), tensors };
}

/**
 * A range made coarse enough that tiny differences between machines (another SIMD width sums
 * floats in another order) cannot change the file: the bound is rounded outwards to 3
 * significant bits of mantissa.
 */
export function roundRange(range: { min: number; max: number }): { min: number; max: number } {
  const up = (v: number) => {
    if (v <= 0) return 0;
    const step = 2 ** (Math.floor(Math.log2(v)) - 3);
    return Math.ceil(v / step - 1e-9) * step;
  };
  return { min: -up(-range.min), max: up(range.max) };
}

interface QParams {
  scale: number;
  zeroPoint: number;
}

function activationParams(range: { min: number; max: number }, type: 'u8' | 's8'): QParams {
  const min = Math.min(0, range.min);
  const max = Math.max(range.max, min + 1e-3);
  const scale = (max - min) / 255;
  const qmin = type === 'u8' ? 0 : -128;
  const zeroPoint = Math.max(qmin, Math.min(qmin + 255, Math.round(qmin - min / scale)));
  return { scale, zeroPoint };
}

/**
 * `means`: with them, each quantised convolution's bias is corrected for the mean shift its
 * weights' rounding causes, ΔW·E[x] (Nagel et al., "Data-free quantization", 2019): rounding
 * errors average out over a channel's many inputs, but not over a ReLU's all-positive ones.
 */
export function quantizeModel(fp32: Uint8Array, ranges: Ranges, options: QuantizeOptions = DEFAULT_QUANTIZE_OPTIONS, means?: ChannelMeans): Uint8Array {
  const model = onnx.ModelProto.decode(fp32);
  const graph = model.graph!;
  const initializers = new Map(graph.initializer!.map((t) => [t.name!, t]));
  const consumers = consumerMap(graph.node!);
  const used = new Set<string>();
  const out: Node[] = [];
  const newInitializers: Tensor[] = [];
  const actType = options.activations === 'u8' ? DataType.UINT8 : DataType.INT8;
  const params = new Map<string, QParams>();
  const dequantized = new Map<string, string>();
  let counter = 0;
  const fresh = (base: string) => `${base}__q${counter++}`;
  const scalar = (name: string, dataType: number, value: number): string => {
    newInitializers.push(scalarTensor(name, dataType, value));
    return name;
  };

  const paramsOf = (tensor: string): QParams => {
    let p = params.get(tensor);
    if (!p) {
      const range = clipBounds(model, tensor) ?? ranges.get(tensor);
      if (!range) throw new Error(`no calibrated range for ${tensor}`);
      p = activationParams(roundRange(range), options.activations);
      params.set(tensor, p);
    }
    return p;
  };
  /** Q → DQ of an activation, once per tensor; consumers read the returned name. */
  const qdq = (tensor: string): string => {
    const known = dequantized.get(tensor);
    if (known) return known;
    const p = paramsOf(tensor);
    const scale = scalar(fresh(`${tensor}_scale`), DataType.FLOAT, p.scale);
    const zero = scalar(fresh(`${tensor}_zero`), actType, p.zeroPoint);
    const q = fresh(`${tensor}_quantized`);
    const dq = fresh(`${tensor}_dequantized`);
    out.push({ opType: 'QuantizeLinear', name: fresh('Q'), input: [tensor, scale, zero], output: [q] });
    out.push({ opType: 'DequantizeLinear', name: fresh('DQ'), input: [q, scale, zero], output: [dq] });
    dequantized.set(tensor, dq);
    return dq;
  };

  // Which tensors are quantised: the inputs and (activated) outputs of every quantised op.
  const convs = graph.node!.filter((n) => n.opType === 'Conv');
  const isQuantizedConv = (node: Node) =>
    node.opType === 'Conv' &&
    !(options.keepFp32.includes('depthwise') && isDepthwise(node, initializers)) &&
    !(options.keepFp32.includes('first') && node === convs[0]) &&
    !(options.keepFp32.includes('last') && node === convs.at(-1));
  const quantized = new Set<string>();
  for (const node of graph.node!) {
    if (isQuantizedConv(node)) {
      quantized.add(node.input![0]);
      quantized.add(outputAfterActivation(node, consumers));
    } else if (node.opType === 'Add') {
      for (const i of node.input!) quantized.add(i);
      quantized.add(node.output![0]);
    }
  }

  let inputReplaced = false;
  for (const node of graph.node!) {
    // The image: uint8 pixels, transposed to NCHW as bytes, read by the first convolution
    // through a DequantizeLinear that also does the hub's [0, 1] → [-1, 1] (x·2 − 1).
    if (options.uint8Input && !inputReplaced && node.opType === 'Transpose' && node.input![0] === 'image') {
      const mul = consumers.get(node.output![0])?.[0];
      const sub = mul && consumers.get(mul.output![0])?.[0];
      const conv = sub && consumers.get(sub.output![0])?.[0];
      if (!mul || mul.opType !== 'Mul' || !sub || sub.opType !== 'Sub' || !conv || conv.opType !== 'Conv')
        throw new Error('the graph does not start Transpose → Mul → Sub → Conv');
      if (
        scalarValue(
          initializers,
          mul.input!.find((i) => i !== node.output![0])!,
        ) !== 2 ||
        scalarValue(initializers, sub.input![1]) !== 1
      ) {
        throw new Error('the graph does not map [0, 1] onto [-1, 1]');
      }
      out.push({ ...node, input: ['image'], output: ['image_nchw'] });
      // (v − 128) / 127.5 is x − 1/255 for x = v / 127.5 − 1: the first convolution's bias takes the 1/255 back.
      const scale = scalar('image_scale', DataType.FLOAT, 1 / 127.5);
      const zero = scalar('image_zero', DataType.UINT8, 128);
      out.push({ opType: 'DequantizeLinear', name: 'DQ_image', input: ['image_nchw', scale, zero], output: ['image_dequantized'] });
      params.set(sub.output![0], { scale: 1 / 127.5, zeroPoint: 128 });
      dequantized.set(sub.output![0], 'image_dequantized');
      quantized.add(sub.output![0]);
      shiftBias(conv, initializers, 1 / 255);
      used.add(mul.name!);
      used.add(sub.name!);
      inputReplaced = true;
      continue;
    }
    if (used.has(node.name!)) continue;
    if (isQuantizedConv(node)) {
      const [x, w, b] = node.input!;
      const input = qdq(x);
      const weight = initializers.get(w)!;
      const channels = Number(weight.dims![0]);
      const wq = quantizeWeights(weight, options.perChannel);
      const wName = `${w}_int8`;
      newInitializers.push({ name: wName, dims: weight.dims, dataType: DataType.INT8, rawData: new Uint8Array(wq.values.buffer) });
      const wScale = `${w}_scale`;
      const wZero = `${w}_zero`;
      newInitializers.push(vectorTensor(wScale, DataType.FLOAT, options.perChannel ? wq.scales : [wq.scales[0]]));
      newInitializers.push(vectorTensor(wZero, DataType.INT8, options.perChannel ? new Array(channels).fill(0) : [0]));
      const wDq = `${w}_dequantized`;
      out.push({
        opType: 'DequantizeLinear',
        name: fresh('DQ'),
        input: [wName, wScale, wZero],
        output: [wDq],
        attribute: options.perChannel ? [{ name: 'axis', type: onnx.AttributeProto.AttributeType.INT, i: 0 }] : [],
      });
      const inputs = [input, wDq];
      if (b) {
        // Bias as int32 at scale = input scale × weight scale, which QLinearConv adds to its accumulator.
        const sx = paramsOf(x).scale;
        const bias = floatValues(initializers.get(b)!);
        const mean = means?.get(x);
        if (mean) {
          const w32 = floatValues(weight);
          const perOut = w32.length / channels;
          const depthwise = isDepthwise(node, initializers);
          const kernel = perOut / (depthwise ? 1 : mean.length);
          for (let c = 0; c < channels; c++) {
            const scale = wq.scales[options.perChannel ? c : 0];
            let shift = 0;
            for (let i = 0; i < perOut; i++) {
              const at = c * perOut + i;
              const inputChannel = depthwise ? c : Math.floor(i / kernel);
              shift += (wq.values[at] * scale - w32[at]) * mean[inputChannel];
            }
            bias[c] -= shift;
          }
        }
        const bScales = Array.from({ length: channels }, (_, c) => sx * wq.scales[options.perChannel ? c : 0]);
        const bq = Int32Array.from(bias, (v, c) => Math.round(v / bScales[c]));
        newInitializers.push({ name: `${b}_int32`, dims: [channels], dataType: DataType.INT32, rawData: new Uint8Array(bq.buffer) });
        newInitializers.push(vectorTensor(`${b}_scale`, DataType.FLOAT, bScales));
        newInitializers.push(vectorTensor(`${b}_zero`, DataType.INT32, new Array(channels).fill(0)));
        out.push({
          opType: 'DequantizeLinear',
          name: fresh('DQ'),
          input: [`${b}_int32`, `${b}_scale`, `${b}_zero`],
          output: [`${b}_dequantized`],
          attribute: [{ name: 'axis', type: onnx.AttributeProto.AttributeType.INT, i: 0 }],
        });
        inputs.push(`${b}_dequantized`);
      }
      out.push({ ...node, input: inputs });
      continue;
    }
    out.push({ ...node, input: node.input!.slice() });
  }
  // Every other op reads the dequantised value of a quantised tensor, so the graph computes
  // what the integer one will (a ReLU6 reads its convolution's raw output, never quantised);
  // the global pool thus averages the same integers the next op would read.
  for (const node of out) {
    if (node.opType === 'QuantizeLinear' || node.opType === 'DequantizeLinear') continue;
    node.input = node.input!.map((i) => (quantized.has(i) ? qdq(i) : i));
  }
  // qdq() may have appended Q/DQ pairs after their consumers: order the nodes topologically.
  graph.node = topologicalOrder(out, [...graph.input!.map((i) => i.name!), ...graph.initializer!.map((t) => t.name!), ...newInitializers.map((t) => t.name!)]);
  const stillUsed = new Set(graph.node.flatMap((n) => n.input!));
  graph.initializer = [...graph.initializer!.filter((t) => stillUsed.has(t.name!)), ...newInitializers.filter((t) => stillUsed.has(t.name!))];
  if (options.uint8Input) {
    graph.input = graph.input!.map((i) => (i.name === 'image' ? { ...i, type: { tensorType: { ...i.type!.tensorType!, elemType: DataType.UINT8 } } } : i));
  }
  return onnx.ModelProto.encode(model).finish();
}

/** The [min, max] of a Clip with constant bounds that produces `tensor`. */
function clipBounds(model: onnx.IModelProto, tensor: string): { min: number; max: number } | undefined {
  const clip = model.graph!.node!.find((n) => n.opType === 'Clip' && n.output![0] === tensor);
  if (!clip) return undefined;
  const initializers = new Map(model.graph!.initializer!.map((t) => [t.name!, t]));
  const min = scalarValue(initializers, clip.input![1]);
  const max = scalarValue(initializers, clip.input![2]);
  return min === undefined || max === undefined ? undefined : { min, max };
}

function consumerMap(nodes: Node[]): Map<string, Node[]> {
  const map = new Map<string, Node[]>();
  for (const node of nodes) {
    for (const input of node.input ?? []) map.set(input, [...(map.get(input) ?? []), node]);
  }
  return map;
}

/** A convolution's output, or its ReLU6's when a Clip is its only consumer. */
function outputAfterActivation(conv: Node, consumers: Map<string, Node[]>): string {
  const next = consumers.get(conv.output![0]) ?? [];
  return next.length === 1 && next[0].opType === 'Clip' ? next[0].output![0] : conv.output![0];
}

function isDepthwise(node: Node, initializers: Map<string, Tensor>): boolean {
  const group = node.attribute?.find((a) => a.name === 'group')?.i;
  const w = initializers.get(node.input![1]);
  return Number(group ?? 1) > 1 && Number(w?.dims?.[1]) === 1;
}

function floatValues(t: Tensor): Float32Array {
  const raw = t.rawData!;
  return new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength));
}

function scalarValue(initializers: Map<string, Tensor>, name: string): number | undefined {
  const t = initializers.get(name);
  return t ? floatValues(t)[0] : undefined;
}

/** Adds `delta · Σ weights` to each output channel's bias: the convolution of an input shifted by `delta`, undone. */
function shiftBias(conv: Node, initializers: Map<string, Tensor>, delta: number): void {
  const w = floatValues(initializers.get(conv.input![1])!);
  const biasTensor = initializers.get(conv.input![2])!;
  const bias = floatValues(biasTensor);
  const perChannel = w.length / bias.length;
  for (let c = 0; c < bias.length; c++) {
    let sum = 0;
    for (let i = 0; i < perChannel; i++) sum += w[c * perChannel + i];
    bias[c] += delta * sum;
  }
  biasTensor.rawData = new Uint8Array(bias.buffer);
}

/** Symmetric int8 weights, scale max|w| / 127 per output channel (or for the whole tensor). */
function quantizeWeights(t: Tensor, perChannel: boolean): { values: Int8Array; scales: number[] } {
  const w = floatValues(t);
  const channels = perChannel ? Number(t.dims![0]) : 1;
  const size = w.length / channels;
  const values = new Int8Array(w.length);
  const scales: number[] = [];
  for (let c = 0; c < channels; c++) {
    let max = 0;
    for (let i = 0; i < size; i++) max = Math.max(max, Math.abs(w[c * size + i]));
    const scale = Math.fround(max > 0 ? max / 127 : 1);
    scales.push(scale);
    for (let i = 0; i < size; i++) values[c * size + i] = Math.max(-127, Math.min(127, Math.round(w[c * size + i] / scale)));
  }
  return { values, scales };
}

function scalarTensor(name: string, dataType: number, value: number): Tensor {
  return vectorTensor(name, dataType, [value], []);
}

function vectorTensor(name: string, dataType: number, values: ArrayLike<number>, dims: number[] = [values.length]): Tensor {
  const bytes =
    dataType === DataType.FLOAT
      ? new Uint8Array(Float32Array.from(values).buffer)
      : dataType === DataType.INT32
        ? new Uint8Array(Int32Array.from(values).buffer)
        : dataType === DataType.INT8
          ? new Uint8Array(Int8Array.from(values).buffer)
          : Uint8Array.from(values);
  return { name, dims, dataType, rawData: bytes };
}

function topologicalOrder(nodes: Node[], given: string[]): Node[] {
  const available = new Set(given);
  const ordered: Node[] = [];
  const pending = [...nodes];
  while (pending.length > 0) {
    const index = pending.findIndex((n) => n.input!.every((i) => i === '' || available.has(i)));
    if (index < 0) throw new Error(`cannot order the quantised graph: ${pending[0].opType} ${pending[0].input!.join(',')} waits`);
    const [node] = pending.splice(index, 1);
    ordered.push(node);
    for (const o of node.output!) available.add(o);
  }
  return ordered;
}
