// The table verifier against tables that classic-level really wrote: intact tables pass, every
// flipped byte, truncation and unknown compression type is reported, and no input makes it throw.
import { createCipheriv } from 'node:crypto';
import { cp, mkdtemp, readdir, readFile, rm, symlink, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { ClassicLevel } from 'classic-level';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type BlockHandle,
  blockEntries,
  crc32c,
  maskCrc32c,
  readBlock,
  readTableLayout,
  snappyUncompress,
  TableCorruption,
  verifyLevelDbTables,
  verifyTable,
} from './leveldb-verify.js';

const utf8 = new TextEncoder();
/** 4.8 MB of values: more than one 4 MiB memtable, so more than one table; few enough to flip quickly. */
const keysPerKind = 1200;
const valueBytes = 2000;
/** A batch lands in one memtable whole; small ones let the memtable fill and flush mid-write. */
const batchKeysMax = 200;
/** Flips land on every this-many-th byte of a table: a prime, so they drift across block boundaries. */
const flipStrideBytes = 997;
const magicNumberBytes = [0x57, 0xfb, 0x80, 0x8b, 0x24, 0x75, 0x47, 0xdb];
const footerBytes = 48;

interface Table {
  file: string;
  bytes: Uint8Array;
}

/** Written once in beforeAll; tests damage copies of it, in memory or in a copied directory. */
let dbDir: string;
let tables: Table[];
let writtenValues: Map<string, Uint8Array>;
const tmpDirs: string[] = [];

async function newTmpDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'raftkv-leveldb-verify-'));
  tmpDirs.push(dir);
  return dir;
}

/** Bytes that snappy cannot compress, the same on every run: an AES-CTR keystream. */
function incompressibleBytes(length: number): Uint8Array {
  return createCipheriv('aes-128-ctr', Buffer.alloc(16), Buffer.alloc(16)).update(Buffer.alloc(length));
}

/** Half the values incompressible (stored raw), half repetitive (stored snappy-compressed). */
function valuesToWrite(): Map<string, Uint8Array> {
  const values = new Map<string, Uint8Array>();
  const random = incompressibleBytes(keysPerKind * valueBytes);
  for (let i = 0; i < keysPerKind; i++) {
    const suffix = String(i).padStart(5, '0');
    values.set(`random/${suffix}`, random.subarray(i * valueBytes, (i + 1) * valueBytes));
    values.set(`repeated/${suffix}`, utf8.encode(''.padEnd(valueBytes, `value ${i} `)));
  }
  return values;
}

async function writeDb(dir: string, values: Map<string, Uint8Array>): Promise<void> {
  const db = new ClassicLevel<string, Uint8Array>(dir, { valueEncoding: 'view' });
  await db.open();
  const puts = [...values].map(([key, value]) => ({ type: 'put' as const, key, value }));
  for (let start = 0; start < puts.length; start += batchKeysMax) {
    await db.batch(puts.slice(start, start + batchKeysMax));
  }
  // Flushes the memtable too: afterwards every value is in a table, none only in the log.
  await db.compactRange('\x00', '\xff');
  await db.close();
}

async function readTables(dir: string): Promise<Table[]> {
  const names = (await readdir(dir)).filter((name) => name.endsWith('.ldb')).sort();
  return Promise.all(
    names.map(async (name) => ({
      file: join(dir, name),
      bytes: new Uint8Array(await readFile(join(dir, name))),
    })),
  );
}

/** A copy of the written DB directory, for a test to damage on disk. */
async function copyOfDb(): Promise<string> {
  const dir = await newTmpDir();
  await cp(dbDir, dir, { recursive: true });
  return dir;
}

beforeAll(async () => {
  dbDir = await newTmpDir();
  writtenValues = valuesToWrite();
  await writeDb(dbDir, writtenValues);
  tables = await readTables(dbDir);
}, 120_000);

afterAll(async () => {
  for (const dir of tmpDirs.splice(0)) await rm(dir, { recursive: true, force: true });
});

/** Sets a block's compression type and rewrites its CRC to match, as LevelDB's writer would. */
function writeTrailer(table: Uint8Array, handle: BlockHandle, compressionType: number): void {
  const trailerStart = handle.offset + handle.size;
  table[trailerStart] = compressionType;
  const crc = maskCrc32c(crc32c(table.subarray(handle.offset, trailerStart + 1)));
  new DataView(table.buffer, table.byteOffset).setUint32(trailerStart + 1, crc, true);
}

function varint(value: number): number[] {
  const bytes: number[] = [];
  for (; value >= 0x80; value = Math.floor(value / 0x80)) bytes.push((value % 0x80) | 0x80);
  return [...bytes, value];
}

interface StoredBlock {
  contents: Uint8Array;
  compressionType: number;
}

/**
 * A table of only a metaindex and an index block (no data), with a correct footer. The blocks
 * start at firstBlockOffset, which LevelDB would not do: the bytes before are in no block.
 */
function tableOf(metaindex: StoredBlock, index: StoredBlock, firstBlockOffset = 0): Uint8Array {
  const metaindexHandle = { offset: firstBlockOffset, size: metaindex.contents.length };
  const indexHandle = {
    offset: metaindexHandle.offset + metaindexHandle.size + 5,
    size: index.contents.length,
  };
  const footerStart = indexHandle.offset + indexHandle.size + 5;
  const table = new Uint8Array(footerStart + footerBytes);
  for (const [block, handle] of [
    [metaindex, metaindexHandle],
    [index, indexHandle],
  ] as const) {
    table.set(block.contents, handle.offset);
    writeTrailer(table, handle, block.compressionType);
  }
  const handles = [metaindexHandle, indexHandle].flatMap((handle) => [
    ...varint(handle.offset),
    ...varint(handle.size),
  ]);
  table.set(handles, footerStart);
  table.set(magicNumberBytes, footerStart + 40);
  return table;
}

/** A block without entries: just its one restart point (offset 0) and the restart count (1). */
const emptyBlock: StoredBlock = { contents: new Uint8Array([0, 0, 0, 0, 1, 0, 0, 0]), compressionType: 0 };

describe('crc32c', () => {
  const ascending = Uint8Array.from({ length: 32 }, (_, i) => i);
  // From RFC 3720 (iSCSI) B.4 and LevelDB's util/crc32c_test.cc.
  const vectors: [name: string, bytes: Uint8Array, crc: number][] = [
    ['nothing', new Uint8Array(0), 0],
    ['"123456789"', utf8.encode('123456789'), 0xe3069283],
    ['32 zeros', new Uint8Array(32), 0x8a9136aa],
    ['32 0xff bytes', new Uint8Array(32).fill(0xff), 0x62a8ab43],
    ['0..31', ascending, 0x46dd794e],
    ['31..0', ascending.slice().reverse(), 0x113fdb5c],
  ];
  it.each(vectors)('of %s', (_name, bytes, crc) => {
    expect(crc32c(bytes)).toBe(crc);
  });

  it('matches a bit-at-a-time CRC-32C at every length and byte offset', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 100 }), fc.nat({ max: 9 }), (bytes, start) => {
        const view = bytes.subarray(Math.min(start, bytes.length));
        expect(crc32c(view)).toBe(bitwiseCrc32c(view));
      }),
    );
  });
});

/** The definition, one bit at a time: the oracle for the table-driven crc32c. */
function bitwiseCrc32c(bytes: Uint8Array): number {
  let crc = 0xffffffff;
  for (const byte of bytes) {
    crc ^= byte;
    for (let bit = 0; bit < 8; bit++) crc = crc & 1 ? (crc >>> 1) ^ 0x82f63b78 : crc >>> 1;
  }
  return (crc ^ 0xffffffff) >>> 0;
}

describe('snappyUncompress', () => {
  const ascii = (text: string) => [...utf8.encode(text)];
  const hundredXs = 'x'.repeat(100);
  const valid: [name: string, compressed: number[], uncompressed: string][] = [
    ['nothing', [0], ''],
    ['a literal', [5, 0x10, ...ascii('hello')], 'hello'],
    ['a literal with a 1-byte length', [100, 0xf0, 99, ...ascii(hundredXs)], hundredXs],
    ['a copy with a 1-byte offset, overlapping itself', [12, 0x04, ...ascii('ab'), 0x19, 2], 'abababababab'],
    ['a copy with a 2-byte offset', [6, 0x08, ...ascii('abc'), 0x0a, 3, 0], 'abcabc'],
    ['a copy with a 4-byte offset', [6, 0x08, ...ascii('abc'), 0x0b, 3, 0, 0, 0], 'abcabc'],
  ];
  it.each(valid)('decodes %s', (_name, compressed, uncompressed) => {
    expect(new TextDecoder().decode(snappyUncompress(Uint8Array.from(compressed)))).toBe(uncompressed);
  });

  const invalid: [name: string, compressed: number[]][] = [
    ['a copy from offset 0', [5, 0x00, ...ascii('a'), 0x01, 0]],
    ['a copy from before the start', [5, 0x00, ...ascii('a'), 0x01, 2]],
    ['more output than declared', [1, 0x04, ...ascii('ab')]],
    ['less output than declared', [3, 0x00, ...ascii('a')]],
    ['a truncated literal', [5, 0x10, ...ascii('he')]],
    ['a truncated copy', [4, 0x00, ...ascii('a'), 0x02, 1]],
    ['a length no snappy block expands to', [0xff, 0xff, 0x03, 0x00, ...ascii('a')]],
    ['an unterminated length', [0x80]],
    ['no length at all', []],
  ];
  it.each(invalid)('rejects %s', (_name, compressed) => {
    expect(() => snappyUncompress(Uint8Array.from(compressed))).toThrow(TableCorruption);
  });

  it('throws nothing but TableCorruption on arbitrary bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (compressed) => {
        try {
          snappyUncompress(compressed);
        } catch (error) {
          expect(error).toBeInstanceOf(TableCorruption);
        }
      }),
    );
  });
});

describe('verifyLevelDbTables on a DB classic-level wrote', () => {
  it('finds every table intact', async () => {
    expect(tables.length).toBeGreaterThan(1);
    expect(await verifyLevelDbTables(dbDir)).toBeNull();
  });

  it('reads back every written value, decompressing the snappy blocks', () => {
    const readValues = new Map<string, Uint8Array>();
    let snappyBlocks = 0;
    for (const { bytes } of tables) {
      for (const [index, handle] of readTableLayout(bytes).dataBlocks.entries()) {
        if (bytes[handle.offset + handle.size] === 1) snappyBlocks++;
        for (const { key, value } of blockEntries(readBlock(bytes, handle, 'data block'), `block ${index}`)) {
          // An internal key is the user key, then 8 bytes of sequence number and value type.
          readValues.set(new TextDecoder().decode(key.subarray(0, key.length - 8)), value);
        }
      }
    }
    expect(snappyBlocks).toBeGreaterThan(0);
    expect(readValues.size).toBe(writtenValues.size);
    const unequalKeys = [...writtenValues]
      .filter(([key, value]) => Buffer.compare(value, readValues.get(key) ?? new Uint8Array(0)) !== 0)
      .map(([key]) => key);
    expect(unequalKeys).toEqual([]);
  });

  it('reports a flipped byte anywhere in a table', () => {
    const missed: string[] = [];
    for (const { file, bytes } of tables) {
      for (const position of flipPositions(bytes)) {
        bytes[position]! ^= 0xff;
        try {
          if (verifyTable(bytes) === null) missed.push(`${basename(file)}@${position}`);
        } finally {
          bytes[position]! ^= 0xff;
        }
      }
      expect(verifyTable(bytes)).toBeNull();
    }
    expect(missed).toEqual([]);
  });

  it('names the damaged file', async () => {
    const dir = await copyOfDb();
    const damaged = join(dir, basename(tables[1]!.file));
    const bytes = await readFile(damaged);
    bytes[Math.floor(bytes.length / 2)]! ^= 0x01;
    await writeFile(damaged, bytes);
    expect(await verifyLevelDbTables(dir)).toEqual({
      file: damaged,
      reason: expect.stringMatching(/checksum/),
    });
  });

  const truncations: [name: string, keptBytes: (length: number) => number][] = [
    ['to nothing', () => 0],
    ['to less than a footer', () => footerBytes - 1],
    ['to the length of a footer', () => footerBytes],
    ['to half', (length) => Math.floor(length / 2)],
    ['by one byte', (length) => length - 1],
  ];
  it.each(truncations)('reports a table truncated %s', async (_name, keptBytes) => {
    const dir = await copyOfDb();
    const truncated = join(dir, basename(tables[0]!.file));
    await truncate(truncated, keptBytes(tables[0]!.bytes.length));
    expect(await verifyLevelDbTables(dir)).toEqual({ file: truncated, reason: expect.any(String) });
  });

  const retypedBlocks: [name: string, handle: (table: Uint8Array) => BlockHandle][] = [
    ['the index block', (table) => readTableLayout(table).indexBlock],
    ['the metaindex block', (table) => readTableLayout(table).metaindexBlock],
    ['the filter block', (table) => readTableLayout(table).metaBlocks[0]!],
    ['a data block', (table) => readTableLayout(table).dataBlocks[7]!],
  ];
  it.each(retypedBlocks)(
    'reports an unknown compression type in %s, even under a valid CRC',
    (_name, handleOf) => {
      const table = tables[0]!.bytes.slice();
      writeTrailer(table, handleOf(table), 2);
      expect(verifyTable(table)).toMatch(/unknown compression type 2/);
    },
  );

  it('reports an index block whose compression type is swapped, even under a valid CRC', () => {
    const table = tables[0]!.bytes.slice();
    const { indexBlock } = readTableLayout(table);
    writeTrailer(table, indexBlock, table[indexBlock.offset + indexBlock.size] === 0 ? 1 : 0);
    expect(verifyTable(table)).not.toBeNull();
  });

  it('reports random writes into a table, and never throws', () => {
    const pristine = tables.reduce((smallest, table) =>
      table.bytes.length < smallest.bytes.length ? table : smallest,
    );
    const byteWrite = fc.record({ position: fc.nat({ max: pristine.bytes.length - 1 }), byte: fc.nat(255) });
    const writes = fc.array(byteWrite, { minLength: 1, maxLength: 8 });
    fc.assert(
      fc.property(writes, (byteWrites) => {
        const table = pristine.bytes.slice();
        for (const { position, byte } of byteWrites) table[position] = byte;
        const changed = table.some((byte, position) => byte !== pristine.bytes[position]);
        expect(verifyTable(table) !== null).toBe(changed);
      }),
      { numRuns: 50 },
    );
  });
});

/**
 * Every flipStrideBytes-th byte; every byte from the metaindex block on (the metaindex, the
 * index and the footer, where one flip misleads every lookup in the table); and the trailers
 * (compression type and CRC) of the filter block and of the first, a middle and the last data block.
 */
function flipPositions(table: Uint8Array): number[] {
  const layout = readTableLayout(table);
  const positions = new Set<number>();
  for (let position = 0; position < table.length; position += flipStrideBytes) positions.add(position);
  for (let position = layout.metaindexBlock.offset; position < table.length; position++) {
    positions.add(position);
  }
  const { dataBlocks, metaBlocks } = layout;
  const middle = Math.floor(dataBlocks.length / 2);
  for (const handle of [...metaBlocks, dataBlocks[0]!, dataBlocks[middle]!, dataBlocks.at(-1)!]) {
    const trailerStart = handle.offset + handle.size;
    for (let position = trailerStart; position < trailerStart + 5; position++) positions.add(position);
  }
  return [...positions];
}

describe('verifyLevelDbTables on odd directories', () => {
  it('finds nothing in a directory that does not exist yet', async () => {
    expect(await verifyLevelDbTables(join(await newTmpDir(), 'db'))).toBeNull();
  });

  it('skips a table that vanished and files that are not tables', async () => {
    const dir = await newTmpDir();
    await symlink(join(dir, 'deleted-by-compaction'), join(dir, '000009.ldb'));
    await writeFile(join(dir, 'MANIFEST-000002'), 'not a table');
    expect(await verifyLevelDbTables(dir)).toBeNull();
  });

  it('checks legacy .sst tables too', async () => {
    const dir = await newTmpDir();
    await writeFile(join(dir, '000005.sst'), 'not a table');
    expect(await verifyLevelDbTables(dir)).toEqual({
      file: join(dir, '000005.sst'),
      reason: expect.any(String),
    });
  });
});

describe('verifyTable on constructed bytes', () => {
  it('accepts a table with no data blocks', () => {
    expect(verifyTable(tableOf(emptyBlock, emptyBlock))).toBeNull();
  });

  it('reports a footer whose padding is not zero', () => {
    const table = tableOf(emptyBlock, emptyBlock);
    table[table.length - 9] = 1;
    expect(verifyTable(table)).toMatch(/padding/);
  });

  it('reports bytes between blocks that no checksum covers', () => {
    expect(verifyTable(tableOf(emptyBlock, emptyBlock, 4))).toBe(
      'a block is at 4, not right after the one before (0)',
    );
  });

  it('returns a reason, never throws, for arbitrary bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), (bytes) => {
        expect(typeof verifyTable(bytes)).toBe('string');
      }),
    );
  });

  it('returns a reason, never throws, for arbitrary bytes ending in the magic number', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), (bytes) => {
        expect(typeof verifyTable(Uint8Array.from([...bytes, ...magicNumberBytes]))).toBe('string');
      }),
    );
  });

  it('never throws for arbitrary index and metaindex blocks under valid CRCs', () => {
    const block = fc.record({ contents: fc.uint8Array({ maxLength: 300 }), compressionType: fc.nat(2) });
    fc.assert(
      fc.property(block, block, (metaindex, index) => {
        expect(verifyTable(tableOf(metaindex, index))).toSatisfy(
          (reason) => reason === null || typeof reason === 'string',
        );
      }),
      { numRuns: 500 },
    );
  });
});
