// Maps the ops of a TF.js image-classifier graph (MobileNet family) onto standard ONNX ops.
// The ONNX graph takes NHWC images in [0, 1] of any size (what sharp's raw output becomes) and outputs
// the pooled backbone vector and the head's probabilities.
import { OnnxGraphBuilder } from './onnx-graph-builder';
import { attrInts, attrString, attrStrings, type TfGraphModel, type TfNode, type TfTensor } from './tfjs-graph-model';

export interface ConversionSpec {
  graphName: string;
  /** Name of the TF node whose output is the pooled feature vector. */
  featuresNode: string;
  featuresLength: number;
  /** Name of the TF node whose output is the head's probabilities. */
  headNode: string;
  headLength: number;
  /** Intermediate TF nodes whose globally average-pooled output becomes an extra graph output. */
  pooledOutputs?: { output: string; node: string; channels: number }[];
}

export function convertGraph(model: TfGraphModel, spec: ConversionSpec): OnnxGraphBuilder {
  const g = new OnnxGraphBuilder(spec.graphName);
  // Height and width stay dynamic: the network is fully convolutional up to a global pool,
  // so it can see photos at a higher resolution than the 224 pixels it was trained at.
  g.addInput('image', ['N', 'H', 'W', 3]);
  const [nchw] = g.addNode('Transpose', ['image'], { perm: [0, 3, 1, 2] });
  // TF names → ONNX names of the tensor each TF node produces.
  const produced = new Map<string, string>([[findPlaceholder(model), nchw]]);
  const relu6Min = g.addInitializer('relu6_min', { dims: [], data: new Float32Array([0]) });
  const relu6Max = g.addInitializer('relu6_max', { dims: [], data: new Float32Array([6]) });

  const tensorOf = (name: string): string => {
    const known = produced.get(name);
    if (known) return known;
    const weight = model.weights.get(name);
    if (!weight) throw new Error(`unknown tensor ${name}`);
    return g.addInitializer(name, { dims: weight.shape, data: weight.values });
  };
  const weightOf = (name: string): TfTensor => {
    const w = model.weights.get(name);
    if (!w) throw new Error(`weight ${name} not found`);
    return w;
  };
  const activation = (node: TfNode, out: string): string => {
    const fused = attrStrings(node, 'fused_ops');
    const rest = fused.filter((op) => op !== 'BiasAdd');
    if (rest.length === 0) return out;
    if (rest.length === 1 && rest[0] === 'Relu6') return g.addNode('Clip', [out, relu6Min, relu6Max])[0];
    if (rest.length === 1 && rest[0] === 'Relu') return g.addNode('Relu', [out])[0];
    throw new Error(`${node.name}: unsupported fused ops ${fused.join(',')}`);
  };

  for (const node of model.nodes) {
    const inputs = node.input ?? [];
    let out: string;
    switch (node.op) {
      case 'Placeholder':
      case 'Const':
        continue;
      case 'Mul':
      case 'Sub':
      case 'AddV2':
      case 'Add':
        out = g.addNode(node.op === 'AddV2' ? 'Add' : node.op, inputs.map(tensorOf))[0];
        break;
      case '_FusedConv2D':
      case 'FusedDepthwiseConv2dNative': {
        checkNhwc(node);
        const depthwise = node.op === 'FusedDepthwiseConv2dNative';
        const filter = weightOf(inputs[1]);
        const kernel = depthwise ? depthwiseToOihw(filter) : hwioToOihw(filter);
        const [, , inChannels] = filter.shape;
        const strides = attrInts(node, 'strides');
        const conv = g.addNode('Conv', [tensorOf(inputs[0]), g.addInitializer(inputs[1], kernel), tensorOf(inputs[2])], {
          kernel_shape: [filter.shape[0], filter.shape[1]],
          strides: [strides[1], strides[2]],
          dilations: attrInts(node, 'dilations').slice(1, 3),
          // TF's SAME pads the extra row/column at the end, as ONNX SAME_UPPER does.
          auto_pad: padding(node),
          group: depthwise ? inChannels : 1,
        })[0];
        out = activation(node, conv);
        break;
      }
      case 'AvgPool': {
        checkNhwc(node);
        if (feedsSpatialSqueeze(model, node)) {
          // Pooling the last feature map to 1×1: global pooling says so for any input size.
          out = g.addNode('GlobalAveragePool', [tensorOf(inputs[0])])[0];
          break;
        }
        const ksize = attrInts(node, 'ksize');
        const strides = attrInts(node, 'strides');
        out = g.addNode('AveragePool', [tensorOf(inputs[0])], {
          kernel_shape: [ksize[1], ksize[2]],
          strides: [strides[1], strides[2]],
          auto_pad: padding(node),
        })[0];
        break;
      }
      case 'Squeeze': {
        const dims = attrInts(node, 'squeeze_dims');
        if (dims.join() !== '1,2') throw new Error(`${node.name}: only spatial squeeze is supported`);
        out = g.addNode('Flatten', [tensorOf(inputs[0])], { axis: 1 })[0];
        break;
      }
      case '_FusedMatMul': {
        if (node.attr?.transpose_a?.b || node.attr?.transpose_b?.b) throw new Error(`${node.name}: transposed MatMul`);
        const fused = attrStrings(node, 'fused_ops');
        if (fused.join() !== 'BiasAdd') throw new Error(`${node.name}: unsupported fused ops ${fused.join(',')}`);
        out = g.addNode('Gemm', inputs.map(tensorOf))[0];
        break;
      }
      case 'Softmax':
        out = g.addNode('Softmax', [tensorOf(inputs[0])], { axis: -1 })[0];
        break;
      case 'Identity':
        out = tensorOf(inputs[0]);
        break;
      default:
        throw new Error(`${node.name}: TF op ${node.op} has no ONNX mapping`);
    }
    produced.set(node.name, out);
  }

  g.addNode('Identity', [tensorOf(spec.featuresNode)], {}, ['features']);
  g.addOutput('features', ['N', spec.featuresLength]);
  g.addNode('Identity', [tensorOf(spec.headNode)], {}, ['nsfw']);
  g.addOutput('nsfw', ['N', spec.headLength]);
  for (const pooled of spec.pooledOutputs ?? []) {
    const [mean] = g.addNode('GlobalAveragePool', [tensorOf(pooled.node)]);
    g.addNode('Flatten', [mean], { axis: 1 }, [pooled.output]);
    g.addOutput(pooled.output, ['N', pooled.channels]);
  }
  return g;
}

function findPlaceholder(model: TfGraphModel): string {
  const inputs = model.nodes.filter((n) => n.op === 'Placeholder');
  if (inputs.length !== 1) throw new Error(`expected one graph input, found ${inputs.length}`);
  return inputs[0].name;
}

function feedsSpatialSqueeze(model: TfGraphModel, node: TfNode): boolean {
  const consumers = model.nodes.filter((n) => n.input?.includes(node.name));
  return consumers.length === 1 && consumers[0].op === 'Squeeze' && attrInts(consumers[0], 'squeeze_dims').join() === '1,2';
}

export function checkNhwc(node: TfNode): void {
  const format = attrString(node, 'data_format') ?? 'NHWC';
  if (format !== 'NHWC') throw new Error(`${node.name}: data format ${format}`);
  const dilations = attrInts(node, 'dilations');
  if (dilations.some((d) => d !== 1)) throw new Error(`${node.name}: dilated convolutions are not supported`);
}

export function padding(node: TfNode): string {
  const p = attrString(node, 'padding');
  if (p === 'SAME') return 'SAME_UPPER';
  if (p === 'VALID') return 'VALID';
  throw new Error(`${node.name}: padding ${p}`);
}

/** TF conv filter [kh, kw, in, out] → ONNX [out, in, kh, kw]. */
export function hwioToOihw(w: TfTensor): { dims: number[]; data: Float32Array } {
  const [kh, kw, ci, co] = w.shape;
  const data = new Float32Array(w.values.length);
  for (let h = 0; h < kh; h++)
    for (let x = 0; x < kw; x++)
      for (let i = 0; i < ci; i++) for (let o = 0; o < co; o++) data[((o * ci + i) * kh + h) * kw + x] = w.values[((h * kw + x) * ci + i) * co + o];
  return { dims: [co, ci, kh, kw], data };
}

/** TF depthwise filter [kh, kw, in, multiplier] → ONNX grouped conv [in*multiplier, 1, kh, kw]. */
export function depthwiseToOihw(w: TfTensor): { dims: number[]; data: Float32Array } {
  const [kh, kw, ci, m] = w.shape;
  const data = new Float32Array(w.values.length);
  for (let h = 0; h < kh; h++)
    for (let x = 0; x < kw; x++)
      for (let c = 0; c < ci; c++) for (let k = 0; k < m; k++) data[((c * m + k) * kh + h) * kw + x] = w.values[((h * kw + x) * ci + c) * m + k];
  return { dims: [ci * m, 1, kh, kw], data };
}

/**
 * The classifier head alone (features → probabilities), so a saved feature vector can be
 * scored without its image. The head must be one MatMul+BiasAdd followed by a Softmax.
 */
export function convertHead(model: TfGraphModel, spec: ConversionSpec): OnnxGraphBuilder {
  const softmax = model.nodes.find((n) => n.name === spec.headNode);
  const matmul = model.nodes.find((n) => n.name === softmax?.input?.[0]);
  if (!softmax || softmax.op !== 'Softmax' || !matmul || matmul.op !== '_FusedMatMul' || matmul.input?.[0] !== spec.featuresNode) {
    throw new Error(`${spec.headNode} is not Softmax(MatMul(features) + bias)`);
  }
  const g = new OnnxGraphBuilder(`${spec.graphName}_head`);
  g.addInput('features', ['N', spec.featuresLength]);
  const [weights, bias] = matmul.input.slice(1).map((name) => {
    const w = model.weights.get(name);
    if (!w) throw new Error(`weight ${name} not found`);
    return g.addInitializer(name, { dims: w.shape, data: w.values });
  });
  const [logits] = g.addNode('Gemm', ['features', weights, bias]);
  g.addNode('Softmax', [logits], { axis: -1 }, ['nsfw']);
  g.addOutput('nsfw', ['N', spec.headLength]);
  return g;
}
