// Limits of the state machine and its services, each named with its unit (design.md §7).
// They belong in src/config.ts with every other limit; they live here until its owner merges them.

/** Longest KV key, in UTF-8 bytes. */
export const kvKeyBytesMax = 1024;

/** Largest KV value, in UTF-8 bytes of its JSON text (what a client sends and receives). */
export const kvValueBytesMax = 256 * 1024;

/**
 * Deepest nesting of arrays and objects in a KV value. Bounds the stack that encoding and
 * decoding need, so a value every node accepts never overflows one node's stack.
 */
export const kvValueDepthMax = 64;

/** Items one page of a KV range returns when the client does not say. */
export const kvRangeItemsDefault = 100;

/** Most items one page of a KV range returns. */
export const kvRangeItemsMax = 1000;

/** Longest request id a command may carry, in UTF-8 bytes (a forwarding node's internal id). */
export const requestIdBytesMax = 128;
