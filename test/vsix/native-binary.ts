// What a native file is, read from its headers (never from its name): ELF, Mach-O (thin or
// universal) or PE; its architecture; and the libraries it asks the loader for, with the
// places the loader will look (ELF RUNPATH, Mach-O LC_RPATH). Enough to tell whether a .vsix
// built for one platform can load on it, without that platform at hand.

export type BinaryFormat = 'elf' | 'macho' | 'pe';
/** Node's names for architectures (process.arch), so a target's `cpu` compares directly. */
export type BinaryArch = 'x64' | 'arm64' | 'ia32' | 'arm' | `unknown(${string})`;

export interface NativeBinary {
  format: BinaryFormat;
  /** One, or several for a universal (fat) Mach-O. */
  arches: BinaryArch[];
  /** 32 or 64. */
  bits: number;
  kind: 'executable' | 'shared-library' | 'object' | 'other';
  /** Libraries loaded with it: ELF DT_NEEDED, Mach-O LC_LOAD_DYLIB (and kin), PE imports. */
  needs: string[];
  /** PE delay-loaded imports and Mach-O weak ones: loaded only if used, so never required. */
  optionalNeeds: string[];
  /** ELF DT_RUNPATH/DT_RPATH entries (with $ORIGIN), Mach-O LC_RPATH entries (with @loader_path). */
  searchPaths: string[];
  /** ELF only: the C library it was linked against, from its interpreter or needed libraries. */
  libc?: 'glibc' | 'musl';
  /** ELF only: the symbol versions it needs (GLIBC_2.28, GLIBCXX_3.4.21, …), for the oldest system it runs on. */
  symbolVersions?: string[];
  /** Mach-O only: the oldest macOS it loads on (LC_BUILD_VERSION / LC_VERSION_MIN_MACOSX), e.g. "11.0". */
  minimumMacOS?: string;
}

const ELF_MACHINES: Record<number, BinaryArch> = { 0x03: 'ia32', 0x28: 'arm', 0x3e: 'x64', 0xb7: 'arm64' };
const MACHO_CPUS: Record<number, BinaryArch> = { 0x07: 'ia32', 0x0c: 'arm', 0x01000007: 'x64', 0x0100000c: 'arm64' };
const PE_MACHINES: Record<number, BinaryArch> = { 0x014c: 'ia32', 0x01c4: 'arm', 0x8664: 'x64', 0xaa64: 'arm64' };

const arch = (table: Record<number, BinaryArch>, value: number): BinaryArch => table[value] ?? `unknown(0x${value.toString(16)})`;

/** The binary's description, or undefined when the bytes are not an ELF, Mach-O or PE file. */
export function readNativeBinary(bytes: Buffer): NativeBinary | undefined {
  if (bytes.length < 64) return undefined;
  if (bytes.readUInt32BE(0) === 0x7f454c46) return readElf(bytes);
  const le = bytes.readUInt32LE(0);
  if (le === 0xfeedface || le === 0xfeedfacf) return readMachO(bytes, 0);
  const be = bytes.readUInt32BE(0);
  if (be === 0xcafebabe || be === 0xcafebabf) return readFatMachO(bytes, be === 0xcafebabf);
  if (bytes.readUInt16LE(0) === 0x5a4d) return readPe(bytes);
  return undefined;
}

function cString(bytes: Buffer, offset: number): string {
  const end = bytes.indexOf(0, offset);
  return bytes.toString('utf8', offset, end < 0 ? bytes.length : end);
}

// ---- ELF ---------------------------------------------------------------------------------

function readElf(b: Buffer): NativeBinary | undefined {
  const is64 = b[4] === 2;
  const little = b[5] === 1;
  const u16 = (o: number) => (little ? b.readUInt16LE(o) : b.readUInt16BE(o));
  const u32 = (o: number) => (little ? b.readUInt32LE(o) : b.readUInt32BE(o));
  const word = (o: number) => (is64 ? Number(little ? b.readBigUInt64LE(o) : b.readBigUInt64BE(o)) : u32(o));
  const type = u16(16);
  const machine = u16(18);
  const phoff = word(is64 ? 32 : 28);
  const phentsize = u16(is64 ? 54 : 42);
  const phnum = u16(is64 ? 56 : 44);
  const loads: { vaddr: number; offset: number; filesz: number }[] = [];
  let dynamic: { offset: number; size: number } | undefined;
  let interpreter: string | undefined;
  for (let i = 0; i < phnum; i++) {
    const p = phoff + i * phentsize;
    if (p + phentsize > b.length) return undefined;
    const ptype = u32(p);
    const offset = word(p + (is64 ? 8 : 4));
    const vaddr = word(p + (is64 ? 16 : 8));
    const filesz = word(p + (is64 ? 32 : 16));
    if (ptype === 1) loads.push({ vaddr, offset, filesz });
    else if (ptype === 2) dynamic = { offset, size: filesz };
    else if (ptype === 3) interpreter = cString(b, offset);
  }
  const needs: string[] = [];
  const searchPaths: string[] = [];
  const symbolVersions = new Set<string>();
  const fileOffset = (address: number) => {
    const s = loads.find((x) => address >= x.vaddr && address < x.vaddr + x.filesz);
    return s ? address - s.vaddr + s.offset : undefined;
  };
  if (dynamic) {
    const entrySize = is64 ? 16 : 8;
    const entries: { tag: number; value: number }[] = [];
    for (let o = dynamic.offset; o + entrySize <= dynamic.offset + dynamic.size; o += entrySize) {
      const tag = word(o);
      if (tag === 0) break;
      entries.push({ tag, value: word(o + entrySize / 2) });
    }
    const tag = (t: number) => entries.find((e) => e.tag === t)?.value;
    const strtabAddress = tag(5);
    const strtab = strtabAddress === undefined ? undefined : fileOffset(strtabAddress);
    if (strtab !== undefined) {
      for (const e of entries) {
        if (e.tag === 1) needs.push(cString(b, strtab + e.value));
        else if (e.tag === 15 || e.tag === 29)
          searchPaths.push(
            ...cString(b, strtab + e.value)
              .split(':')
              .filter(Boolean),
          );
      }
      // DT_VERNEED / DT_VERNEEDNUM: Elf_Verneed records (16 bytes), each with Elf_Vernaux ones
      // (16 bytes) naming a version such as GLIBC_2.28; the layout is the same for 32 and 64 bits.
      const verneedAddress = tag(0x6ffffffe);
      let verneed = verneedAddress === undefined ? undefined : fileOffset(verneedAddress);
      for (let i = 0; verneed !== undefined && i < (tag(0x6fffffff) ?? 0); i++) {
        let aux = verneed + u32(verneed + 8);
        for (let j = 0; j < u16(verneed + 2); j++) {
          symbolVersions.add(cString(b, strtab + u32(aux + 8)));
          aux += u32(aux + 12);
        }
        const next = u32(verneed + 12);
        verneed = next ? verneed + next : undefined;
      }
    }
  }
  const musl = /musl/.test(interpreter ?? '') || needs.some((n) => n.startsWith('libc.musl-'));
  const glibc = /ld-linux/.test(interpreter ?? '') || needs.includes('libc.so.6');
  return {
    format: 'elf',
    arches: [arch(ELF_MACHINES, machine)],
    bits: is64 ? 64 : 32,
    kind: type === 2 ? 'executable' : type === 3 ? (interpreter ? 'executable' : 'shared-library') : type === 1 ? 'object' : 'other',
    needs,
    optionalNeeds: [],
    searchPaths,
    libc: musl ? 'musl' : glibc ? 'glibc' : undefined,
    symbolVersions: [...symbolVersions].sort(),
  };
}

// ---- Mach-O ------------------------------------------------------------------------------

const LC_LOAD_DYLIB = 0x0c;
const LC_LOAD_WEAK_DYLIB = 0x80000018;
const LC_REEXPORT_DYLIB = 0x8000001f;
const LC_LAZY_LOAD_DYLIB = 0x20;
const LC_LOAD_UPWARD_DYLIB = 0x80000023;
const LC_RPATH = 0x8000001c;
const LC_VERSION_MIN_MACOSX = 0x24;
const LC_BUILD_VERSION = 0x32;

function readMachO(b: Buffer, start: number): NativeBinary | undefined {
  const magic = b.readUInt32LE(start);
  const is64 = magic === 0xfeedfacf;
  const cputype = b.readUInt32LE(start + 4);
  const filetype = b.readUInt32LE(start + 12);
  const ncmds = b.readUInt32LE(start + 16);
  const needs: string[] = [];
  const optionalNeeds: string[] = [];
  const searchPaths: string[] = [];
  let minimumMacOS: string | undefined;
  // A version is packed as xxxx.yy.zz in 32 bits.
  const version = (v: number) => `${v >>> 16}.${(v >>> 8) & 0xff}`;
  let o = start + (is64 ? 32 : 28);
  for (let i = 0; i < ncmds; i++) {
    if (o + 8 > b.length) return undefined;
    const cmd = b.readUInt32LE(o);
    const size = b.readUInt32LE(o + 4);
    if (size < 8) return undefined;
    if (cmd === LC_LOAD_DYLIB || cmd === LC_REEXPORT_DYLIB || cmd === LC_LOAD_UPWARD_DYLIB) needs.push(cString(b, o + b.readUInt32LE(o + 8)));
    else if (cmd === LC_LOAD_WEAK_DYLIB || cmd === LC_LAZY_LOAD_DYLIB) optionalNeeds.push(cString(b, o + b.readUInt32LE(o + 8)));
    else if (cmd === LC_RPATH) searchPaths.push(cString(b, o + b.readUInt32LE(o + 8)));
    else if (cmd === LC_VERSION_MIN_MACOSX) minimumMacOS = version(b.readUInt32LE(o + 8));
    // build_version_command: platform (1 = macOS) at 8, minos at 12.
    else if (cmd === LC_BUILD_VERSION && b.readUInt32LE(o + 8) === 1) minimumMacOS = version(b.readUInt32LE(o + 12));
    o += size;
  }
  return {
    format: 'macho',
    arches: [arch(MACHO_CPUS, cputype)],
    bits: is64 ? 64 : 32,
    // MH_EXECUTE 2; MH_DYLIB 6 and MH_BUNDLE 8 (what a Node addon is) are loaded into a process.
    kind: filetype === 2 ? 'executable' : filetype === 6 || filetype === 8 ? 'shared-library' : filetype === 1 ? 'object' : 'other',
    needs,
    optionalNeeds,
    searchPaths,
    minimumMacOS,
  };
}

function readFatMachO(b: Buffer, fat64: boolean): NativeBinary | undefined {
  const count = b.readUInt32BE(4);
  // 0xcafebabe also starts Java class files, whose next word (the class version) is far above
  // any real number of slices.
  if (count === 0 || count > 16) return undefined;
  const entrySize = fat64 ? 32 : 20;
  const slices: NativeBinary[] = [];
  for (let i = 0; i < count; i++) {
    const e = 8 + i * entrySize;
    const offset = fat64 ? Number(b.readBigUInt64BE(e + 8)) : b.readUInt32BE(e + 8);
    if (offset + 32 > b.length) return undefined;
    const slice = readMachO(b, offset);
    if (!slice) return undefined;
    slices.push(slice);
  }
  const [first] = slices;
  return {
    ...first,
    arches: slices.flatMap((s) => s.arches),
    needs: [...new Set(slices.flatMap((s) => s.needs))],
    optionalNeeds: [...new Set(slices.flatMap((s) => s.optionalNeeds))],
    searchPaths: [...new Set(slices.flatMap((s) => s.searchPaths))],
  };
}

// ---- PE ----------------------------------------------------------------------------------

function readPe(b: Buffer): NativeBinary | undefined {
  const peOffset = b.readUInt32LE(0x3c);
  if (peOffset + 24 > b.length || b.readUInt32BE(peOffset) !== 0x50450000) return undefined;
  const machine = b.readUInt16LE(peOffset + 4);
  const sectionCount = b.readUInt16LE(peOffset + 6);
  const optionalSize = b.readUInt16LE(peOffset + 20);
  const characteristics = b.readUInt16LE(peOffset + 22);
  const optional = peOffset + 24;
  const is64 = b.readUInt16LE(optional) === 0x20b;
  const imageBase = is64 ? Number(b.readBigUInt64LE(optional + 24)) : b.readUInt32LE(optional + 28);
  const directories = optional + (is64 ? 112 : 96);
  const directory = (index: number) => ({ rva: b.readUInt32LE(directories + index * 8), size: b.readUInt32LE(directories + index * 8 + 4) });
  const sections: { rva: number; size: number; raw: number }[] = [];
  for (let i = 0; i < sectionCount; i++) {
    const s = optional + optionalSize + i * 40;
    sections.push({ rva: b.readUInt32LE(s + 12), size: Math.max(b.readUInt32LE(s + 8), b.readUInt32LE(s + 16)), raw: b.readUInt32LE(s + 20) });
  }
  const toOffset = (rva: number) => {
    const s = sections.find((x) => rva >= x.rva && rva < x.rva + x.size);
    return s ? rva - s.rva + s.raw : undefined;
  };
  const names = (index: number, descriptorSize: number, nameField: number, isVa: (d: number) => boolean) => {
    const dir = directory(index);
    const found: string[] = [];
    let d = dir.rva ? toOffset(dir.rva) : undefined;
    while (d !== undefined && d + descriptorSize <= b.length) {
      const nameRef = b.readUInt32LE(d + nameField);
      if (nameRef === 0) break;
      const at = toOffset(isVa(d) ? nameRef - imageBase : nameRef);
      if (at !== undefined) found.push(cString(b, at));
      d += descriptorSize;
    }
    return found;
  };
  // IMAGE_IMPORT_DESCRIPTOR: 20 bytes, Name at 12. ImgDelayDescr: 32 bytes, DllNameRVA at 4;
  // bit 0 of its attributes says RVA (all modern linkers) rather than a virtual address.
  const needs = names(1, 20, 12, () => false);
  const optionalNeeds = names(13, 32, 4, (d) => (b.readUInt32LE(d) & 1) === 0);
  return {
    format: 'pe',
    arches: [arch(PE_MACHINES, machine)],
    bits: is64 ? 64 : 32,
    kind: characteristics & 0x2000 ? 'shared-library' : characteristics & 0x0002 ? 'executable' : 'other',
    needs,
    optionalNeeds,
    searchPaths: [],
  };
}
