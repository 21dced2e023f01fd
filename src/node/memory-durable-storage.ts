// The in-memory twin of LevelStorage, for the simulator and tests: the same ordering, checks and
// failed state (they live in MirroredDurableStorage), with a medium that is the mirror itself,
// so a save is durable as soon as its turn comes.
import { type ConfigState, MemoryStorage } from '../raft/storage.js';
import { MirroredDurableStorage } from './durable-storage.js';

export class MemoryDurableStorage extends MirroredDurableStorage {
  constructor(initialConfig: ConfigState) {
    super(new MemoryStorage(initialConfig));
  }

  protected persist(): Promise<void> {
    return Promise.resolve();
  }

  protected release(): Promise<void> {
    return Promise.resolve();
  }
}
