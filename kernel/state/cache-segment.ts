// The feature cache's file: a segment holds many entries and is written once, whole, under a
// temporary name and renamed into place, never appended to. One file per entry (the layout
// before 2026-11-28, still read once to move it over) cost a new inode per scanned image, which
// on the 2-core VM's ext4 took more CPU than everything else a scan adds to embedding.
//
//   segment = "TSP1" | u32 count | count × row | u32 crc32(everything before) | payloads
//   row     = 32-byte sha256 | u32 payload offset | u32 payload length | u32 crc32(payload)
//
// Entries carry their CRC-32, so a segment torn by a power cut (the cache writes without fsync)
// or altered on disk serves none of its damaged entries.
import fsSync from 'node:fs';
import zlib from 'node:zlib';

const MAGIC = Buffer.from('TSP1', 'ascii');
const HEAD_BYTES = 8;
const ROW_BYTES = 44;
const HASH_BYTES = 32;

/** Where one entry's payload lies in its segment. */
export interface SegmentRow {
  hash: string;
  offset: number;
  length: number;
  crc: number;
}

/** What a row costs on disk besides its payload (the stats count it). */
export const ROW_OVERHEAD = ROW_BYTES;

/** A segment's bytes for these payloads (UTF-8 JSON records), and where each one lies. */
export function encodeSegment(entries: readonly { hash: string; payload: Buffer }[]): { bytes: Buffer; rows: SegmentRow[] } {
  const tableBytes = HEAD_BYTES + entries.length * ROW_BYTES + 4;
  const head = Buffer.alloc(tableBytes);
  MAGIC.copy(head, 0);
  head.writeUInt32LE(entries.length, 4);
  const rows: SegmentRow[] = [];
  let offset = tableBytes;
  entries.forEach(({ hash, payload }, i) => {
    const at = HEAD_BYTES + i * ROW_BYTES;
    Buffer.from(hash, 'hex').copy(head, at);
    const row = { hash, offset, length: payload.length, crc: zlib.crc32(payload) };
    head.writeUInt32LE(row.offset, at + HASH_BYTES);
    head.writeUInt32LE(row.length, at + HASH_BYTES + 4);
    head.writeUInt32LE(row.crc, at + HASH_BYTES + 8);
    rows.push(row);
    offset += payload.length;
  });
  head.writeUInt32LE(zlib.crc32(head.subarray(0, tableBytes - 4)), tableBytes - 4);
  return { bytes: Buffer.concat([head, ...entries.map((e) => e.payload)]), rows };
}

/**
 * The rows of the segment open as `fd` (`size` bytes): undefined if its table is damaged; rows
 * whose payload would end past the file (a torn segment) are left out.
 */
export function readSegmentRows(fd: number, size: number): SegmentRow[] | undefined {
  if (size < HEAD_BYTES + 4) return undefined;
  const head = Buffer.alloc(HEAD_BYTES);
  fsSync.readSync(fd, head, 0, HEAD_BYTES, 0);
  if (!head.subarray(0, 4).equals(MAGIC)) return undefined;
  const count = head.readUInt32LE(4);
  const tableBytes = HEAD_BYTES + count * ROW_BYTES + 4;
  if (tableBytes > size) return undefined;
  const table = Buffer.alloc(tableBytes);
  if (fsSync.readSync(fd, table, 0, tableBytes, 0) !== tableBytes) return undefined;
  if (zlib.crc32(table.subarray(0, tableBytes - 4)) !== table.readUInt32LE(tableBytes - 4)) return undefined;
  const rows: SegmentRow[] = [];
  for (let i = 0; i < count; i++) {
    const at = HEAD_BYTES + i * ROW_BYTES;
    const row = {
      hash: table.toString('hex', at, at + HASH_BYTES),
      offset: table.readUInt32LE(at + HASH_BYTES),
      length: table.readUInt32LE(at + HASH_BYTES + 4),
      crc: table.readUInt32LE(at + HASH_BYTES + 8),
    };
    if (row.offset >= tableBytes && row.offset + row.length <= size) rows.push(row);
  }
  return rows;
}

/** One entry's payload read from its segment; undefined if its bytes do not match the row's CRC. */
export function readPayload(fd: number, row: SegmentRow): Buffer | undefined {
  const payload = Buffer.alloc(row.length);
  if (fsSync.readSync(fd, payload, 0, row.length, row.offset) !== row.length) return undefined;
  return zlib.crc32(payload) === row.crc ? payload : undefined;
}

/** The payload of a one-file entry of the layout before segments ("TSF1" | u32 length | u32 crc32 | payload), if intact. */
export function legacyEntryPayload(bytes: Buffer): Buffer | undefined {
  if (bytes.length < 12 || bytes.toString('ascii', 0, 4) !== 'TSF1') return undefined;
  const length = bytes.readUInt32LE(4);
  if (bytes.length !== 12 + length) return undefined;
  const payload = bytes.subarray(12);
  return zlib.crc32(payload) === bytes.readUInt32LE(8) ? payload : undefined;
}
