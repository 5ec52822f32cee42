// Finished scans, kept beside the state (not in archives: they describe files on this disk):
// what was scanned, each image's base scores, and the feature matrix that lets a retrained tag
// re-score the scan, the review queue rank it and "more like this" search it, without reading
// an image. The newest few are kept, and the newest scan of each folder (so a folder scanned a
// while ago is re-scored with the rest when a tag is trained again), up to a bound.
//
//   <dir>/<scan id>/scan.json       the record below, written last (a scan without it is debris)
//   <dir>/<scan id>/images.json     ScannedImage[]
//   <dir>/<scan id>/features.f32    images × featureLength float32, little-endian
import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { TagsmithError } from '../errors';
import { readJson, writeFileAtomic, writeJsonAtomic } from '../state/atomic-file';
import { isWithin, type SkippedPath } from '../images/image-files';
import type { ScannedImage, ScanOutcome } from './scanner';

export const SCANS_KEPT = 5;
/** Scans kept in all, counting the newest scan of each folder beyond SCANS_KEPT (each holds 7 KB of features an image). */
export const SCANS_KEPT_MOST = 20;
const SCAN_ID = /^s-[0-9a-z]+-[0-9a-f]{8}$/;

export interface ScanRecord {
  name: 'tagsmith-scan';
  formatVersion: 1;
  id: string;
  inputs: string[];
  backbone: string;
  featureLength: number;
  startedAt: string;
  finishedAt: string;
  cancelled: boolean;
  /** Its images' keywords were found (the keywords model was asked for, or a tag needed it). */
  keywords?: boolean;
  images: number;
  embedded: number;
  known: number;
  skipped: SkippedPath[];
}

export interface StoredScan {
  record: ScanRecord;
  images: ScannedImage[];
  features: Float32Array;
}

export function newScanId(): string {
  return `s-${Date.now().toString(36)}-${crypto.randomBytes(4).toString('hex')}`;
}

export function isScanId(id: unknown): id is string {
  return typeof id === 'string' && SCAN_ID.test(id);
}

export class ScanStore {
  constructor(readonly dir: string) {}

  async save(
    id: string,
    details: { inputs: string[]; backbone: string; featureLength: number; startedAt: string; keywords?: boolean },
    outcome: ScanOutcome,
  ): Promise<ScanRecord> {
    const folder = this.folder(id);
    await fs.mkdir(folder, { recursive: true });
    await writeJsonAtomic(path.join(folder, 'images.json'), outcome.images);
    const bytes = Buffer.from(outcome.features.buffer, outcome.features.byteOffset, outcome.features.byteLength);
    await writeFileAtomic(path.join(folder, 'features.f32'), littleEndian(bytes));
    const record: ScanRecord = {
      name: 'tagsmith-scan',
      formatVersion: 1,
      id,
      ...details,
      finishedAt: new Date().toISOString(),
      cancelled: outcome.cancelled,
      images: outcome.images.length,
      embedded: outcome.embedded,
      known: outcome.known,
      skipped: outcome.skipped,
    };
    await writeJsonAtomic(path.join(folder, 'scan.json'), record);
    await this.prune();
    return record;
  }

  /** Finished scans, newest first. */
  async list(): Promise<ScanRecord[]> {
    const records: ScanRecord[] = [];
    for (const id of await fs.readdir(this.dir).catch(() => [])) {
      if (!isScanId(id)) continue;
      const record = await this.record(id).catch(() => undefined);
      if (record) records.push(record);
    }
    return records.sort((a, b) => b.finishedAt.localeCompare(a.finishedAt));
  }

  async load(id: string): Promise<StoredScan> {
    const record = await this.record(id);
    const folder = this.folder(id);
    const images = await readJson<ScannedImage[]>(path.join(folder, 'images.json'));
    const bytes = await fs.readFile(path.join(folder, 'features.f32'));
    if (!Array.isArray(images) || images.length !== record.images || bytes.length !== record.images * record.featureLength * 4) {
      throw new TagsmithError('unknown_scan', `Scan ${id} is damaged; scan the folder again.`);
    }
    return { record, images, features: readFloat32(bytes) };
  }

  async remove(id: string): Promise<void> {
    await fs.rm(this.folder(id), { recursive: true, force: true });
  }

  /** A finished scan's record; `unknown_scan` if there is none. */
  async record(id: string): Promise<ScanRecord> {
    const record = await readJson<ScanRecord>(path.join(this.folder(id), 'scan.json')).catch(() => undefined);
    if (!record || record.name !== 'tagsmith-scan' || record.formatVersion !== 1 || record.id !== id) {
      throw new TagsmithError('unknown_scan', `There is no scan ${JSON.stringify(id)}.`);
    }
    return record;
  }

  private folder(id: string): string {
    if (!isScanId(id)) throw new TagsmithError('unknown_scan', `There is no scan ${JSON.stringify(id)}.`);
    return path.join(this.dir, id);
  }

  /**
   * Keeps the newest scans and, beyond them, each scan that is the newest of one of its inputs
   * (no newer scan names that folder or one above it); removes the rest, and debris of scans
   * that never finished.
   */
  private async prune(): Promise<void> {
    const kept = new Set<string>();
    const newer: string[] = [];
    for (const [i, record] of (await this.list()).entries()) {
      const newestOfSome = record.inputs.some((input) => !isWithin(input, newer));
      if ((i < SCANS_KEPT || newestOfSome) && kept.size < SCANS_KEPT_MOST) kept.add(record.id);
      newer.push(...record.inputs);
    }
    for (const name of await fs.readdir(this.dir).catch(() => [])) {
      if (!kept.has(name)) await fs.rm(path.join(this.dir, name), { recursive: true, force: true });
    }
  }
}

const bigEndianHost = new Uint8Array(new Uint16Array([1]).buffer)[0] === 0;

function littleEndian(bytes: Buffer): Buffer {
  if (!bigEndianHost) return bytes;
  const copy = Buffer.from(bytes);
  copy.swap32();
  return copy;
}

function readFloat32(bytes: Buffer): Float32Array {
  const aligned = new Float32Array(bytes.length / 4);
  new Uint8Array(aligned.buffer).set(bigEndianHost ? Buffer.from(bytes).swap32() : bytes);
  return aligned;
}
