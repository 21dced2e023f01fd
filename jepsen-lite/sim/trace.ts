// The trace of a run: one line per event. A failing seed is replayed with a TraceRing that
// keeps only the last lines, which end at the violation.

/** Lines kept for a violation's report: enough to see the faults and messages that led to it. */
export const violationTraceLinesMax = 200;

export class TraceRing {
  private buffer: string[] = [];
  /** Lines that head the trace however long it grows (what the seed drew). */
  private readonly header: string[] = [];

  /** `capacity` lines are kept (Infinity keeps every line, for --verbose). */
  constructor(
    private readonly capacity: number,
    private readonly onLine?: (line: string) => void,
  ) {}

  addHeader(line: string): void {
    this.onLine?.(line);
    this.header.push(line);
  }

  add(line: string): void {
    this.onLine?.(line);
    this.buffer.push(line);
    // Trim in batches, so keeping the last lines costs O(1) per line.
    if (this.buffer.length > 2 * this.capacity) this.buffer = this.buffer.slice(-this.capacity);
  }

  lines(): string[] {
    return [...this.header, ...this.buffer.slice(-this.capacity)];
  }
}
