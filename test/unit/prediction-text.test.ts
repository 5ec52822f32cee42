// What *Predict Tags* shows for the objects in an image: quick-pick rows for one image, a column
// of the report for several; from the real detector's predictions when it is installed.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { keywordRows, predictionReport } from '../../extension/logic/prediction-text';
import sharp from 'sharp';
import { enginesPerTest } from '../helpers/engine';
import { needsKeywordsModel, peopleWithDogs } from '../helpers/keyword-photos';

describe('Predict Tags: keywords', () => {
  it('lists the objects surest first with counts, says when none were found, and leaves the section out when the detector did not look', () => {
    assert.deepEqual(keywordRows({ dog: { score: 0.61, count: 1, boxes: [] }, person: { score: 0.83, count: 3, boxes: [] } }), [
      { label: 'person ×3', description: 'confidence 0.83' },
      { label: 'dog', description: 'confidence 0.61' },
    ]);
    assert.deepEqual(keywordRows({}), [{ label: 'no objects found' }]);
    assert.equal(keywordRows(undefined), undefined);
  });

  const ownEngine = enginesPerTest();
  it('the report of several images has a keywords column from the real detector', { ...needsKeywordsModel, timeout: 120_000 }, async () => {
    const { engine } = await ownEngine();
    // A flat grey picture: nothing for the detector (a generated blob can pass for a sports ball).
    const grey = await sharp({ create: { width: 96, height: 64, channels: 3, background: '#808080' } })
      .jpeg()
      .toBuffer();
    const results = [
      { file: '/photos/family.jpg', prediction: await engine.predict(await peopleWithDogs(), { keywords: true }) },
      { file: '/photos/grey.jpg', prediction: await engine.predict(grey, { keywords: true }) },
    ];
    const lines = predictionReport(results).split('\n');
    assert.equal(
      lines.find((l) => l.startsWith('| image')),
      '| image | aesthetic | stock | keywords |',
      'no trained tags: no empty column',
    );
    assert.match(
      lines.find((l) => l.startsWith('| family.jpg'))!,
      /\| person ×2, dog ×2[^|]* \|$/,
    );
    assert.match(
      lines.find((l) => l.startsWith('| grey.jpg'))!,
      /\| – \|$/,
    );
  });
});
