// The trained tags this engine serves, and the scoring of an embedding or a saved feature
// document against them. A model trained on another backbone is remembered (its tag says
// "train again") but never served: its weights fit another network's vectors.
import { TagsmithError } from '../errors';
import type { ReceivedFeatures, TagSummary } from '../api/wire-types';
import type { SampleRecord, TagModelJson } from '../state/record-schemas';
import { TagModel, type PreparedFeatures, type ScoringInput, type TagScore } from '../training/tag-model';
import { samplesDigest } from './sample-store';

export class ModelRegistry {
  private readonly served = new Map<string, TagModel>();
  /** Tags whose model was trained on another backbone → that backbone; kept on disk, not served. */
  private readonly foreign = new Map<string, string>();

  constructor(private readonly backbone: string) {}

  /** Replaces everything with a loaded state's models. */
  install(models: TagModelJson[]): void {
    this.served.clear();
    this.foreign.clear();
    for (const json of models) {
      if (json.backbone !== this.backbone) this.foreign.set(json.tag, json.backbone);
      else this.served.set(json.tag, TagModel.fromJSON(json));
    }
  }

  set(model: TagModel): void {
    this.served.set(model.tag, model);
    this.foreign.delete(model.tag);
  }

  /** Forgets a tag's model; whether it had one (served or foreign). */
  delete(tag: string): boolean {
    const had = this.served.has(tag) || this.foreign.has(tag);
    this.served.delete(tag);
    this.foreign.delete(tag);
    return had;
  }

  get(tag: string): TagModel | undefined {
    return this.served.get(tag);
  }

  require(tag: string): TagModel {
    const model = this.served.get(tag);
    if (!model) throw new TagsmithError('unknown_tag', `There is no trained tag "${tag}".`);
    return model;
  }

  /** Served models in tag order. */
  all(): TagModel[] {
    return [...this.served.values()].sort((a, b) => a.tag.localeCompare(b.tag));
  }

  get size(): number {
    return this.served.size;
  }

  /** What /tags says of a tag's model, given its samples now. */
  describe(tag: string, samples: SampleRecord[]): Omit<TagSummary, 'tag' | 'positives' | 'negatives'> {
    const model = this.served.get(tag)?.json;
    const trainedOn = this.foreign.get(tag);
    return {
      trained: model !== undefined,
      stale: model !== undefined && model.samplesDigest !== samplesDigest(samples),
      ...(model ? { trainedAt: model.trainedAt, options: model.options, metrics: model.metrics } : {}),
      ...(trainedOn ? { retrainReason: `Trained on backbone ${trainedOn}; this engine runs ${this.backbone}: train again to use it.` } : {}),
    };
  }

  /** Scores one input against the given tags (default: every served one), in tag order. */
  score(input: ScoringInput, tags: string[] = this.all().map((m) => m.tag)): Record<string, TagScore> {
    const prepared: PreparedFeatures = new Map();
    return Object.fromEntries([...tags].sort((a, b) => a.localeCompare(b)).map((tag) => [tag, this.require(tag).score(input, prepared)]));
  }

  /** Scores a saved feature document; a tag that needs a base score the document lacks refuses it. */
  scoreDocument(doc: ReceivedFeatures): Record<string, TagScore> {
    for (const model of this.all()) {
      if (
        (model.needs.aesthetic && !doc.aesthetic) ||
        (model.needs.stock && !doc.stock) ||
        (model.needs.keywords && doc.keywords?.model !== model.json.keywords?.model)
      ) {
        throw new TagsmithError(
          'invalid_features',
          `Tag "${model.tag}" was trained with ${model.needs.keywords ? 'keywords' : 'base scores'} the document lacks; save the full output of /get_features.`,
        );
      }
    }
    return this.score({ features: doc.features, aesthetic: doc.aesthetic?.score, stock: doc.stock?.score, keywords: doc.keywords?.vector });
  }
}
