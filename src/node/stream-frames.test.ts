// Frames survive any chunking of the stream; a length over the limit is refused at its header.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { encodeFrame, FrameReader, FrameTooLargeError } from './stream-frames.js';

describe('FrameReader', () => {
  it('returns the frames written, in order, whatever the chunk boundaries', () => {
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 10 }),
        fc.array(fc.nat(), { maxLength: 40 }),
        (payloads, offsets) => {
          const stream = Buffer.concat(payloads.map(encodeFrame));
          const cuts = [...new Set(offsets.map((offset) => offset % (stream.length + 1)))].sort(
            (a, b) => a - b,
          );
          const reader = new FrameReader(300);
          const frames: Uint8Array[] = [];
          let start = 0;
          for (const end of [...cuts, stream.length]) {
            frames.push(...reader.push(stream.subarray(start, end)));
            start = end;
          }
          expect(frames.map((frame) => [...frame])).toEqual(payloads.map((payload) => [...payload]));
          expect(reader.atFrameBoundary()).toBe(true);
        },
      ),
    );
  });

  it('knows a stream cut inside a frame', () => {
    const reader = new FrameReader(100);
    const frame = encodeFrame(new Uint8Array([1, 2, 3]));
    expect(reader.push(frame.subarray(0, 5))).toEqual([]);
    expect(reader.atFrameBoundary()).toBe(false);
    expect(reader.push(frame.subarray(5)).map((bytes) => [...bytes])).toEqual([[1, 2, 3]]);
    expect(reader.atFrameBoundary()).toBe(true);
  });

  it('refuses a length over the limit from the header alone', () => {
    const reader = new FrameReader(100);
    expect(reader.push(encodeFrame(new Uint8Array(100)))).toHaveLength(1);
    expect(() => reader.push(encodeFrame(new Uint8Array(101)).subarray(0, 4))).toThrow(FrameTooLargeError);
  });
});
