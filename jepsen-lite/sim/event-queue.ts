// A priority queue of events on virtual time. Events at the same instant run in the order
// they were scheduled (a sequence number breaks ties), so a run never depends on heap order.
import { assert } from '../../src/assert.js';

interface Slot<T> {
  atMs: number;
  sequence: number;
  event: T;
}

function before<T>(left: Slot<T>, right: Slot<T>): boolean {
  return left.atMs < right.atMs || (left.atMs === right.atMs && left.sequence < right.sequence);
}

export class EventQueue<T> {
  /** A binary min-heap on (atMs, sequence). */
  private readonly heap: Slot<T>[] = [];
  private nextSequence = 0;

  get size(): number {
    return this.heap.length;
  }

  push(atMs: number, event: T): void {
    assert(Number.isFinite(atMs), () => `event time ${atMs} is not finite`);
    this.heap.push({ atMs, sequence: this.nextSequence++, event });
    this.siftUp(this.heap.length - 1);
  }

  /** The earliest event and its time, or undefined when the queue is empty. */
  pop(): { atMs: number; event: T } | undefined {
    const top = this.heap[0];
    if (top === undefined) return undefined;
    const last = this.heap.pop()!;
    if (this.heap.length > 0) {
      this.heap[0] = last;
      this.siftDown(0);
    }
    return { atMs: top.atMs, event: top.event };
  }

  peekTimeMs(): number | undefined {
    return this.heap[0]?.atMs;
  }

  private siftUp(start: number): void {
    let index = start;
    while (index > 0) {
      const parent = (index - 1) >> 1;
      if (!before(this.heap[index]!, this.heap[parent]!)) return;
      this.swap(index, parent);
      index = parent;
    }
  }

  private siftDown(start: number): void {
    let index = start;
    for (;;) {
      const left = 2 * index + 1;
      const right = left + 1;
      let smallest = index;
      if (left < this.heap.length && before(this.heap[left]!, this.heap[smallest]!)) smallest = left;
      if (right < this.heap.length && before(this.heap[right]!, this.heap[smallest]!)) smallest = right;
      if (smallest === index) return;
      this.swap(index, smallest);
      index = smallest;
    }
  }

  private swap(i: number, j: number): void {
    [this.heap[i], this.heap[j]] = [this.heap[j]!, this.heap[i]!];
  }
}

/** How simulated parts schedule work on virtual time and explain it in the trace. */
export interface Scheduler {
  nowMs(): number;
  /**
   * Runs `run` after `delayMs` of virtual time. Each event gets one trace line, except quiet
   * ones (ticks, timeouts that may find nothing to do), which get one only when they note something.
   */
  schedule(delayMs: number, label: () => string, run: () => void, quiet?: boolean): void;
  /** Adds a remark to the trace line of the event running now (evaluated only when tracing). */
  note(text: () => string): void;
}
