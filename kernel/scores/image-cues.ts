// Measured photographic cues, each in [0, 1] with 1 the better photo. They feed the
// transparent aesthetic score (no pretrained aesthetic model is available offline).
import { kthSmallestNonNegative } from '../ml/kth-smallest';

export interface ImageCues {
  /** Edge energy: variance of the Laplacian at half resolution (pixel noise averages out there). */
  sharpness: number;
  /** Mid-tone placement of the mean luminance, less the share of clipped shadows and highlights. */
  exposure: number;
  /** Spread of luminance (standard deviation). */
  contrast: number;
  /** Hasler–Süsstrunk colourfulness. */
  colourfulness: number;
  /** 1 for a clean image, falling with the noise level estimated by Immerkær's method. */
  noise: number;
}

// Working arrays reused from image to image (the cues run once per embedded image, on the main
// thread): allocating three fresh ones each time cost as much in garbage collection as filling them.
let scratch = new Float32Array(0);

/** Room for `n` floats at each of three offsets of one reused array: luma, responses, half (at most 4.9 MB: a cue image is at most 160 × 2,560). */
function scratchArrays(n: number): { luma: Float32Array; responses: Float32Array; half: Float32Array } {
  if (scratch.length < 3 * n) scratch = new Float32Array(3 * n);
  return { luma: scratch.subarray(0, n), responses: scratch.subarray(n, 2 * n), half: scratch.subarray(2 * n, 3 * n) };
}

export function measureCues(rgb: Uint8Array, width: number, height: number): ImageCues {
  const n = width * height;
  const { luma, responses, half: halfValues } = scratchArrays(n);
  let rg = 0,
    yb = 0,
    rg2 = 0,
    yb2 = 0,
    mean = 0,
    clipped = 0;
  // One pass over the pixels; the sums run in the same order as separate passes would, so
  // the cues (inputs of tags trained with the aesthetic score) stay exactly what they were.
  for (let i = 0, p = 0; i < n; i++, p += 3) {
    const r = rgb[p],
      g = rgb[p + 1],
      b = rgb[p + 2];
    luma[i] = (0.2126 * r + 0.7152 * g + 0.0722 * b) / 255;
    const v = luma[i];
    mean += v;
    if (v < 0.02 || v > 0.98) clipped++;
    const a = r - g;
    const c = 0.5 * (r + g) - b;
    rg += a;
    yb += c;
    rg2 += a * a;
    yb2 += c * c;
  }
  mean /= n;
  let variance = 0;
  for (let i = 0; i < n; i++) variance += (luma[i] - mean) ** 2;
  const std = Math.sqrt(variance / n);

  const mrg = rg / n,
    myb = yb / n;
  const srg = Math.sqrt(Math.max(0, rg2 / n - mrg * mrg)),
    syb = Math.sqrt(Math.max(0, yb2 / n - myb * myb));
  const colourfulness = Math.sqrt(srg * srg + syb * syb) + 0.3 * Math.sqrt(mrg * mrg + myb * myb);

  const sigma = noiseSigma(luma, width, height, responses);
  const half = downscaleByTwo(luma, width, height, halfValues);
  // Averaging 2×2 pixels halves σ; a 5-tap Laplacian multiplies noise variance by 20, so
  // 5σ² of the measured variance is noise, not detail.
  const edgeEnergy = Math.max(0, varianceOfLaplacian(half.values, half.width, half.height) - 5 * sigma * sigma);

  return {
    sharpness: 1 - Math.exp(-edgeEnergy / SHARPNESS_SCALE),
    exposure: clamp01(1 - Math.abs(mean - 0.5) * 2) * clamp01(1 - (clipped / n) * 2),
    contrast: clamp01(std / 0.25),
    colourfulness: clamp01(colourfulness / 100),
    noise: Math.exp(-sigma / NOISE_SCALE),
  };
}

const SHARPNESS_SCALE = 0.01;
const NOISE_SCALE = 0.05;

function clamp01(v: number): number {
  return Math.min(1, Math.max(0, v));
}

/** `values` averaged over 2×2 blocks, into the start of `into`. */
function downscaleByTwo(values: Float32Array, width: number, height: number, into: Float32Array): { values: Float32Array; width: number; height: number } {
  const w = Math.max(1, Math.floor(width / 2));
  const h = Math.max(1, Math.floor(height / 2));
  const out = into.subarray(0, w * h);
  // A one-pixel-wide or -high image repeats its edge; otherwise every 2×2 block is inside.
  const dx = width > 1 ? 1 : 0;
  const dy = height > 1 ? width : 0;
  for (let y = 0; y < h; y++) {
    const top = 2 * y * width;
    for (let x = 0; x < w; x++) {
      const i = top + 2 * x;
      out[y * w + x] = (values[i] + values[i + dx] + values[i + dy] + values[i + dy + dx]) / 4;
    }
  }
  return { values: out, width: w, height: h };
}

function varianceOfLaplacian(v: Float32Array, width: number, height: number): number {
  if (width < 3 || height < 3) return 0;
  let sum = 0,
    sum2 = 0,
    count = 0;
  for (let y = 1; y < height - 1; y++) {
    for (let x = 1; x < width - 1; x++) {
      const i = y * width + x;
      const l = v[i - 1] + v[i + 1] + v[i - width] + v[i + width] - 4 * v[i];
      sum += l;
      sum2 += l * l;
      count++;
    }
  }
  const m = sum / count;
  return sum2 / count - m * m;
}

/**
 * Immerkær's (1996) noise operator N (the difference of two Laplacians, blind to smooth
 * shading), with the median instead of the mean of |I ∗ N| so that edges, which are few,
 * do not count as noise. For Gaussian noise |I ∗ N| has standard deviation 6σ.
 */
function noiseSigma(v: Float32Array, width: number, height: number, room: Float32Array): number {
  if (width < 3 || height < 3) return 0;
  const responses = room.subarray(0, (width - 2) * (height - 2));
  let k = 0;
  for (let y = 1; y < height - 1; y++) {
    const end = y * width + width - 1;
    for (let i = y * width + 1, up = i - width, down = i + width; i < end; i++, up++, down++) {
      const r = 4 * v[i] - 2 * (v[i - 1] + v[i + 1] + v[up] + v[down]) + (v[up - 1] + v[up + 1] + v[down - 1] + v[down + 1]);
      responses[k++] = Math.abs(r);
    }
  }
  return kthSmallestNonNegative(responses, Math.floor(responses.length / 2)) / (6 * 0.6745);
}
