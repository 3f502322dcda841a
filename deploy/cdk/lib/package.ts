// What the stack reads from the packages of `make dist` at synth time, so that a stack that
// would fail on every deployment is refused before it is deployed: the architecture of the
// layer's `bootstrap` (ELF e_machine) and the hook scripts in hooks-only.zip.
//
// A minimal reader of the zip central directory (no zip64, no encryption: `zip -X` of a few MB
// writes neither) and of the ELF header. Every error is an Error with a message naming the file.
import * as fs from 'fs';
import * as zlib from 'zlib';

const EOCD_SIG = 0x06054b50;
const CDIR_SIG = 0x02014b50;
const LOCAL_SIG = 0x04034b50;
const MAX_COMMENT = 0xffff;

/** One member of a zip file, as its central directory describes it. */
interface ZipEntry {
  readonly method: number;
  readonly compressedSize: number;
  readonly localOffset: number;
}

/** The members of a zip file by name (directories included, with their trailing /). */
export function zipEntries(file: string): Map<string, ZipEntry> {
  const data = readFile(file);
  // The end-of-central-directory record is in the last 22 + 65535 bytes.
  let eocd = -1;
  for (let i = data.length - 22; i >= Math.max(0, data.length - 22 - MAX_COMMENT); i--) {
    if (data.readUInt32LE(i) === EOCD_SIG) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) throw new Error(`${file}: not a zip file (no end of central directory)`);
  const count = data.readUInt16LE(eocd + 10);
  let p = data.readUInt32LE(eocd + 16);
  const out = new Map<string, ZipEntry>();
  for (let n = 0; n < count; n++) {
    if (p + 46 > data.length || data.readUInt32LE(p) !== CDIR_SIG) {
      throw new Error(`${file}: damaged zip central directory (entry ${n + 1} of ${count})`);
    }
    const nameLen = data.readUInt16LE(p + 28);
    const extraLen = data.readUInt16LE(p + 30);
    const commentLen = data.readUInt16LE(p + 32);
    out.set(data.toString('utf8', p + 46, p + 46 + nameLen), {
      method: data.readUInt16LE(p + 10),
      compressedSize: data.readUInt32LE(p + 20),
      localOffset: data.readUInt32LE(p + 42),
    });
    p += 46 + nameLen + extraLen + commentLen;
  }
  return out;
}

/** The first `want` bytes (or fewer, if the member is shorter) of one member of a zip file. */
export function zipHead(file: string, name: string, want: number): Buffer {
  const entry = zipEntries(file).get(name);
  if (!entry) throw new Error(`${file}: has no ${name}`);
  const data = readFile(file);
  const h = entry.localOffset;
  if (h + 30 > data.length || data.readUInt32LE(h) !== LOCAL_SIG) throw new Error(`${file}: damaged entry ${name}`);
  const start = h + 30 + data.readUInt16LE(h + 26) + data.readUInt16LE(h + 28);
  const raw = data.subarray(start, start + entry.compressedSize);
  if (entry.method === 0) return raw.subarray(0, want);
  if (entry.method === 8) {
    // Inflate only as much as needed: a sync flush accepts a truncated stream.
    const part = zlib.inflateRawSync(raw.subarray(0, Math.min(raw.length, 64 * 1024)),
      { finishFlush: zlib.constants.Z_SYNC_FLUSH });
    return part.subarray(0, want);
  }
  throw new Error(`${file}: ${name} uses zip compression method ${entry.method} (expected stored or deflate)`);
}

/** ELF e_machine values of the architectures Lambda runs. */
const MACHINES: Record<number, 'x86_64' | 'arm64'> = { 62: 'x86_64', 183: 'arm64' };

/**
 * The Lambda architecture a bootstrap was built for, from its ELF header: 'x86_64', 'arm64', or
 * a description of what it is instead (not ELF, 32-bit, another machine).
 */
export function elfArchitecture(head: Buffer): string {
  if (head.length < 20 || head.readUInt32BE(0) !== 0x7f454c46) return 'not an ELF executable';
  const cls = head[4];
  const little = head[5] === 1;
  const machine = little ? head.readUInt16LE(18) : head.readUInt16BE(18);
  if (cls !== 2) return `a 32-bit ELF file (e_machine ${machine})`;
  return MACHINES[machine] ?? `an ELF file for machine ${machine}`;
}

function readFile(file: string): Buffer {
  try {
    return fs.readFileSync(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const make = file.endsWith('-arm64.zip') ? 'make dist ARCH=arm64' : 'make dist';
    throw new Error(`${file}: cannot be read (${code ?? String(e)}); run \`${make}\` or set -c distDir=...`);
  }
}
