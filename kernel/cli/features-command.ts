// `tagsmith features <image...>`: one JSON line per image on stdout, one error line per
// unreadable file on stderr, and the rest still processed.
import fs from 'node:fs/promises';
import path from 'node:path';
import { asTagsmithError } from '../errors';
import { concurrencyLimit } from '../engine/concurrency-limit';
import { FeatureExtractor } from '../features/feature-extractor';
import { listImageFiles } from '../images/image-files';

/** Files read and decoded at once, so a folder of 10,000 photos fits in memory. */
const limit = concurrencyLimit(32);

export async function runFeaturesCommand(inputs: string[], options: { threads?: number; backbone?: string }): Promise<number> {
  if (inputs.length === 0) {
    process.stderr.write('tagsmith features: give at least one image file or folder\n');
    return 2;
  }
  const files = await listImageFiles(inputs);
  const extractor = await FeatureExtractor.create({ threads: options.threads, backbone: options.backbone });
  let failures = 0;
  // Start every file at once (bounded below) so the extractor batches them; print in order.
  const results = files.map((file) => limit(async () => extractor.embed(await fs.readFile(file))));
  for (const [i, result] of results.entries()) {
    try {
      const { features, nsfw, image } = await result;
      process.stdout.write(`${JSON.stringify({ file: files[i], width: image.width, height: image.height, dims: features.length, nsfw: round(nsfw) })}\n`);
    } catch (error) {
      failures++;
      const e = asTagsmithError(error);
      process.stderr.write(`tagsmith: ${path.relative(process.cwd(), files[i]) || files[i]}: ${e.code}: ${e.message}\n`);
    }
  }
  await extractor.release();
  return failures === 0 ? 0 : 1;
}

function round(scores: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(scores).map(([k, v]) => [k, Number(v.toFixed(5))]));
}
