// The part of yauzl's API test/vsix/zip.ts uses (yauzl ships no types, and @types/yauzl is not installed).
declare module 'yauzl' {
  import type { EventEmitter } from 'node:events';
  import type { Readable } from 'node:stream';

  export interface Entry {
    fileName: string;
    uncompressedSize: number;
  }

  export interface ZipFile extends EventEmitter {
    readEntry(): void;
    openReadStream(entry: Entry, callback: (error: Error | null, stream?: Readable) => void): void;
    close(): void;
  }

  export interface Options {
    lazyEntries?: boolean;
    strictFileNames?: boolean;
    validateEntrySizes?: boolean;
  }

  export function open(path: string, options: Options, callback: (error: Error | null, zipfile?: ZipFile) => void): void;

  const yauzl: { open: typeof open };
  export default yauzl;
}
