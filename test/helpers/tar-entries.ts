// Hand-made tar entries, including the hostile kinds a tar library refuses to write.
const BLOCK = 512;

export type EntryType = 'file' | 'hardlink' | 'symlink' | 'chardev' | 'blockdev' | 'directory' | 'fifo';
const TYPEFLAG: Record<EntryType, string> = { file: '0', hardlink: '1', symlink: '2', chardev: '3', blockdev: '4', directory: '5', fifo: '6' };

function octal(value: number, width: number): string {
  return `${value.toString(8).padStart(width - 1, '0')}\0`;
}

/** One ustar entry; `declaredSize` lets a header lie about (or promise) more data than follows. */
export function tarEntry(options: { path: string; type?: EntryType; body?: Buffer | string; linkpath?: string; declaredSize?: number }): Buffer {
  const body = Buffer.from(options.body ?? '');
  const header = Buffer.alloc(BLOCK);
  header.write(options.path.slice(0, 100), 0, 'utf8');
  header.write(octal(options.type === 'directory' ? 0o755 : 0o644, 8), 100);
  header.write(octal(0, 8), 108);
  header.write(octal(0, 8), 116);
  const size = options.declaredSize ?? body.length;
  // Sizes beyond the 11 octal digits use the base-256 form, as GNU tar writes them.
  if (size >= 8 ** 11) {
    header[124] = 0x80;
    header.writeBigUInt64BE(BigInt(size), 128);
  } else {
    header.write(octal(size, 12), 124);
  }
  header.write(octal(Math.floor(Date.now() / 1000), 12), 136);
  header.write('        ', 148);
  header.write(TYPEFLAG[options.type ?? 'file'], 156);
  if (options.linkpath) header.write(options.linkpath, 157);
  header.write('ustar\u000000', 257, 'binary');
  let sum = 0;
  for (const byte of header) sum += byte;
  header.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148);
  const padding = Buffer.alloc((BLOCK - (body.length % BLOCK)) % BLOCK);
  return Buffer.concat([header, body, padding]);
}

export function tarEnd(): Buffer {
  return Buffer.alloc(BLOCK * 2);
}

export function tarOf(...entries: Buffer[]): Buffer {
  return Buffer.concat([...entries, tarEnd()]);
}
