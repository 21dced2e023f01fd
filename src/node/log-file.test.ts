// What the log files do on their own: records back in order across segments and reads, an
// unfinished append at the very end cut, and every other kind of damage refused.
import { mkdtemp, readdir, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { LogFile, LogFileError, recordHeaderBytes, segmentHeaderBytes } from './log-file.js';

const dirs: string[] = [];
const files: LogFile[] = [];

afterEach(async () => {
  for (const file of files.splice(0)) file.close();
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});

async function newLogDir(): Promise<string> {
  const parent = await mkdtemp(join(tmpdir(), 'raftkv-log-file-'));
  dirs.push(parent);
  return join(parent, 'log');
}

/** A payload of `bytes` bytes that says which record it is. */
function payload(n: number, bytes = 100): Uint8Array {
  const data = new Uint8Array(bytes).fill(n % 251);
  data[0] = n;
  return data;
}

function openAll(
  dir: string,
  segmentBytesMax?: number,
): { payloads: Uint8Array[]; file: LogFile; cut: unknown } {
  const payloads: Uint8Array[] = [];
  const { file, cut } = LogFile.open(dir, (bytes) => payloads.push(bytes.slice()), segmentBytesMax);
  files.push(file);
  return { payloads, file, cut };
}

/** A log of `count` records of 100 bytes, in segments of at most `segmentBytesMax`, closed. */
async function writtenLog(count: number, segmentBytesMax?: number): Promise<string> {
  const dir = await newLogDir();
  const file = LogFile.create(dir, segmentBytesMax);
  for (let n = 1; n <= count; n++) file.append([payload(n)], n === count);
  file.close();
  return dir;
}

describe('LogFile', () => {
  it('reads back every record in order, across segments, and appends after them when reopened', async () => {
    const recordBytes = recordHeaderBytes + 100;
    const dir = await writtenLog(10, segmentHeaderBytes + 3 * recordBytes);
    expect(await readdir(dir)).toEqual([
      '0000000001.log',
      '0000000002.log',
      '0000000003.log',
      '0000000004.log',
    ]);
    const first = openAll(dir, segmentHeaderBytes + 3 * recordBytes);
    expect(first.payloads).toEqual(Array.from({ length: 10 }, (_, i) => payload(i + 1)));
    expect(first.cut).toBeNull();
    first.file.append([payload(11), payload(12)], true);
    first.file.close();
    expect(openAll(dir).payloads.map((bytes) => bytes[0])).toEqual(
      Array.from({ length: 12 }, (_, i) => i + 1),
    );
  });

  it('cuts an unfinished append at the end, and zeros a crash left past the last record', async () => {
    const dir = await writtenLog(3);
    const path = join(dir, '0000000001.log');
    const whole = await readFile(path);
    await writeFile(path, Buffer.concat([whole, Buffer.alloc(40)]));
    const zeros = openAll(dir);
    expect(zeros.payloads).toHaveLength(3);
    expect(zeros.cut).toEqual({ segment: path, atByte: whole.length, bytesCut: 40 });
    zeros.file.close();
    await truncate(path, whole.length - 1);
    const torn = openAll(dir);
    expect(torn.payloads).toHaveLength(2);
    expect((await readFile(path)).length).toBe(whole.length - recordHeaderBytes - 100);
  });

  it('refuses an unfinished record in a segment a newer one follows', async () => {
    const recordBytes = recordHeaderBytes + 100;
    const dir = await writtenLog(4, segmentHeaderBytes + 2 * recordBytes);
    await truncate(join(dir, '0000000001.log'), segmentHeaderBytes + recordBytes + 5);
    expect(() => openAll(dir)).toThrow(
      /0000000001.log is damaged at byte \d+ \(a record is cut short, and a newer segment follows\)/,
    );
  });

  it('refuses a missing directory or segment, a foreign file, a damaged header and an unknown format', async () => {
    const gone = await writtenLog(1);
    await rm(gone, { recursive: true });
    expect(() => openAll(gone)).toThrow(/the log directory .* is missing/);

    const recordBytes = recordHeaderBytes + 100;
    const missing = await writtenLog(6, segmentHeaderBytes + 2 * recordBytes);
    await rm(join(missing, '0000000002.log'));
    expect(() => openAll(missing)).toThrow(/is followed by 0000000003.log .*: one is missing/);

    const foreign = await writtenLog(1);
    await writeFile(join(foreign, 'notes.txt'), 'x');
    expect(() => openAll(foreign)).toThrow(/notes.txt is not a log segment/);

    const header = await writtenLog(1);
    const path = join(header, '0000000001.log');
    const bytes = await readFile(path);
    bytes[0]! ^= 0x01;
    await writeFile(path, bytes);
    expect(() => openAll(header)).toThrow(/not a raftkv log segment header/);

    bytes[0]! ^= 0x01;
    bytes[segmentHeaderBytes - 1] = 9;
    await writeFile(path, bytes);
    expect(() => openAll(header)).toThrow(expect.objectContaining({ kind: 'unknown-format' }));
    expect(() => openAll(header)).toThrow(LogFileError);
  });
});
