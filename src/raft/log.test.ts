import { describe, expect, it } from 'vitest';
import { RaftLog } from './log.js';
import { MemoryStorage } from './storage.js';

function storageWith(lastIndex: number, commit: number): MemoryStorage {
  const storage = new MemoryStorage({ voters: [1], learners: [] });
  storage.append(
    Array.from({ length: lastIndex }, (_, i) => ({
      index: i + 1,
      term: 1,
      type: 'normal' as const,
      stampMs: 0,
      data: new Uint8Array(),
    })),
  );
  storage.setHardState({ term: 1, vote: 1, commit });
  return storage;
}

describe('RaftLog at start-up', () => {
  it('takes an applied index ahead of the persisted commit index as committed (a crash between the two writes)', () => {
    const log = new RaftLog(storageWith(5, 3), 4);
    expect(log.committed).toBe(4);
    expect(log.applied).toBe(4);
  });

  it('refuses an applied index past the last log entry', () => {
    expect(() => new RaftLog(storageWith(5, 3), 6)).toThrow(/applied 6, past the last log entry 5/);
  });
});
