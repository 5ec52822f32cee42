// A small builder for ONNX graphs: named tensors in, one serialised ModelProto out.
import { onnx } from 'onnx-proto';

type AttributeValue = number | string | number[];

export interface TensorValue {
  dims: number[];
  data: Float32Array | BigInt64Array;
}

export class OnnxGraphBuilder {
  private readonly nodes: onnx.INodeProto[] = [];
  private readonly initializers: onnx.ITensorProto[] = [];
  private readonly inputs: onnx.IValueInfoProto[] = [];
  private readonly outputs: onnx.IValueInfoProto[] = [];
  private readonly known = new Set<string>();
  private counter = 0;

  constructor(private readonly graphName: string) {}

  /** A float32 (or uint8) input; string dimensions (`N`, `H`, `W`) are dynamic. */
  addInput(name: string, dims: (number | string)[], elemType: 'float32' | 'uint8' = 'float32'): string {
    this.inputs.push(valueInfo(name, dims, elemType === 'uint8' ? onnx.TensorProto.DataType.UINT8 : onnx.TensorProto.DataType.FLOAT));
    this.known.add(name);
    return name;
  }

  addOutput(name: string, dims: (number | string)[]): void {
    if (!this.known.has(name)) throw new Error(`output ${name} is not produced by any node`);
    this.outputs.push(valueInfo(name, dims));
  }

  addInitializer(name: string, value: TensorValue): string {
    const count = value.dims.reduce((a, b) => a * b, 1);
    if (count !== value.data.length) throw new Error(`${name}: dims ${value.dims} hold ${count} values, got ${value.data.length}`);
    const float = value.data instanceof Float32Array;
    this.initializers.push({
      name,
      dims: value.dims,
      dataType: float ? onnx.TensorProto.DataType.FLOAT : onnx.TensorProto.DataType.INT64,
      // raw_data is little-endian, which is what typed arrays hold on every platform Node runs on.
      rawData: new Uint8Array(value.data.buffer, value.data.byteOffset, value.data.byteLength),
    });
    this.known.add(name);
    return name;
  }

  /** Adds a node and returns the names of its outputs (generated unless given). */
  addNode(opType: string, inputs: string[], attributes: Record<string, AttributeValue> = {}, outputs?: string[]): string[] {
    for (const input of inputs) {
      if (input !== '' && !this.known.has(input)) throw new Error(`${opType}: input ${input} is not defined yet`);
    }
    const names = outputs ?? [`${opType.toLowerCase()}_${this.counter++}`];
    for (const n of names) this.known.add(n);
    this.nodes.push({
      opType,
      name: `${opType}_${this.nodes.length}`,
      input: inputs,
      output: names,
      attribute: Object.entries(attributes).map(([name, v]) => attribute(name, v)),
    });
    return names;
  }

  toBytes(opsetVersion: number, producer: { name: string; version: string }): Uint8Array {
    const model = onnx.ModelProto.create({
      irVersion: 7,
      producerName: producer.name,
      producerVersion: producer.version,
      opsetImport: [{ domain: '', version: opsetVersion }],
      graph: {
        name: this.graphName,
        node: this.nodes,
        initializer: this.initializers,
        input: this.inputs,
        output: this.outputs,
      },
    });
    return onnx.ModelProto.encode(model).finish();
  }
}

function valueInfo(name: string, dims: (number | string)[], elemType: number = onnx.TensorProto.DataType.FLOAT): onnx.IValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType,
        shape: { dim: dims.map((d) => (typeof d === 'string' ? { dimParam: d } : { dimValue: d })) },
      },
    },
  };
}

function attribute(name: string, value: AttributeValue): onnx.IAttributeProto {
  const T = onnx.AttributeProto.AttributeType;
  if (typeof value === 'string') return { name, type: T.STRING, s: new TextEncoder().encode(value) };
  if (Array.isArray(value)) return { name, type: T.INTS, ints: value };
  // The converted graphs need no float attributes; refusing them keeps 1.0 from turning into 1.
  if (!Number.isInteger(value)) throw new Error(`attribute ${name}: only integer scalars are supported`);
  return { name, type: T.INT, i: value };
}
