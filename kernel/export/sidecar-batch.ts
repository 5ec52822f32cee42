// Keywords for a whole scan's XMP sidecars: what would change (a preview), writing it, or taking
// out exactly what Tagsmith added. Each image's sidecar is planned and written on its own, so
// one unreadable sidecar is reported and the rest go on.
import { Type, type Static } from 'typebox';
import { Compile } from 'typebox/compile';
import type { SidecarChange, SidecarReport, SidecarRequest } from '../api/wire-types';
import { asTagsmithError, TagsmithError } from '../errors';
import { concurrencyLimit } from '../engine/concurrency-limit';
import { isValidTag } from '../state/path-names';
import { keywordList } from '../scores/keywords-text';
import type { ImageCalls } from './scan-table';
import { applyPlan, planKeywords, planRemoval, type SidecarPlan } from './xmp-sidecar';

const SidecarRequestSchema = Type.Object(
  {
    action: Type.Enum(['preview', 'write', 'remove']),
    tags: Type.Optional(Type.Array(Type.Refine(Type.String(), isValidTag), { maxItems: 1000 })),
    naming: Type.Optional(Type.Enum(['image-name.ext.xmp', 'image-name.xmp'])),
    includeKeywords: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);
const checkRequest = Compile(SidecarRequestSchema);

/** Sidecars read or written at once. */
const AT_ONCE = 8;

export function parseSidecarRequest(value: unknown): SidecarRequest {
  if (!checkRequest.Check(value)) {
    throw new TagsmithError(
      'invalid_option',
      'Send {"action": "preview" | "write" | "remove", "tags"?: [tag names], "naming"?: "image-name.ext.xmp" | "image-name.xmp", "includeKeywords"?: true | false}.',
    );
  }
  return value as Static<typeof SidecarRequestSchema>;
}

/**
 * Preview and write put each image's applying tags (of `request.tags`, default all) in its
 * sidecar's keywords; remove takes out the keywords Tagsmith added (those of `request.tags`,
 * default all).
 */
export async function sidecarReport(rows: Iterable<ImageCalls>, request: SidecarRequest): Promise<SidecarReport> {
  const report: SidecarReport = { action: request.action, changes: [], failed: [], written: request.action !== 'preview' };
  const wanted = request.tags && new Set(request.tags);
  const limit = concurrencyLimit(AT_ONCE);
  const work: Promise<void>[] = [];
  for (const row of rows) {
    const keywords = Object.entries(row.tags).flatMap(([tag, call]) => (call.applies && (!wanted || wanted.has(tag)) ? [tag] : []));
    // The keywords model's objects too, when asked (a scan made with keywords): "person", "dog".
    if (request.includeKeywords) keywords.push(...keywordList(row.keywords).map((k) => k.name));
    if (request.action !== 'remove' && keywords.length === 0) continue;
    work.push(
      limit(async () => {
        try {
          const plan = request.action === 'remove' ? await planRemoval(row.path, request.tags) : await planKeywords(row.path, keywords, request.naming);
          if (!plan || (plan.add.length === 0 && plan.remove.length === 0)) return;
          if (request.action !== 'preview') await applyPlan(plan);
          report.changes.push(change(plan));
        } catch (error) {
          report.failed.push({ image: row.path, reason: asTagsmithError(error).message });
        }
      }),
    );
  }
  await Promise.all(work);
  report.changes.sort((a, b) => (a.image < b.image ? -1 : 1));
  report.failed.sort((a, b) => (a.image < b.image ? -1 : 1));
  return report;
}

function change(plan: SidecarPlan): SidecarChange {
  return { image: plan.image, sidecar: plan.sidecar, creates: !plan.exists, add: plan.add, remove: plan.remove };
}
