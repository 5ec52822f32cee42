// Decoded RGB pixels → the tensor a model reads, and one ONNX session that runs batches of
// them. Shared by the inference worker threads and the in-thread runner.
import * as ort from 'onnxruntime-node';
import type { ModelEntry } from '../../models/manifest';

/** One image view: decoded pixels (size² × 3 RGB bytes), read as they are or mirrored left-right. */
export interface View {
  pixels: Uint8Array;
  mirror: boolean;
}

export interface RunnerSpec {
  file: string;
  input: ModelEntry['input'];
  featuresOutput: string;
  featureLength: number;
  /** Number of nsfw labels; 0 when the model has no head. */
  labels: number;
  size: number;
  /** ONNX Runtime intra-op threads of this session. */
  intraOpThreads: number;
  /** Let ONNX Runtime's pool threads spin between ops (faster alone, steals the decoder's core when not alone). */
  spinning: boolean;
}

export interface BatchOutput {
  /** views × featureLength */
  features: Float32Array;
  /** views × labels */
  nsfw: Float32Array;
}

export async function createSession(spec: RunnerSpec): Promise<ort.InferenceSession> {
  return ort.InferenceSession.create(spec.file, {
    intraOpNumThreads: spec.intraOpThreads,
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
    executionMode: 'sequential',
    extra: { session: { 'intra_op.allow_spinning': spec.spinning ? '1' : '0' } },
  });
}

export async function runViews(session: ort.InferenceSession, spec: RunnerSpec, views: View[]): Promise<BatchOutput> {
  const { input, size } = spec;
  const dims = input.layout === 'NCHW' ? [views.length, 3, size, size] : [views.length, size, size, 3];
  const tensor =
    input.type === 'uint8' ? new ort.Tensor('uint8', uint8Batch(views, size), dims) : new ort.Tensor('float32', floatBatch(views, size, input), dims);
  const output = await session.run({ [input.name]: tensor });
  return {
    features: output[spec.featuresOutput].data as Float32Array,
    nsfw: spec.labels > 0 ? (output.nsfw.data as Float32Array) : new Float32Array(0),
  };
}

/** The views side by side as NHWC bytes, mirrored ones flipped while copied. */
export function uint8Batch(views: View[], size: number): Uint8Array {
  const image = size * size * 3;
  const row = size * 3;
  const out = new Uint8Array(views.length * image);
  views.forEach((view, n) => {
    const base = n * image;
    if (!view.mirror) {
      out.set(view.pixels, base);
      return;
    }
    const p = view.pixels;
    for (let y = 0; y < size; y++) {
      const from = y * row;
      for (let x = 0, to = base + from + row - 3; x < row; x += 3, to -= 3) {
        out[to] = p[from + x];
        out[to + 1] = p[from + x + 1];
        out[to + 2] = p[from + x + 2];
      }
    }
  });
  return out;
}

/**
 * Per channel: 0..255 onto the manifest's range, then (value − mean) / std, in NHWC or NCHW,
 * through a 256-entry table per channel.
 */
export function floatBatch(views: View[], size: number, input: ModelEntry['input']): Float32Array {
  const plane = size * size;
  const [low, high] = input.range;
  const tables = [0, 1, 2].map((c) => {
    const scale = (high - low) / 255 / (input.std?.[c] ?? 1);
    const offset = (low - (input.mean?.[c] ?? 0)) / (input.std?.[c] ?? 1);
    return Float32Array.from({ length: 256 }, (_, v) => v * scale + offset);
  });
  const [r, g, b] = tables;
  const out = new Float32Array(views.length * plane * 3);
  const nchw = input.layout === 'NCHW';
  views.forEach((view, n) => {
    const base = n * plane * 3;
    const p = view.pixels;
    for (let y = 0; y < size; y++) {
      for (let x = 0; x < size; x++) {
        const from = (y * size + x) * 3;
        const to = y * size + (view.mirror ? size - 1 - x : x);
        if (nchw) {
          out[base + to] = r[p[from]];
          out[base + plane + to] = g[p[from + 1]];
          out[base + 2 * plane + to] = b[p[from + 2]];
        } else {
          out[base + to * 3] = r[p[from]];
          out[base + to * 3 + 1] = g[p[from + 1]];
          out[base + to * 3 + 2] = b[p[from + 2]];
        }
      }
    }
  });
  return out;
}
