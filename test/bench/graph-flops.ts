// FLOPs of an ONNX image model at a given input size, counted from its Conv and Gemm shapes
// (2 per multiply-add; the cheap element-wise ops are left out, as is usual for rooflines).
// Spatial sizes are propagated through the graph from the input: Conv with SAME_UPPER or
// VALID padding and its strides, pools, everything else passing shapes through.
import fs from 'node:fs';
import { onnx } from 'onnx-proto';

export interface FlopCount {
  flops: number;
  convs: number;
  /** Share of the FLOPs in depthwise (grouped, one input channel per group) convolutions. */
  depthwiseShare: number;
}

export function countFlops(file: string, size: number): FlopCount {
  const model = onnx.ModelProto.decode(fs.readFileSync(file));
  const graph = model.graph!;
  const weights = new Map(graph.initializer!.map((t) => [t.name!, (t.dims ?? []).map(Number)]));
  const attr = (node: onnx.INodeProto, name: string) => node.attribute?.find((a) => a.name === name);
  // tensor → [channels, height, width] (NCHW after the first Transpose; channels unknown = 0)
  const shapes = new Map<string, [number, number, number]>();
  const input = graph.input![0].name!;
  shapes.set(input, [3, size, size]);
  let flops = 0;
  let depthwise = 0;
  let convs = 0;
  for (const node of graph.node!) {
    // An int8 graph's weights reach Conv through DequantizeLinear: the same dims.
    if (node.opType === 'DequantizeLinear' && weights.has(node.input![0])) weights.set(node.output![0], weights.get(node.input![0])!);
    const inShape = node.input!.map((i) => shapes.get(i)).find((s) => s !== undefined) ?? [0, 1, 1];
    let out: [number, number, number] = inShape;
    if (node.opType === 'Conv') {
      const w = weights.get(node.input![1])!;
      const [cout, cinPerGroup, kh, kw] = w;
      const strides = (attr(node, 'strides')?.ints ?? [1, 1]).map(Number);
      const pad = new TextDecoder().decode(attr(node, 'auto_pad')?.s ?? new Uint8Array());
      const dim = (n: number, k: number, s: number) => (pad === 'VALID' ? Math.floor((n - k) / s) + 1 : Math.ceil(n / s));
      out = [cout, dim(inShape[1], kh, strides[0]), dim(inShape[2], kw, strides[1])];
      const f = 2 * cout * cinPerGroup * kh * kw * out[1] * out[2];
      flops += f;
      convs++;
      const group = Number(attr(node, 'group')?.i ?? 1);
      if (group > 1 && cinPerGroup === 1) depthwise += f;
    } else if (node.opType === 'Gemm' || node.opType === 'MatMul') {
      const w = weights.get(node.input![1])!;
      flops += 2 * w[0] * w[1];
      out = [w[1], 1, 1];
    } else if (node.opType === 'GlobalAveragePool') {
      out = [inShape[0], 1, 1];
    }
    for (const o of node.output!) shapes.set(o, out);
  }
  return { flops, convs, depthwiseShare: depthwise / flops };
}
