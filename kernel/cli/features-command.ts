// `tagsmith features <image or folder...>`: one JSON line per image on stdout, in input order;
// one error line per unreadable file or missing path on stderr; the rest still processed.
// Exit code 0 when every file embedded, 1 when any failed, 2 for a usage error.
import fs from 'node:fs/promises';
import path from 'node:path';
import { asTagsmithError } from '../errors';
import { settledInOrder } from '../engine/concurrency-limit';
import { FeatureExtractor } from '../features/feature-extractor';
import { listImageFiles } from '../images/image-files';

/** Files read and decoded at once (the extractor batches them), so a folder of 10,000 photos fits in memory. */
const IN_FLIGHT = 32;

export async function runFeaturesCommand(inputs: string[], options: { threads?: number; backbone?: string }): Promise<number> {
  if (inputs.length === 0) {
    process.stderr.write('tagsmith features: give at least one image file or folder\n');
    return 2;
  }
  let failures = 0;
  const report = (file: string, error: unknown) => {
    failures++;
    const e = asTagsmithError(error);
    process.stderr.write(`tagsmith: ${path.relative(process.cwd(), file) || file}: ${e.code}: ${e.message}\n`);
  };
  const files = await listImageFiles(inputs, report);
  const extractor = await FeatureExtractor.create({ threads: options.threads, backbone: options.backbone });
  try {
    let i = 0;
    for await (const outcome of settledInOrder(files, IN_FLIGHT, async (file) => extractor.embed(await fs.readFile(file)))) {
      const file = files[i++];
      if (!outcome.ok) {
        report(file, outcome.error);
        continue;
      }
      const { features, nsfw, image } = outcome.value;
      process.stdout.write(`${JSON.stringify({ file, width: image.width, height: image.height, dims: features.length, nsfw: round(nsfw) })}\n`);
    }
  } finally {
    await extractor.release();
  }
  return failures === 0 ? 0 : 1;
}

function round(scores: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(scores).map(([k, v]) => [k, Number(v.toFixed(5))]));
}
