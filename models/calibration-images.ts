// Images to calibrate the int8 network's activation ranges on, drawn from a seed so every
// install computes the same ranges. Photos have most of their energy at low spatial
// frequencies (a 1/f spectrum), flat-coloured objects with hard edges, smooth lighting and
// some texture; these images mix those, with no photo shipped and none of the evaluation set.

/** A deterministic generator (mulberry32); its state in a typed array, not a number V8 would box on every call. */
function seeded(seed: number): () => number {
  const state = new Uint32Array([seed]);
  return () => {
    state[0] += 0x6d2b79f5;
    let t = state[0];
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Smooth value noise: a grid of random values, bilinearly interpolated, cell `cell` pixels. */
function valueNoise(size: number, cell: number, random: () => number): Float32Array {
  const n = Math.ceil(size / cell) + 2;
  const grid = new Float32Array(n * n);
  for (let i = 0; i < grid.length; i++) grid[i] = random() * 2 - 1;
  const out = new Float32Array(size * size);
  for (let y = 0; y < size; y++) {
    const gy = y / cell;
    const y0 = Math.floor(gy);
    const fy = gy - y0;
    const sy = fy * fy * (3 - 2 * fy);
    for (let x = 0; x < size; x++) {
      const gx = x / cell;
      const x0 = Math.floor(gx);
      const fx = gx - x0;
      const sx = fx * fx * (3 - 2 * fx);
      const a = grid[y0 * n + x0] + (grid[y0 * n + x0 + 1] - grid[y0 * n + x0]) * sx;
      const b = grid[(y0 + 1) * n + x0] + (grid[(y0 + 1) * n + x0 + 1] - grid[(y0 + 1) * n + x0]) * sx;
      out[y * size + x] = a + (b - a) * sy;
    }
  }
  return out;
}

/** `count` RGB images of `size`², row-major, 3 bytes a pixel. */
export function calibrationImages(count: number, size: number, seed = 19): Uint8Array[] {
  const random = seeded(seed);
  const images: Uint8Array[] = [];
  for (let k = 0; k < count; k++) {
    const rgb = new Float32Array(size * size * 3);
    // Lighting: a vertical gradient between two colours (sky to ground, wall to floor).
    const top = [random(), random(), random()].map((v) => 40 + v * 200);
    const bottom = [random(), random(), random()].map((v) => 20 + v * 180);
    // Texture: 1/f noise over five octaves, coloured by a random mix per channel.
    const texture = new Float32Array(size * size);
    for (const cell of [64, 32, 16, 8, 4]) {
      const octave = valueNoise(size, (cell * size) / 320, random);
      for (let p = 0; p < texture.length; p++) texture[p] += octave[p] * (cell / 64);
    }
    const tint = [random(), random(), random()].map((v) => 0.5 + v);
    const strength = 20 + random() * 60;
    for (let y = 0; y < size; y++) {
      const t = y / (size - 1);
      for (let x = 0; x < size; x++) {
        const p = y * size + x;
        for (let c = 0; c < 3; c++) rgb[p * 3 + c] = top[c] + (bottom[c] - top[c]) * t + texture[p] * strength * tint[c];
      }
    }
    // Objects: flat or shaded ellipses with hard edges, some with a texture of their own.
    const objects = 2 + Math.floor(random() * 6);
    for (let o = 0; o < objects; o++) {
      const cx = random() * size,
        cy = random() * size;
      const rx = (0.05 + random() * 0.3) * size,
        ry = (0.05 + random() * 0.3) * size;
      const colour = [random(), random(), random()].map((v) => v * 255);
      const stripes = random() < 0.3 ? 2 + random() * 12 : 0;
      const shade = random() * 0.6;
      for (let y = Math.max(0, Math.floor(cy - ry)); y < Math.min(size, Math.ceil(cy + ry)); y++) {
        for (let x = Math.max(0, Math.floor(cx - rx)); x < Math.min(size, Math.ceil(cx + rx)); x++) {
          const dx = (x - cx) / rx,
            dy = (y - cy) / ry;
          const d = dx * dx + dy * dy;
          if (d > 1) continue;
          const light = 1 - (shade * (dx + dy + 1)) / 2;
          const band = stripes && Math.floor(((x + y) / size) * stripes) % 2 === 0 ? 0.55 : 1;
          for (let c = 0; c < 3; c++) rgb[(y * size + x) * 3 + c] = colour[c] * light * band;
        }
      }
    }
    // Sensor noise, then 8 bits.
    const grain = random() * 8;
    const bytes = new Uint8Array(rgb.length);
    for (let i = 0; i < rgb.length; i++) bytes[i] = Math.max(0, Math.min(255, Math.round(rgb[i] + (random() - 0.5) * grain)));
    images.push(bytes);
  }
  return images;
}
