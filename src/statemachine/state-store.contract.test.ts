import { defineStateStoreContract, storeHarnesses } from './state-store.contract.js';

for (const { name, harness } of storeHarnesses) defineStateStoreContract(name, harness);
