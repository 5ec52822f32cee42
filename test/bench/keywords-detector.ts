// The keywords detector's own row in bench:features: what finding an image's objects costs on
// top of embedding it (it runs only when asked: /predict?keywords=true, a scan with keywords, a
// tag trained with apply_keywords). Measured like the pipelines: decode (letterboxed into the
// detector's 512² square) and inference one image at a time, then every image in flight.
import fs from 'node:fs/promises';
import { KeywordDetector } from '../../kernel/features/keyword-detector';
import { decodeLetterboxed } from '../../kernel/images/image-decoder';

export interface KeywordsReport {
  model: string;
  images: number;
  failed: number;
  decodeMs: number[];
  inferMs: number[];
  throughput: number;
  cpuMsPerImage: number;
  peakRssMb: number;
  /** Images with at least one object found, and the objects found in all. */
  withObjects: number;
  objects: number;
}

/** Undefined (and why) when the keywords model is not installed. */
export async function measureKeywords(files: string[]): Promise<KeywordsReport | { missing: string }> {
  const status = KeywordDetector.availability();
  const detector = KeywordDetector.create();
  if (!detector) return { missing: `${status.reason}: run \`${status.install ?? 'npm run models:keywords'}\`` };
  const size = detector.entry.input.size;
  const bytes = await Promise.all(files.map((f) => fs.readFile(f)));
  const readable: Buffer[] = [];
  let failed = 0;
  for (const image of bytes) {
    try {
      await decodeLetterboxed(image, size);
      readable.push(image);
    } catch {
      failed++;
    }
  }
  // Latency: the first 40 readable images one at a time, after 3 of warm-up (which also start the workers).
  const decodeMs: number[] = [];
  const inferMs: number[] = [];
  for (const [i, image] of readable.slice(0, 43).entries()) {
    let t = performance.now();
    const decoded = await decodeLetterboxed(image, size);
    const decodeTime = performance.now() - t;
    t = performance.now();
    await detector.detectDecoded(decoded);
    if (i >= 3) {
      decodeMs.push(decodeTime);
      inferMs.push(performance.now() - t);
    }
  }
  // Throughput from bytes, every image in flight (one worker a core, one image a run).
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const results = await Promise.all(readable.map((image) => detector.detect(image)));
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  await detector.release();
  const counts = results.map((r) => Object.values(r.keywords).reduce((sum, k) => sum + k.count, 0));
  return {
    model: detector.id,
    images: bytes.length,
    failed,
    decodeMs,
    inferMs,
    throughput: readable.length / seconds,
    cpuMsPerImage: (cpu.user + cpu.system) / 1000 / readable.length,
    peakRssMb: process.resourceUsage().maxRSS / 1024,
    withObjects: counts.filter((c) => c > 0).length,
    objects: counts.reduce((a, b) => a + b, 0),
  };
}
