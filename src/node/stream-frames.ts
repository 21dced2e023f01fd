// Framing of a peer stream (`POST /raft/stream`, upgraded; design.md §6 "Peer RPC"): the
// connection carries a sequence of frames, each a 4-byte big-endian length and that many bytes of
// one msgpack batch (encodeMessages).
import { assert } from '../assert.js';

export const frameHeaderBytes = 4;

/** One frame: the length, then the batch. */
export function encodeFrame(batch: Uint8Array): Buffer {
  assert(batch.length <= 0xffff_ffff, 'a frame fits a 32-bit length');
  const frame = Buffer.allocUnsafe(frameHeaderBytes + batch.length);
  frame.writeUInt32BE(batch.length, 0);
  frame.set(batch, frameHeaderBytes);
  return frame;
}

export class FrameTooLargeError extends Error {
  constructor(
    readonly frameBytes: number,
    readonly frameBytesMax: number,
  ) {
    super(`A stream frame of ${frameBytes} bytes is over the limit of ${frameBytesMax}`);
    this.name = 'FrameTooLargeError';
  }
}

/**
 * Cuts a byte stream back into frames, whatever the chunking: a frame may span many chunks and a
 * chunk may hold many frames. Each byte is copied at most once (only a frame split across chunks
 * is gathered), and at most one frame of frameBytesMax is buffered.
 */
export class FrameReader {
  private chunks: Buffer[] = [];
  /** Bytes held in `chunks`. */
  private bufferedBytes = 0;
  /** The length of the frame being read, once its header is in; null while waiting for a header. */
  private frameBytes: number | null = null;

  constructor(private readonly frameBytesMax: number) {}

  /** The frames `chunk` completes, in order. Throws FrameTooLargeError for a length over the limit. */
  push(chunk: Buffer): Buffer[] {
    if (chunk.length > 0) {
      this.chunks.push(chunk);
      this.bufferedBytes += chunk.length;
    }
    const frames: Buffer[] = [];
    for (;;) {
      if (this.frameBytes === null) {
        if (this.bufferedBytes < frameHeaderBytes) break;
        const frameBytes = this.take(frameHeaderBytes).readUInt32BE(0);
        if (frameBytes > this.frameBytesMax) throw new FrameTooLargeError(frameBytes, this.frameBytesMax);
        this.frameBytes = frameBytes;
      }
      if (this.bufferedBytes < this.frameBytes) break;
      frames.push(this.take(this.frameBytes));
      this.frameBytes = null;
    }
    return frames;
  }

  /** True between frames: a stream that ends here ended cleanly. */
  atFrameBoundary(): boolean {
    return this.frameBytes === null && this.bufferedBytes === 0;
  }

  private take(byteCount: number): Buffer {
    assert(byteCount <= this.bufferedBytes, 'take only what is buffered');
    this.bufferedBytes -= byteCount;
    const first = this.chunks[0];
    if (first !== undefined && first.length >= byteCount) {
      if (first.length === byteCount) this.chunks.shift();
      else this.chunks[0] = first.subarray(byteCount);
      return first.subarray(0, byteCount);
    }
    const gathered = Buffer.allocUnsafe(byteCount);
    let filled = 0;
    while (filled < byteCount) {
      const chunk = this.chunks[0]!;
      const used = Math.min(chunk.length, byteCount - filled);
      chunk.copy(gathered, filled, 0, used);
      filled += used;
      if (used === chunk.length) this.chunks.shift();
      else this.chunks[0] = chunk.subarray(used);
    }
    return gathered;
  }
}
