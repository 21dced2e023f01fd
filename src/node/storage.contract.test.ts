// Runs the one storage contract against both implementations.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LevelStorage } from './level-storage.js';
import { MemoryDurableStorage } from './memory-durable-storage.js';
import { contractConfig, storageContract } from './storage.contract.js';

storageContract('MemoryDurableStorage', false, async () => {
  const storage = new MemoryDurableStorage(contractConfig);
  return { storage, cleanup: () => storage.close() };
});

storageContract('LevelStorage', true, async () => {
  const dataDir = await mkdtemp(join(tmpdir(), 'raftkv-storage-contract-'));
  const options = { nodeId: 1, clusterId: 'contract-cluster', initialConfig: contractConfig };
  let current = await LevelStorage.open(dataDir, options);
  return {
    storage: current,
    reopen: async () => {
      current = await LevelStorage.open(dataDir, options);
      return current;
    },
    cleanup: async () => {
      await current.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
});
