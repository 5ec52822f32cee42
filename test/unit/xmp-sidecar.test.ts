// XMP sidecar keywords on sidecars in the shapes darktable, digiKam and exiftool write: what a
// photographer would notice is their own keywords and every other field surviving, Tagsmith's
// keywords readable by those tools (dc:subject), and an undo that takes out exactly those.
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { before, describe, it } from 'node:test';
import { DOMParser } from '@xmldom/xmldom';
import { applyPlan, planKeywords, planRemoval } from '../../kernel/export/xmp-sidecar';
import { tempDir } from '../helpers/engine';

const FIXTURES = path.resolve(__dirname, '../fixtures/xmp');
const RDF = 'http://www.w3.org/1999/02/22-rdf-syntax-ns#';

/** dc:subject as a photo tool reads it: every rdf:li of every dc:subject bag. */
function subjectOf(xml: string): string[] {
  const doc = new DOMParser().parseFromString(xml, 'text/xml');
  return Array.from(doc.getElementsByTagNameNS('http://purl.org/dc/elements/1.1/', 'subject')).flatMap((s) =>
    Array.from(s.getElementsByTagNameNS(RDF, 'li')).map((li) => li.textContent!.trim()),
  );
}

/** Every element and attribute of a document except Tagsmith's own, as comparable strings. */
function fieldsOf(xml: string): string[] {
  const doc = new DOMParser().parseFromString(xml, 'text/xml');
  const out: string[] = [];
  const walk = (node: import('@xmldom/xmldom').Element, trail: string) => {
    if (node.namespaceURI === 'https://tagsmith.dev/ns/xmp/1.0/') return;
    const here = `${trail}/${node.namespaceURI}:${node.localName}`;
    for (const attr of Array.from(node.attributes))
      if (!attr.name.startsWith('xmlns')) out.push(`${here}@${attr.namespaceURI}:${attr.localName}=${attr.value}`);
    for (let child = node.firstChild; child; child = child.nextSibling) {
      if (child.nodeType === 1) walk(child as import('@xmldom/xmldom').Element, here);
      else if (child.nodeType === 3 && child.nodeValue!.trim()) out.push(`${here}=${child.nodeValue!.trim()}`);
    }
  };
  walk(doc.documentElement!, '');
  return out.sort();
}

describe('XMP sidecar keywords', () => {
  let dir: string;
  before(async () => {
    dir = await tempDir('tagsmith-xmp-');
  });

  async function copyFixture(fixture: string, image: string): Promise<{ image: string; sidecar: string; original: string }> {
    const imagePath = path.join(dir, image);
    await fs.writeFile(imagePath, 'the image bytes, which must never change');
    const sidecar = path.join(dir, fixture.replace(/^[a-z]+/, path.parse(image).name));
    const original = await fs.readFile(path.join(FIXTURES, fixture), 'utf8');
    await fs.writeFile(sidecar, original);
    return { image: imagePath, sidecar, original };
  }

  for (const [fixture, image, own] of [
    ['darktable.jpg.xmp', 'dt.jpg', ['meadow', 'summer']],
    ['digikam.jpg.xmp', 'dk.jpg', ['bees']],
    ['exiftool.xmp', 'et.jpg', ['flowers']],
  ] as const) {
    it(`merges into a ${fixture.split('.')[0]} sidecar, keeps everything else, and undoes exactly its own`, async () => {
      const { image: imagePath, sidecar, original } = await copyFixture(fixture, image);
      const plan = await planKeywords(imagePath, ['bees', 'macro']);
      // The preview: the existing sidecar, found under its own naming convention.
      assert.equal(plan.sidecar, sidecar);
      assert.equal(plan.exists, true);
      assert.deepEqual(plan.keep, [...own]);
      assert.deepEqual(
        plan.add,
        ['bees', 'macro'].filter((k) => !own.includes(k as never)),
      );
      assert.equal(await fs.readFile(sidecar, 'utf8'), original, 'planning writes nothing');

      await applyPlan(plan);
      const written = await fs.readFile(sidecar, 'utf8');
      assert.deepEqual(subjectOf(written).sort(), [...new Set([...own, 'bees', 'macro'])].sort());
      const before = fieldsOf(original);
      const after = fieldsOf(written);
      for (const field of before) assert.ok(after.includes(field), `kept ${field}`);

      const undo = await planRemoval(imagePath);
      assert.deepEqual(undo?.remove.sort(), plan.add.sort(), 'only the keywords Tagsmith added are taken out');
      await applyPlan(undo!);
      const restored = await fs.readFile(sidecar, 'utf8');
      assert.deepEqual(subjectOf(restored).sort(), [...own].sort());
      assert.deepEqual(fieldsOf(restored), before, 'the sidecar reads as it did before');
      assert.equal(await fs.readFile(imagePath, 'utf8'), 'the image bytes, which must never change');
    });
  }

  it('creates photo.jpg.xmp when there is none, readable as XMP with the keywords', async () => {
    const imagePath = path.join(dir, 'new.jpg');
    await fs.writeFile(imagePath, 'x');
    const plan = await planKeywords(imagePath, ['bees']);
    assert.equal(plan.sidecar, `${imagePath}.xmp`);
    assert.equal(plan.exists, false);
    await applyPlan(plan);
    const written = await fs.readFile(`${imagePath}.xmp`, 'utf8');
    assert.match(written, /^<\?xpacket begin=/);
    assert.deepEqual(subjectOf(written), ['bees']);
    // Undone, a sidecar Tagsmith made holds nothing more: it goes, rather than stay empty.
    await applyPlan((await planRemoval(imagePath))!);
    await assert.rejects(fs.access(`${imagePath}.xmp`));
  });

  it('writes photo.xmp for the Lightroom convention, and adding twice adds nothing', async () => {
    const imagePath = path.join(dir, 'lr.jpg');
    await fs.writeFile(imagePath, 'x');
    await applyPlan(await planKeywords(imagePath, ['bees'], 'image-name.xmp'));
    const again = await planKeywords(imagePath, ['bees'], 'image-name.ext.xmp');
    assert.equal(again.sidecar, path.join(dir, 'lr.xmp'), 'the existing sidecar wins over the preferred naming');
    assert.deepEqual(again.add, []);
  });

  it('never removes a keyword the user had before Tagsmith added the same one', async () => {
    const { image: imagePath, sidecar } = await copyFixture('exiftool.xmp', 'keep.jpg');
    await applyPlan(await planKeywords(imagePath, ['flowers', 'bees']));
    const undo = await planRemoval(imagePath);
    assert.deepEqual(undo?.remove, ['bees']);
    await applyPlan(undo!);
    assert.deepEqual(subjectOf(await fs.readFile(sidecar, 'utf8')), ['flowers']);
  });

  it('leaves a malformed sidecar, or one declaring a DTD, untouched with a clear error', async () => {
    const imagePath = path.join(dir, 'broken.jpg');
    await fs.writeFile(imagePath, 'x');
    for (const text of ['<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF', '<!DOCTYPE x [<!ENTITY a "aaaa">]><x>&a;</x>', '<not-xmp/>']) {
      await fs.writeFile(`${imagePath}.xmp`, text);
      await assert.rejects(planKeywords(imagePath, ['bees']), (e: { code?: string }) => e.code === 'invalid_sidecar');
      assert.equal(await fs.readFile(`${imagePath}.xmp`, 'utf8'), text);
    }
  });
});
