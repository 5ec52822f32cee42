// The cue image's last step: RGB pixels halved in each direction by averaging 2×2 blocks, in
// JavaScript on pixels already decoded for the model. A second sharp pipeline for it (the cue
// thumbnail before 2026-11-28) cost more CPU than the cue measurement itself: about 2 ms for a
// 0.1-megapixel image on the 2-core VM, most of it libvips' per-call thread hand-offs.

/** `rgb` (width × height × 3 bytes) averaged over 2×2 blocks, rounded; an odd last row or column is dropped. */
export function halveByBox(rgb: Uint8Array, width: number, height: number): { pixels: Uint8Array; width: number; height: number } {
  if (rgb.length !== width * height * 3) throw new Error(`${rgb.length} bytes are not ${width}×${height} RGB`);
  if (width < 2 || height < 2) throw new Error(`a ${width}×${height} image cannot be halved`);
  const w = width >> 1;
  const h = height >> 1;
  const out = new Uint8Array(w * h * 3);
  const stride = width * 3;
  let q = 0;
  for (let y = 0; y < h; y++) {
    let top = 2 * y * stride;
    let bottom = top + stride;
    for (let x = 0; x < w; x++) {
      out[q++] = (rgb[top] + rgb[top + 3] + rgb[bottom] + rgb[bottom + 3] + 2) >> 2;
      out[q++] = (rgb[top + 1] + rgb[top + 4] + rgb[bottom + 1] + rgb[bottom + 4] + 2) >> 2;
      out[q++] = (rgb[top + 2] + rgb[top + 5] + rgb[bottom + 2] + rgb[bottom + 5] + 2) >> 2;
      top += 6;
      bottom += 6;
    }
  }
  return { pixels: out, width: w, height: h };
}
