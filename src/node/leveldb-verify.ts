// Checks LevelDB's table files before the node opens its DB, so that a damaged one stops the
// node instead of serving wrong reads. LevelDB checks a block's CRC only under
// ReadOptions.verify_checksums or Options.paranoid_checks, and classic-level can set neither: a
// flipped bit in an index block makes point lookups silently miss keys.
//
// The format is LevelDB 1.20's (table/format.cc, table/table_builder.cc, table/block.cc). A
// table is blocks written back to back, then a 48-byte footer. Each block is its stored
// contents, a compression-type byte and a masked CRC-32C of both. The footer points at the
// index block (one entry per data block) and the metaindex block (one entry per meta block,
// the Bloom filter). Besides every CRC this checks that the blocks and the footer tile the file
// exactly, and that the footer's padding is zero, so no byte of a table escapes a check.
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';

export interface TableDamage {
  /** The path of the damaged table file. */
  file: string;
  reason: string;
}

/** Thrown by the parsing functions here on damage; verifyTable turns it into a reason. */
export class TableCorruption extends Error {
  override name = 'TableCorruption';
}

/** Where a block lies in its table, in bytes; `size` counts the contents, not the trailer. */
export interface BlockHandle {
  offset: number;
  size: number;
}

export interface TableLayout {
  indexBlock: BlockHandle;
  metaindexBlock: BlockHandle;
  /** In the order of the index, which is key order. */
  dataBlocks: BlockHandle[];
  metaBlocks: BlockHandle[];
}

export interface BlockEntry {
  /** A view of the block's bytes when the entry shares no prefix with the key before, else a copy. */
  key: Uint8Array;
  value: Uint8Array;
}

/** Two block handles (varint64 offset and size each) padded with zeros to this many bytes... */
const footerHandlesBytes = 40;
/** ...then the magic number as a little-endian fixed64. */
const footerBytes = footerHandlesBytes + 8;
const magicNumberLow = 0x8b80fb57;
const magicNumberHigh = 0xdb477524;
/** After each block's contents: the compression type (1 byte), then the masked CRC (4 bytes). */
const blockTrailerBytes = 5;
const compressionNone = 0;
const compressionSnappy = 1;
/** A snappy copy element of 3 bytes writes at most 64; no other element expands more. */
const snappyExpansionMax = 22;

// ---- files ---------------------------------------------------------------------------------

/**
 * The first damaged table in dbDir, or null when every table is intact (or dbDir does not
 * exist yet). Throws only on I/O errors; a table deleted while this runs is skipped.
 *
 * `live` (file number -> size, from liveTables()) limits the check to the tables the open DB's
 * current version uses, and checks their sizes too. Without it every table file is checked,
 * which is right only for a DB no process has open: a compaction that a crash or a close cut
 * short leaves a partial table behind that LevelDB never uses and deletes at its next open.
 */
export async function verifyLevelDbTables(
  dbDir: string,
  live?: ReadonlyMap<number, number>,
): Promise<TableDamage | null> {
  for (const file of await tableFiles(dbDir)) {
    const expectedBytes = live?.get(tableNumber(file));
    if (live !== undefined && expectedBytes === undefined) continue;
    const table = await readIfPresent(file);
    if (table === null) continue;
    if (expectedBytes !== undefined && table.length !== expectedBytes) {
      return {
        file,
        reason: `it holds ${table.length} bytes where LevelDB's manifest says ${expectedBytes}`,
      };
    }
    const reason = verifyTable(table);
    if (reason !== null) return { file, reason };
  }
  return null;
}

/**
 * The tables an open DB's current version uses, as file number -> size, read from its
 * `leveldb.sstables` property (lines like ` 15:325716['a' @ 8825 : 1 .. 'z' @ 8631 : 1]`).
 */
export function liveTables(sstablesProperty: string): Map<number, number> {
  const live = new Map<number, number>();
  for (const match of sstablesProperty.matchAll(/^ (\d+):(\d+)\[/gm)) {
    live.set(Number(match[1]), Number(match[2]));
  }
  return live;
}

function tableNumber(file: string): number {
  return Number(/(\d+)\.(ldb|sst)$/.exec(file)?.[1] ?? Number.NaN);
}

/** The paths of LevelDB's table files in dbDir (.ldb, and .sst from older LevelDB), sorted. */
async function tableFiles(dbDir: string): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(dbDir);
  } catch (error) {
    if (isNoEntry(error)) return [];
    throw error;
  }
  return names
    .filter((name) => name.endsWith('.ldb') || name.endsWith('.sst'))
    .sort()
    .map((name) => join(dbDir, name));
}

/** The file's bytes, or null when it vanished (LevelDB deletes tables that compaction replaced). */
async function readIfPresent(file: string): Promise<Uint8Array | null> {
  try {
    return await readFile(file);
  } catch (error) {
    if (isNoEntry(error)) return null;
    throw error;
  }
}

function isNoEntry(error: unknown): boolean {
  return error instanceof Error && (error as NodeJS.ErrnoException).code === 'ENOENT';
}

// ---- tables --------------------------------------------------------------------------------

/** Why the bytes of a table file cannot be trusted, or null when every check passes. */
export function verifyTable(table: Uint8Array): string | null {
  try {
    const layout = readTableLayout(table);
    // The filter and data blocks are only checked, not decompressed: the CRC covers the stored bytes.
    for (const [index, handle] of layout.metaBlocks.entries()) {
      storedBlock(table, handle, `meta block ${index}`);
    }
    for (const [index, handle] of layout.dataBlocks.entries()) {
      storedBlock(table, handle, `data block ${index}`);
    }
    return null;
  } catch (error) {
    if (error instanceof TableCorruption) return error.message;
    throw error;
  }
}

/**
 * Reads the footer, the index and the metaindex (checking their CRCs) and checks that all the
 * blocks they name tile the file. The data and meta blocks themselves are not read.
 * @throws TableCorruption
 */
export function readTableLayout(table: Uint8Array): TableLayout {
  const { indexBlock, metaindexBlock } = readFooter(table);
  const dataBlocks = entryHandles(readBlock(table, indexBlock, 'index block'), 'index block');
  const metaBlocks = entryHandles(readBlock(table, metaindexBlock, 'metaindex block'), 'metaindex block');
  const layout = { indexBlock, metaindexBlock, dataBlocks, metaBlocks };
  checkTiling(layout, table.length - footerBytes);
  return layout;
}

function readFooter(table: Uint8Array): Pick<TableLayout, 'indexBlock' | 'metaindexBlock'> {
  if (table.length < footerBytes) {
    throw new TableCorruption(`${table.length} bytes, shorter than a table footer (${footerBytes})`);
  }
  const footerStart = table.length - footerBytes;
  const magicStart = footerStart + footerHandlesBytes;
  if (uint32At(table, magicStart) !== magicNumberLow || uint32At(table, magicStart + 4) !== magicNumberHigh) {
    throw new TableCorruption('footer: bad magic number');
  }
  const reader = new ByteReader(table, footerStart, magicStart, 'footer');
  const metaindexBlock = readHandle(reader);
  const indexBlock = readHandle(reader);
  // LevelDB skips the padding when reading, but TableBuilder zero-fills it (std::string::resize),
  // so checking it leaves no byte of the footer unchecked.
  for (let position = reader.position; position < magicStart; position++) {
    if (table[position] !== 0) throw new TableCorruption(`footer: padding byte at ${position} is not zero`);
  }
  return { indexBlock, metaindexBlock };
}

/**
 * TableBuilder appends the data blocks in key order, then the filter (the meta blocks), the
 * metaindex, the index and the footer, each right after the one before. So in that order the
 * blocks must cover [0, footerStart) without gap or overlap: a gap would be bytes that no CRC
 * covers. This also checks that every handle lies inside the file.
 */
function checkTiling(layout: TableLayout, footerStart: number): void {
  const blocks = [...layout.dataBlocks, ...layout.metaBlocks, layout.metaindexBlock, layout.indexBlock];
  let expectedOffset = 0;
  for (const block of blocks) {
    if (block.offset !== expectedOffset) {
      throw new TableCorruption(
        `a block is at ${block.offset}, not right after the one before (${expectedOffset})`,
      );
    }
    expectedOffset = block.offset + block.size + blockTrailerBytes;
  }
  if (expectedOffset !== footerStart) {
    throw new TableCorruption(`the blocks end at ${expectedOffset}, not at the footer (${footerStart})`);
  }
}

/** The block handles that are the values of a (decompressed) index or metaindex block. */
function entryHandles(contents: Uint8Array, what: string): BlockHandle[] {
  return blockEntries(contents, what).map((entry, index) => {
    const reader = new ByteReader(entry.value, 0, entry.value.length, what);
    const handle = readHandle(reader);
    if (!reader.atEnd) throw new TableCorruption(`${what} entry ${index}: bytes after the block handle`);
    return handle;
  });
}

function readHandle(reader: ByteReader): BlockHandle {
  return { offset: reader.varint(64), size: reader.varint(64) };
}

// ---- blocks --------------------------------------------------------------------------------

/**
 * A block's contents after checking its CRC, decompressed.
 * @throws TableCorruption
 */
export function readBlock(table: Uint8Array, handle: BlockHandle, what: string): Uint8Array {
  const { contents, compressionType } = storedBlock(table, handle, what);
  if (compressionType === compressionNone) return contents;
  try {
    return snappyUncompress(contents);
  } catch (error) {
    if (error instanceof TableCorruption) throw new TableCorruption(`${what}: ${error.message}`);
    throw error;
  }
}

/** A block's stored (possibly compressed) contents, after checking its place, CRC and type. */
function storedBlock(
  table: Uint8Array,
  handle: BlockHandle,
  what: string,
): { contents: Uint8Array; compressionType: number } {
  const blocksEnd = table.length - footerBytes;
  const { offset, size } = handle;
  if (offset > blocksEnd || size > blocksEnd || offset + size + blockTrailerBytes > blocksEnd) {
    throw new TableCorruption(`${what} at ${offset} (${size} bytes) runs into the footer or past it`);
  }
  const trailerStart = offset + size;
  const storedCrc = uint32At(table, trailerStart + 1);
  if (maskCrc32c(crc32c(table.subarray(offset, trailerStart + 1))) !== storedCrc) {
    throw new TableCorruption(`${what} at ${offset} (${size} bytes): checksum mismatch`);
  }
  const compressionType = table[trailerStart]!;
  if (compressionType !== compressionNone && compressionType !== compressionSnappy) {
    throw new TableCorruption(`${what} at ${offset}: unknown compression type ${compressionType}`);
  }
  return { contents: table.subarray(offset, trailerStart), compressionType };
}

/**
 * The entries of a decompressed block: each is shared, non_shared and value_length (varint32),
 * the key bytes after the shared prefix, then the value. A block ends with its restart array
 * (fixed32 offsets of entries that share nothing) and the array's length (fixed32).
 * @throws TableCorruption
 */
export function blockEntries(contents: Uint8Array, what: string): BlockEntry[] {
  if (contents.length < 4) throw new TableCorruption(`${what}: ${contents.length} bytes, no restart count`);
  const restartCount = uint32At(contents, contents.length - 4);
  // BlockBuilder always writes at least one restart point, at offset 0.
  if (restartCount < 1 || restartCount > (contents.length - 4) / 4) {
    throw new TableCorruption(`${what}: restart count ${restartCount} does not fit its block`);
  }
  const restartsStart = contents.length - 4 * (restartCount + 1);
  const reader = new ByteReader(contents, 0, restartsStart, what);
  const entries: BlockEntry[] = [];
  let key: Uint8Array = new Uint8Array(0);
  let restartIndex = 0;
  while (!reader.atEnd) {
    const entryStart = reader.position;
    const isRestart =
      restartIndex < restartCount && uint32At(contents, restartsStart + 4 * restartIndex) === entryStart;
    const sharedBytes = reader.varint(32);
    const keyDeltaBytes = reader.varint(32);
    const valueBytes = reader.varint(32);
    const keyDelta = reader.take(keyDeltaBytes);
    const value = reader.take(valueBytes);
    if (sharedBytes > key.length || (isRestart && sharedBytes !== 0)) {
      throw new TableCorruption(`${what}: the entry at ${entryStart} shares ${sharedBytes} bytes`);
    }
    key = sharedBytes === 0 ? keyDelta : joinedKey(key, sharedBytes, keyDelta);
    entries.push({ key, value });
    if (isRestart) restartIndex++;
  }
  const isEmptyBlock = entries.length === 0 && restartCount === 1 && uint32At(contents, restartsStart) === 0;
  if (restartIndex !== restartCount && !isEmptyBlock) {
    throw new TableCorruption(`${what}: restart point ${restartIndex} is not at an entry`);
  }
  return entries;
}

function joinedKey(previousKey: Uint8Array, sharedBytes: number, keyDelta: Uint8Array): Uint8Array {
  const key = new Uint8Array(sharedBytes + keyDelta.length);
  key.set(previousKey.subarray(0, sharedBytes));
  key.set(keyDelta, sharedBytes);
  return key;
}

// ---- snappy --------------------------------------------------------------------------------

/**
 * Decompresses a raw snappy block: the uncompressed length (varint32), then elements. The low
 * two bits of an element's tag say which: 0 a literal, 1..3 a copy of earlier output with a
 * 1-, 2- or 4-byte offset.
 * @throws TableCorruption
 */
export function snappyUncompress(compressed: Uint8Array): Uint8Array {
  const reader = new ByteReader(compressed, 0, compressed.length, 'snappy');
  const outputBytes = reader.varint(32);
  if (outputBytes > compressed.length * snappyExpansionMax) {
    throw new TableCorruption(`snappy: ${outputBytes} bytes cannot come from ${compressed.length}`);
  }
  const output = new Uint8Array(outputBytes);
  let written = 0;
  while (!reader.atEnd) {
    const tag = reader.byte();
    if ((tag & 3) === 0) {
      const lengthCode = tag >>> 2;
      // Codes 60..63 mean the length minus one follows in 1..4 little-endian bytes.
      const length = (lengthCode < 60 ? lengthCode : reader.uint(lengthCode - 59)) + 1;
      if (length > outputBytes - written) throw new TableCorruption('snappy: a literal overruns the output');
      output.set(reader.take(length), written);
      written += length;
      continue;
    }
    const [length, offset] = snappyCopy(tag, reader);
    if (offset === 0 || offset > written || length > outputBytes - written) {
      throw new TableCorruption(`snappy: a copy of ${length} bytes from ${offset} back is out of range`);
    }
    // A copy may overlap its own output (offset < length), repeating a pattern: byte by byte.
    for (let index = 0; index < length; index++) output[written + index] = output[written - offset + index]!;
    written += length;
  }
  if (written !== outputBytes) throw new TableCorruption(`snappy: ${written} of ${outputBytes} bytes`);
  return output;
}

/** The length and offset of a copy element whose tag's low bits are 1, 2 or 3. */
function snappyCopy(tag: number, reader: ByteReader): [length: number, offset: number] {
  switch (tag & 3) {
    case 1:
      return [((tag >>> 2) & 7) + 4, ((tag >>> 5) << 8) | reader.byte()];
    case 2:
      return [(tag >>> 2) + 1, reader.uint(2)];
    default:
      return [(tag >>> 2) + 1, reader.uint(4)];
  }
}

// ---- bytes ---------------------------------------------------------------------------------

/** Reads forward through bytes[position, end), throwing TableCorruption instead of passing end. */
class ByteReader {
  constructor(
    private readonly bytes: Uint8Array,
    public position: number,
    private readonly end: number,
    private readonly what: string,
  ) {}

  get atEnd(): boolean {
    return this.position >= this.end;
  }

  /** A little-endian base-128 varint (util/coding.cc) that must fit in `bits` bits. */
  varint(bits: 32 | 64): number {
    const valueMax = bits === 32 ? 0xffffffff : Number.MAX_SAFE_INTEGER;
    let value = 0;
    // 2 ** shift, kept by multiplying: numbers past 32 bits rule out the bitwise operators.
    let scale = 1;
    for (let shift = 0; shift < bits; shift += 7) {
      const byte = this.byte();
      value += (byte & 0x7f) * scale;
      if (byte < 0x80) {
        if (value > valueMax) throw new TableCorruption(`${this.what}: varint ${value} is too large`);
        return value;
      }
      scale *= 0x80;
    }
    throw new TableCorruption(`${this.what}: varint longer than ${bits} bits`);
  }

  byte(): number {
    this.checkRemaining(1);
    return this.bytes[this.position++]!;
  }

  /** An unsigned little-endian integer of 1 to 4 bytes. */
  uint(byteCount: number): number {
    this.checkRemaining(byteCount);
    let value = 0;
    for (let index = byteCount - 1; index >= 0; index--) {
      value = value * 256 + this.bytes[this.position + index]!;
    }
    this.position += byteCount;
    return value;
  }

  /** The next `length` bytes, as a view. */
  take(length: number): Uint8Array {
    this.checkRemaining(length);
    this.position += length;
    return this.bytes.subarray(this.position - length, this.position);
  }

  private checkRemaining(length: number): void {
    if (length > this.end - this.position) {
      throw new TableCorruption(`${this.what}: ${length} bytes at ${this.position} run past the end`);
    }
  }
}

function uint32At(bytes: Uint8Array, position: number): number {
  return (
    (bytes[position]! |
      (bytes[position + 1]! << 8) |
      (bytes[position + 2]! << 16) |
      (bytes[position + 3]! << 24)) >>>
    0
  );
}

// ---- CRC-32C -------------------------------------------------------------------------------

const castagnoliReflected = 0x82f63b78;
/** LevelDB stores CRCs masked, because a CRC over bytes that hold CRCs is weak (util/crc32c.h). */
const crcMaskDelta = 0xa282ead8;

/**
 * Slice-by-8: crcTable[k * 256 + b] is the CRC of byte b followed by k zero bytes, so eight
 * input bytes take eight independent lookups instead of a chain of eight.
 */
const crcTable = buildCrcTable();

function buildCrcTable(): Uint32Array {
  const table = new Uint32Array(8 * 256);
  for (let byte = 0; byte < 256; byte++) {
    let crc = byte;
    for (let bit = 0; bit < 8; bit++) crc = crc & 1 ? (crc >>> 1) ^ castagnoliReflected : crc >>> 1;
    table[byte] = crc;
  }
  for (let index = 256; index < table.length; index++) {
    const previous = table[index - 256]!;
    table[index] = (previous >>> 8) ^ table[previous & 0xff]!;
  }
  return table;
}

/** The CRC-32C (Castagnoli) of `bytes`, as an unsigned 32-bit integer. */
export function crc32c(bytes: Uint8Array): number {
  const table = crcTable;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let crc = -1; // All ones as an int32: 0xffffffff would be a double, and slow the loop down.
  let index = 0;
  for (const wholeWordsEnd = bytes.length - 7; index < wholeWordsEnd; index += 8) {
    const low = crc ^ view.getUint32(index, true);
    const high = view.getUint32(index + 4, true);
    crc =
      table[0x700 | (low & 0xff)]! ^
      table[0x600 | ((low >>> 8) & 0xff)]! ^
      table[0x500 | ((low >>> 16) & 0xff)]! ^
      table[0x400 | (low >>> 24)]! ^
      table[0x300 | (high & 0xff)]! ^
      table[0x200 | ((high >>> 8) & 0xff)]! ^
      table[0x100 | ((high >>> 16) & 0xff)]! ^
      table[high >>> 24]!;
  }
  for (; index < bytes.length; index++) crc = table[(crc ^ bytes[index]!) & 0xff]! ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

/** The form in which LevelDB stores a CRC: rotated right by 15 bits, plus a constant. */
export function maskCrc32c(crc: number): number {
  return (((crc >>> 15) | (crc << 17)) + crcMaskDelta) >>> 0;
}
