// "More like this" among the samples: every sample's embedding prepared for cosine search,
// rebuilt only when the samples change (a digest of all lists says when).
import type { SimilarSample } from '../api/wire-types';
import { nearestRows, prepareRows } from '../ml/similarity';
import type { RunningBackbone } from '../state/read-generation';
import type { SampleListJson } from '../state/record-schemas';
import { decodeFeatures } from '../state/stored-records';
import { sha256 } from './embedder';
import type { SampleStore } from './sample-store';

interface Index {
  digest: string;
  ids: string[];
  prepared: Float32Array;
  memberships: Map<string, SimilarSample['tags']>;
  fileNames: Map<string, string>;
}

export class SampleSimilarity {
  private index: Index | undefined;

  constructor(private readonly samples: SampleStore) {}

  /** The `k` samples most like a prepared feature row, best first. `lists`: the state's lists now. */
  async nearest(query: Float32Array, k: number, lists: SampleListJson[], running: RunningBackbone, exclude?: string): Promise<SimilarSample[]> {
    const index = await this.current(lists, running);
    return nearestRows(query, index.prepared, running.featureLength, k, (i) => index.ids[i] === exclude).map((n) => {
      const id = index.ids[n.index];
      const fileName = index.fileNames.get(id);
      return { id, tags: index.memberships.get(id)!, ...(fileName ? { fileName } : {}), similarity: n.similarity };
    });
  }

  private async current(lists: SampleListJson[], running: RunningBackbone): Promise<Index> {
    const digest = sha256(Buffer.from(lists.map((l) => `${l.tag}:${l.samples.map((s) => `${s.type[0]}${s.id}`).join(',')}`).join('\n')));
    if (this.index?.digest === digest) return this.index;
    const memberships = new Map<string, SimilarSample['tags']>();
    const fileNames = new Map<string, string>();
    for (const list of lists) {
      for (const s of list.samples) {
        memberships.set(s.id, [...(memberships.get(s.id) ?? []), { tag: list.tag, type: s.type }]);
        if (s.fileName && !fileNames.has(s.id)) fileNames.set(s.id, s.fileName);
      }
    }
    const ids: string[] = [];
    const rows: Float32Array[] = [];
    for (const id of memberships.keys()) {
      // A sample not yet embedded for this backbone (a switched state) is left out until it is.
      const record = await this.samples.readEmbedding(id, running).catch(() => undefined);
      if (!record) continue;
      ids.push(id);
      rows.push(decodeFeatures(record.features));
    }
    const matrix = new Float32Array(rows.length * running.featureLength);
    rows.forEach((r, i) => matrix.set(r, i * running.featureLength));
    this.index = { digest, ids, prepared: prepareRows(matrix, running.featureLength), memberships, fileNames };
    return this.index;
  }
}
