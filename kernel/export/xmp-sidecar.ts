// Keywords in XMP sidecars, the convention photo tools read (Lightroom, darktable, digiKam,
// exiftool): `dc:subject`, a bag of keywords, in a `.xmp` file beside the image. The image
// itself is never touched. Keywords already in a sidecar are kept; Tagsmith also records the
// ones it added under its own namespace, so exactly those can be taken out again.
import fs from 'node:fs/promises';
import path from 'node:path';
import { DOMParser, XMLSerializer, type Document, type Element } from '@xmldom/xmldom';
import { TagsmithError } from '../errors';
import { writeFileAtomic } from '../state/atomic-file';

const NS = {
  x: 'adobe:ns:meta/',
  rdf: 'http://www.w3.org/1999/02/22-rdf-syntax-ns#',
  dc: 'http://purl.org/dc/elements/1.1/',
  tagsmith: 'https://tagsmith.dev/ns/xmp/1.0/',
} as const;

/** A sidecar bigger than this is not an XMP packet of keywords: refuse rather than parse it. */
const MAX_SIDECAR_BYTES = 4 * 1024 * 1024;

/**
 * `photo.jpg.xmp` (darktable, digiKam: unambiguous when photo.jpg and photo.cr2 sit side by
 * side) or `photo.xmp` (Lightroom, exiftool's `%d%f.xmp`). An existing sidecar of either
 * kind is always the one edited.
 */
export type SidecarNaming = 'image-name.ext.xmp' | 'image-name.xmp';

export interface SidecarPlan {
  image: string;
  sidecar: string;
  /** The sidecar exists now (otherwise it will be created). */
  exists: boolean;
  /** Keywords in the sidecar that stay as they are. */
  keep: string[];
  add: string[];
  remove: string[];
}

/** Both names a sidecar of `image` may have (`flavour`: the platform's path module). */
export function sidecarPaths(image: string, flavour: path.PlatformPath = path): Record<SidecarNaming, string> {
  const parsed = flavour.parse(image);
  return { 'image-name.ext.xmp': `${image}.xmp`, 'image-name.xmp': flavour.join(parsed.dir, `${parsed.name}.xmp`) };
}

/** The sidecar this image's keywords go to: an existing one (either naming), else `naming`'s. */
export async function findSidecar(image: string, naming: SidecarNaming): Promise<{ sidecar: string; exists: boolean }> {
  const candidates = sidecarPaths(image);
  const preferred = candidates[naming];
  const other = candidates[naming === 'image-name.ext.xmp' ? 'image-name.xmp' : 'image-name.ext.xmp'];
  for (const sidecar of [preferred, other]) if (await isFile(sidecar)) return { sidecar, exists: true };
  return { sidecar: preferred, exists: false };
}

/** What writing `keywords` for `image` would change: nothing is written. */
export async function planKeywords(image: string, keywords: string[], naming: SidecarNaming = 'image-name.ext.xmp'): Promise<SidecarPlan> {
  const { sidecar, exists } = await findSidecar(image, naming);
  const current = exists ? readKeywords(await readSidecar(sidecar)) : { subject: [], added: [] };
  const add = unique(keywords).filter((k) => !current.subject.includes(k));
  return { image, sidecar, exists, keep: current.subject, add, remove: [] };
}

/** What taking out the keywords Tagsmith added (all of them, or only `only`) would change. */
export async function planRemoval(image: string, only?: string[]): Promise<SidecarPlan | undefined> {
  for (const sidecar of Object.values(sidecarPaths(image))) {
    if (!(await isFile(sidecar))) continue;
    const { subject, added } = readKeywords(await readSidecar(sidecar));
    const remove = added.filter((k) => subject.includes(k) && (only === undefined || only.includes(k)));
    return { image, sidecar, exists: true, keep: subject.filter((k) => !remove.includes(k)), add: [], remove };
  }
  return undefined;
}

/** Writes a plan (atomically: a crash leaves the old sidecar or the new one). */
export async function applyPlan(plan: SidecarPlan): Promise<void> {
  if (plan.add.length === 0 && plan.remove.length === 0) return;
  const doc = plan.exists ? await readSidecar(plan.sidecar) : emptyPacket();
  const description = keywordDescription(doc);
  const subject = bagOf(doc, description, NS.dc, 'dc:subject');
  const added = bagOf(doc, description, NS.tagsmith, 'tagsmith:added');
  for (const keyword of plan.add) {
    appendItem(doc, subject, keyword);
    if (!items(added).includes(keyword)) appendItem(doc, added, keyword);
  }
  for (const keyword of plan.remove) {
    removeItem(subject, keyword);
    removeItem(added, keyword);
  }
  for (const bag of [subject, added]) if (items(bag).length === 0) removeProperty(bag);
  // A sidecar left with nothing in it was Tagsmith's own: take it away rather than leave an empty file.
  if (plan.remove.length > 0 && isEmptyPacket(doc)) await fs.rm(plan.sidecar, { force: true });
  else await writeFileAtomic(plan.sidecar, new XMLSerializer().serializeToString(doc));
}

/** Removes the property holding an (empty) bag, with its line's indentation. */
function removeProperty(bag: Element): void {
  const property = bag.parentNode as Element | null;
  const description = property?.parentNode;
  if (!property || !description) return;
  const before = property.previousSibling;
  if (before?.nodeType === 3 && !before.nodeValue!.trim()) description.removeChild(before);
  description.removeChild(property);
}

/** No property in any rdf:Description, as element or attribute (rdf:about and namespaces aside). */
function isEmptyPacket(doc: Document): boolean {
  return descriptions(doc).every((d) => {
    for (let node = d.firstChild; node; node = node.nextSibling) if (node.nodeType === 1) return false;
    return Array.from(d.attributes).every((a) => a.name === 'rdf:about' || a.name === 'xmlns' || a.name.startsWith('xmlns:'));
  });
}

// ── reading ─────────────────────────────────────────────────────────────────────────────

async function readSidecar(file: string): Promise<Document> {
  const stat = await fs.stat(file);
  if (stat.size > MAX_SIDECAR_BYTES)
    throw new TagsmithError('invalid_sidecar', `${file} is ${stat.size} bytes, too big for an XMP sidecar; it was left alone.`);
  const text = await fs.readFile(file, 'utf8');
  // XMP never declares a DTD; refusing one rules out entity expansion of any kind.
  if (/<!DOCTYPE|<!ENTITY/i.test(text))
    throw new TagsmithError('invalid_sidecar', `${file} declares a DTD, which an XMP sidecar never does; it was left alone.`);
  let doc: Document;
  try {
    doc = strictParser().parseFromString(text, 'text/xml');
  } catch (error) {
    throw new TagsmithError('invalid_sidecar', `${file} is not well-formed XML (${firstLine(error)}); it was left alone.`, { cause: error });
  }
  if (doc.getElementsByTagNameNS(NS.rdf, 'RDF').length === 0)
    throw new TagsmithError('invalid_sidecar', `${file} has no rdf:RDF element, so it is not XMP; it was left alone.`);
  return doc;
}

function readKeywords(doc: Document): { subject: string[]; added: string[] } {
  const collect = (ns: string, local: string) =>
    unique(descriptions(doc).flatMap((d) => childrenNS(d, ns, local).flatMap((property) => childrenNS(property, NS.rdf, 'Bag').flatMap((bag) => items(bag)))));
  return { subject: collect(NS.dc, 'subject'), added: collect(NS.tagsmith, 'added') };
}

// ── editing ─────────────────────────────────────────────────────────────────────────────

function emptyPacket(): Document {
  return strictParser().parseFromString(
    `<?xpacket begin="\uFEFF" id="W5M0MpCehiHzreSzNTczkc9d"?>\n<x:xmpmeta xmlns:x="${NS.x}" x:xmptk="Tagsmith">\n <rdf:RDF xmlns:rdf="${NS.rdf}">\n  <rdf:Description rdf:about=""/>\n </rdf:RDF>\n</x:xmpmeta>\n<?xpacket end="w"?>`,
    'text/xml',
  );
}

/** The rdf:Description holding dc:subject, else the first one, else a new one. */
function keywordDescription(doc: Document): Element {
  const all = descriptions(doc);
  const holding = all.find((d) => childrenNS(d, NS.dc, 'subject').length > 0);
  if (holding) return holding;
  if (all[0]) return all[0];
  const rdf = doc.getElementsByTagNameNS(NS.rdf, 'RDF')[0];
  const description = doc.createElementNS(NS.rdf, 'rdf:Description');
  description.setAttributeNS(NS.rdf, 'rdf:about', '');
  rdf.appendChild(description);
  return description;
}

/** The rdf:Bag of a property of `description`, made if missing. */
function bagOf(doc: Document, description: Element, ns: string, qualifiedName: string): Element {
  const local = qualifiedName.split(':')[1];
  let property = childrenNS(description, ns, local)[0];
  if (!property) {
    property = doc.createElementNS(ns, qualifiedName);
    appendIndented(doc, description, property);
  }
  let bag = childrenNS(property, NS.rdf, 'Bag')[0];
  if (!bag) {
    bag = doc.createElementNS(NS.rdf, 'rdf:Bag');
    property.appendChild(bag);
  }
  return bag;
}

function appendItem(doc: Document, bag: Element, keyword: string): void {
  if (items(bag).includes(keyword)) return;
  const li = doc.createElementNS(NS.rdf, 'rdf:li');
  li.appendChild(doc.createTextNode(keyword));
  appendIndented(doc, bag, li);
}

/**
 * Appends `child` where a person editing the file would: after the last element, with the same
 * indentation, before the closing tag's own. Only whitespace differs from a plain append.
 */
function appendIndented(doc: Document, parent: Element, child: Element): void {
  const closing = parent.lastChild;
  const closingIndent = closing?.nodeType === 3 && !closing.nodeValue!.trim() ? closing : undefined;
  const lastElement = closingIndent?.previousSibling?.nodeType === 1 ? closingIndent.previousSibling : undefined;
  const indentBefore = lastElement?.previousSibling;
  if (closingIndent && indentBefore?.nodeType === 3 && !indentBefore.nodeValue!.trim()) {
    parent.insertBefore(doc.createTextNode(indentBefore.nodeValue!), closingIndent);
    parent.insertBefore(child, closingIndent);
  } else {
    parent.appendChild(child);
  }
}

function removeItem(bag: Element, keyword: string): void {
  for (const li of childrenNS(bag, NS.rdf, 'li')) {
    if (li.textContent?.trim() !== keyword) continue;
    // Take the line's indentation with it.
    const before = li.previousSibling;
    if (before?.nodeType === 3 && !before.nodeValue!.trim()) bag.removeChild(before);
    bag.removeChild(li);
  }
}

/** A parser that throws on any error instead of logging it and guessing. */
function strictParser(): DOMParser {
  return new DOMParser({
    onError: (level, message) => {
      if (level !== 'warning') throw new Error(message);
    },
  });
}

function descriptions(doc: Document): Element[] {
  return Array.from(doc.getElementsByTagNameNS(NS.rdf, 'Description'));
}

function childrenNS(parent: Element, ns: string, local: string): Element[] {
  const out: Element[] = [];
  for (let node = parent.firstChild; node; node = node.nextSibling) {
    if (node.nodeType === 1 && (node as Element).namespaceURI === ns && (node as Element).localName === local) out.push(node as Element);
  }
  return out;
}

function items(bag: Element): string[] {
  return childrenNS(bag, NS.rdf, 'li')
    .map((li) => li.textContent?.trim() ?? '')
    .filter(Boolean);
}

function unique(values: string[]): string[] {
  return [...new Set(values)];
}

async function isFile(file: string): Promise<boolean> {
  return fs.stat(file).then(
    (s) => s.isFile(),
    () => false,
  );
}

function firstLine(error: unknown): string {
  return String((error as Error).message ?? error).split('\n')[0];
}
