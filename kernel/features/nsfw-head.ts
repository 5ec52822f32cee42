// The backbone's nsfw head alone (features → probabilities), for scoring a saved vector.
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { readManifest } from '../../models/manifest';
import { findModelsDir } from './models-dir';

export class NsfwHead {
  private constructor(
    private readonly session: ort.InferenceSession,
    private readonly labels: string[],
    private readonly featureLength: number,
  ) {}

  /** The head of the backbone (default the manifest's), or undefined when it has none (a user's own encoder). */
  static async create(modelsDir = findModelsDir(), backbone?: string): Promise<NsfwHead | undefined> {
    const manifest = readManifest(modelsDir, backbone);
    const entry = manifest.models[manifest.backbone];
    if (!entry.outputs.nsfw) return undefined;
    const session = await ort.InferenceSession.create(path.join(modelsDir, entry.outputs.nsfw.headFile), { intraOpNumThreads: 1 });
    return new NsfwHead(session, entry.outputs.nsfw.labels, entry.outputs.features.length);
  }

  async score(features: ArrayLike<number>): Promise<Record<string, number>> {
    const input = new ort.Tensor('float32', Float32Array.from(features), [1, this.featureLength]);
    const out = (await this.session.run({ features: input })).nsfw.data as Float32Array;
    return Object.fromEntries(this.labels.map((label, i) => [label, out[i]]));
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}
