// The state machine's limits live in src/config.ts with every other limit (design.md §7).
export {
  kvKeyBytesMax,
  kvRangeItemsDefault,
  kvRangeItemsMax,
  kvValueBytesMax,
  kvValueDepthMax,
  requestIdBytesMax,
} from '../config.js';
