// The `keywords` base model: which COCO objects an image shows, how sure the detector is of
// each, and how many there are. The detector's graph decodes its own heatmap peaks into the
// top K boxes; here they are thresholded and de-duplicated:
//   * non-maximum suppression per class (two boxes of one class overlapping more than
//     `sameClassIou` are one object), and
//   * across classes, a box overlapping a surer box of another class more than `crossClassIou`
//     is the same object named twice (CenterNet gives each class its own peak, so a horse is
//     often also a weaker cow at the very same box): the surer name stays.
// A person beside their dog overlaps far less than that, so both are kept.

/** [x, y, width, height] as fractions of the image's width and height. */
export type Box = [number, number, number, number];

export interface KeywordHit {
  /** The highest confidence among the instances, 0–1. */
  score: number;
  /** Instances counted. */
  count: number;
  /** Each instance's box, surest first. */
  boxes: Box[];
}

/** Keyword (a COCO class name) → what was found; only classes present, surest first. */
export type Keywords = Record<string, KeywordHit>;

export interface KeywordDecoding {
  minScore: number;
  sameClassIou: number;
  crossClassIou: number;
}

/** Where the image sat in the detector's square input (letterboxing). */
export interface Placement {
  size: number;
  left: number;
  top: number;
  contentWidth: number;
  contentHeight: number;
}

interface Candidate {
  label: number;
  score: number;
  /** x1, y1, x2, y2 in input pixels. */
  corners: [number, number, number, number];
}

/** The detector's raw rows (x1, y1, x2, y2, score, class), K of them, as keywords. */
export function decodeKeywords(rows: Float32Array, labels: readonly string[], decoding: KeywordDecoding, placement: Placement): Keywords {
  const candidates: Candidate[] = [];
  for (let i = 0; i + 6 <= rows.length; i += 6) {
    const score = rows[i + 4];
    const label = rows[i + 5];
    if (!(score >= decoding.minScore) || !Number.isInteger(label) || label < 0 || label >= labels.length) continue;
    candidates.push({ label, score, corners: [rows[i], rows[i + 1], rows[i + 2], rows[i + 3]] });
  }
  candidates.sort((a, b) => b.score - a.score);
  const kept: Candidate[] = [];
  for (const c of candidates) {
    const duplicate = kept.some((k) => {
      const overlap = iou(k.corners, c.corners);
      return k.label === c.label ? overlap > decoding.sameClassIou : overlap > decoding.crossClassIou;
    });
    if (!duplicate) kept.push(c);
  }
  const keywords: Keywords = {};
  for (const c of kept) {
    const name = labels[c.label];
    const hit = (keywords[name] ??= { score: c.score, count: 0, boxes: [] });
    hit.count++;
    hit.boxes.push(imageBox(c.corners, placement));
  }
  return keywords;
}

/** Each class's highest confidence among the detector's rows, thresholded or not: a fixed-length input for training. */
export function keywordVector(rows: Float32Array, classes: number): Float32Array {
  const best = new Float32Array(classes);
  for (let i = 0; i + 6 <= rows.length; i += 6) {
    const label = rows[i + 5];
    const score = rows[i + 4];
    if (Number.isInteger(label) && label >= 0 && label < classes && score > best[label]) best[label] = Math.min(1, score);
  }
  return best;
}

function iou(a: Candidate['corners'], b: Candidate['corners']): number {
  const w = Math.min(a[2], b[2]) - Math.max(a[0], b[0]);
  const h = Math.min(a[3], b[3]) - Math.max(a[1], b[1]);
  if (w <= 0 || h <= 0) return 0;
  const inter = w * h;
  const union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter;
  return union > 0 ? inter / union : 0;
}

/** Input-pixel corners → a box in fractions of the image, clipped to it. */
function imageBox([x1, y1, x2, y2]: Candidate['corners'], p: Placement): Box {
  const fx = (x: number) => Math.min(1, Math.max(0, (x - p.left) / p.contentWidth));
  const fy = (y: number) => Math.min(1, Math.max(0, (y - p.top) / p.contentHeight));
  const [left, top, right, bottom] = [fx(x1), fy(y1), fx(x2), fy(y2)];
  const round = (v: number) => Math.round(v * 1e4) / 1e4;
  return [round(left), round(top), round(right - left), round(bottom - top)];
}
