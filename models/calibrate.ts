// Activation ranges for the int8 network, from the fp32 network run on calibration images.
// Each range is the one that minimises the mean squared quantisation error over the
// images' values (clipping a few outliers buys a finer step for everything else), found on
// a histogram of every value each tensor took.
import * as ort from 'onnxruntime-node';
import { onnx } from 'onnx-proto';
import { convInputs, withActivationOutputs, type ChannelMeans, type Ranges } from './quantize';

const BINS = 2048;
const LEVELS = 255;
/** Every 5th value of a tensor goes into its histogram (neighbours are alike; the extent still sees them all). */
const SAMPLE_STEP = 5;

export interface CalibrationInput {
  /** RGB bytes, size² × 3. */
  images: Uint8Array[];
  size: number;
}

export async function calibrateRanges(fp32: Uint8Array, input: CalibrationInput): Promise<{ ranges: Ranges; means: ChannelMeans }> {
  const inputs = convInputs(onnx.ModelProto.decode(fp32));
  const { bytes, tensors } = withActivationOutputs(fp32, inputs);
  // One thread: the same order of float sums on every run, whatever else the machine does.
  const session = await ort.InferenceSession.create(bytes, { intraOpNumThreads: 1, interOpNumThreads: 1 });
  try {
    const run = (image: Uint8Array) =>
      session.run(
        {
          image: new ort.Tensor(
            'float32',
            Float32Array.from(image, (v) => v / 255),
            [1, input.size, input.size, 3],
          ),
        },
        [...new Set([...tensors, ...inputs])],
      );
    // One run per image: each tensor's extent, and every SAMPLE_STEP-th value kept for its histogram.
    const extent = new Map(tensors.map((t) => [t, { min: 0, max: 0 }]));
    const samples = new Map<string, Float32Array[]>(tensors.map((t) => [t, []]));
    const sums = new Map<string, Float64Array>();
    for (const image of input.images) {
      const out = await run(image);
      for (const t of inputs) {
        const data = out[t].data as Float32Array;
        const [, channels, h, w] = out[t].dims;
        const plane = h * w;
        const sum = sums.get(t) ?? new Float64Array(channels);
        for (let c = 0; c < channels; c++) {
          let s = 0;
          for (let i = c * plane; i < (c + 1) * plane; i++) s += data[i];
          sum[c] += s / plane / input.images.length;
        }
        sums.set(t, sum);
      }
      for (const t of tensors) {
        const data = out[t].data as Float32Array;
        const e = extent.get(t)!;
        let min = e.min,
          max = e.max;
        const kept = new Float32Array(Math.ceil(data.length / SAMPLE_STEP));
        for (let i = 0, k = 0; i < data.length; i++) {
          const v = data[i];
          if (v < min) min = v;
          else if (v > max) max = v;
          if (i % SAMPLE_STEP === 0) kept[k++] = v;
        }
        e.min = min;
        e.max = max;
        samples.get(t)!.push(kept);
      }
    }
    const histograms = new Map(
      tensors.map((t) => {
        const { min, max } = extent.get(t)!;
        const h = new Float64Array(BINS);
        const perBin = BINS / Math.max(max - min, 1e-9);
        for (const kept of samples.get(t)!) for (let i = 0; i < kept.length; i++) h[Math.min(BINS - 1, Math.floor((kept[i] - min) * perBin))]++;
        return [t, h];
      }),
    );
    return { ranges: new Map(tensors.map((t) => [t, bestRange(histograms.get(t)!, extent.get(t)!)])), means: sums };
  } finally {
    await session.release();
  }
}

/** The range [α·min, α·max] (α in (0, 1]) with the least squared error, 0 always representable. */
export function bestRange(histogram: Float64Array, extent: { min: number; max: number }): { min: number; max: number } {
  const lo = Math.min(0, extent.min);
  const hi = Math.max(0, extent.max);
  const width = (hi - lo) / histogram.length;
  // Bin centres relative to the extent actually histogrammed (extent.min…extent.max).
  const binWidth = (extent.max - extent.min) / histogram.length;
  let best = { min: lo, max: hi };
  let bestError = Infinity;
  for (let step = 100; step >= 5; step--) {
    const alpha = step / 100;
    const a = lo * alpha;
    const b = hi * alpha;
    const scale = (b - a) / LEVELS || width;
    let error = 0;
    for (let i = 0; i < histogram.length; i++) {
      const n = histogram[i];
      if (n === 0) continue;
      const v = extent.min + (i + 0.5) * binWidth;
      const q = Math.min(b, Math.max(a, a + Math.round((v - a) / scale) * scale));
      error += n * (v - q) * (v - q);
    }
    if (error < bestError) {
      bestError = error;
      best = { min: a, max: b };
    }
  }
  return best;
}
