// The rules a user meets are written once (kernel/rules.ts); these tests hold the places that
// enforce them to what the places that offer and explain them say: the cluster choices the
// dialogs offer are what the engine and the webview protocol accept, the Train button is enabled
// exactly when the engine would train, and a task is active in the same states everywhere.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ENDPOINTS } from '../../kernel/api/endpoints';
import { TagsmithError } from '../../kernel/errors';
import { hasImageExtension } from '../../kernel/images/image-files';
import {
  CLUSTER_CHOICES,
  clusterChoicesFor,
  DEFAULT_TRAIN_OPTIONS,
  hasEnoughSamples,
  IMAGE_EXTENSIONS,
  IMAGE_KINDS,
  isActiveTask,
  MAX_CLUSTERS,
  MIN_CLUSTERS,
  MIN_NEGATIVES,
  MIN_POSITIVES,
  samplesNeeded,
  TASK_STATES,
  THUMBNAIL_DEFAULT,
  THUMBNAIL_MAX,
  THUMBNAIL_MIN,
  type TaskState,
} from '../../kernel/rules';
import { interruptedTask } from '../../kernel/state/generation-loader';
import { isThumbnailSide } from '../../kernel/state/path-names';
import type { TaskRecord } from '../../kernel/state/record-schemas';
import { checkEnoughSamples } from '../../kernel/training/train-tag';
import { parseTrainQuery, validateTrainOptions } from '../../kernel/training/train-options';
import { isRequestMessage, request } from '../../webview/protocol';

const options = (num_clusters: number) => ({ ...DEFAULT_TRAIN_OPTIONS, num_clusters });
const engineAccepts = (k: number) => {
  try {
    validateTrainOptions(options(k));
    return true;
  } catch (error) {
    assert.ok(error instanceof TagsmithError && error.code === 'invalid_option', String(error));
    return false;
  }
};
const protocolAccepts = (k: number) => isRequestMessage(request(1, 'train/start', { tag: 'cats', options: options(k) }));
const engineTrains = (positives: number, negatives: number, clusters: number) => {
  try {
    checkEnoughSamples(positives, negatives, clusters);
    return true;
  } catch (error) {
    assert.ok(error instanceof TagsmithError && error.code === 'not_enough_samples', String(error));
    return false;
  }
};

describe('cluster counts', () => {
  it('every choice a Train dialog offers is accepted by the engine and by the webview protocol', () => {
    assert.ok(CLUSTER_CHOICES.length > 0);
    assert.deepEqual(
      [...CLUSTER_CHOICES].sort((a, b) => a - b),
      CLUSTER_CHOICES,
      'offered smallest first',
    );
    for (const k of CLUSTER_CHOICES) assert.deepEqual([k, engineAccepts(k), protocolAccepts(k)], [k, true, true]);
  });

  it('the engine and the webview protocol draw the same limits', () => {
    for (const k of [MIN_CLUSTERS - 1, MIN_CLUSTERS, MAX_CLUSTERS, MAX_CLUSTERS + 1, 2.5, Number.NaN]) {
      assert.equal(protocolAccepts(k), engineAccepts(k), `num_clusters ${k}`);
    }
    assert.equal(engineAccepts(MAX_CLUSTERS), true);
    assert.equal(engineAccepts(MAX_CLUSTERS + 1), false);
    assert.match(ENDPOINTS.train.query?.num_clusters ?? '', new RegExp(`${MIN_CLUSTERS}–${MAX_CLUSTERS}, ${DEFAULT_TRAIN_OPTIONS.num_clusters} by default`));
  });

  it('what a run is given by default is what the engine uses for an option left out', () => {
    assert.deepEqual(validateTrainOptions({}), DEFAULT_TRAIN_OPTIONS);
    assert.deepEqual(parseTrainQuery(new URLSearchParams()), DEFAULT_TRAIN_OPTIONS);
  });

  it('the palette offers, for a tag, only the choices its positives can train with, and always one', () => {
    for (let positives = 0; positives <= 10; positives++) {
      const offered = clusterChoicesFor(positives);
      assert.ok(offered.includes(MIN_CLUSTERS), `${positives} positives: the smallest is always offered`);
      for (const k of offered.filter((k) => k !== MIN_CLUSTERS)) assert.ok(engineTrains(positives, MIN_NEGATIVES, k), `${positives} positives, ${k} clusters`);
      for (const k of CLUSTER_CHOICES.filter((k) => !offered.includes(k)))
        assert.ok(!engineTrains(positives, MIN_NEGATIVES, k), `${positives} positives, ${k} clusters left out`);
    }
  });
});

describe('samples training needs', () => {
  it('the panels enable Train exactly when the engine would train', () => {
    for (let positives = 0; positives <= 4; positives++) {
      for (let negatives = 0; negatives <= 4; negatives++) {
        assert.equal(
          hasEnoughSamples({ positives, negatives }),
          engineTrains(positives, negatives, DEFAULT_TRAIN_OPTIONS.num_clusters),
          `${positives}/${negatives}`,
        );
      }
    }
    assert.equal(hasEnoughSamples({ positives: MIN_POSITIVES, negatives: MIN_NEGATIVES }), true);
  });

  it("the engine's refusal says what the panels say is needed", () => {
    assert.equal(samplesNeeded(), `at least ${MIN_POSITIVES} positive and ${MIN_NEGATIVES} negative samples`);
    assert.throws(
      () => checkEnoughSamples(1, 5, 1),
      (e: Error) => e.message.includes(`Training needs ${samplesNeeded()}`),
    );
    assert.throws(
      () => checkEnoughSamples(5, 5, 9),
      (e: Error) => e.message.includes(`Training needs ${samplesNeeded(9)} (at least one positive per cluster for 9 clusters)`),
    );
  });
});

describe('active tasks', () => {
  it('are the queued and running ones, and those are what a stopped engine settles as interrupted', () => {
    const task = (state: TaskState) =>
      ({ state, task_id: 'x', tag: 't', progress: 0, options: DEFAULT_TRAIN_OPTIONS, createdAt: '2026-01-01T00:00:00.000Z' }) as TaskRecord;
    assert.deepEqual(
      TASK_STATES.filter((state) => isActiveTask({ state })),
      ['queued', 'running'],
    );
    for (const state of TASK_STATES) {
      const settled = interruptedTask(task(state));
      assert.equal(settled.state !== state, isActiveTask({ state }), state);
      assert.equal(isActiveTask(settled), false, `${state} is settled`);
    }
  });
});

describe('files and thumbnails', () => {
  it('the image kinds a user reads name every extension taken', () => {
    const named = IMAGE_KINDS.split(/, | or /);
    for (const extension of IMAGE_EXTENSIONS) {
      assert.ok(hasImageExtension(`photo${extension.toUpperCase()}`), extension);
      const kind = { jpeg: 'jpg', tif: 'tiff' }[extension.slice(1)] ?? extension.slice(1);
      assert.ok(named.includes(kind), `${extension} is named as ${kind}`);
    }
  });

  it('the default thumbnail is one the engine makes, and the endpoint says its range', () => {
    assert.ok(isThumbnailSide(THUMBNAIL_DEFAULT));
    assert.ok(!isThumbnailSide(THUMBNAIL_MIN - 1) && !isThumbnailSide(THUMBNAIL_MAX + 1));
    assert.match(ENDPOINTS.thumbnail.query?.size ?? '', new RegExp(`${THUMBNAIL_MIN}–${THUMBNAIL_MAX}, default ${THUMBNAIL_DEFAULT}`));
  });
});
