// A service's slice of the state: every key is qualified by the service's namespace (a key
// prefix), so services share one store and one apply batch without seeing each other's keys.
import { concatBytes, type KeyRange, keyBytes, rangeWithin, type StateKey } from './keys.js';
import type { StateReader, StateRecord, StateView } from './state-store.js';

export class NamespacedReader implements StateReader {
  private readonly prefix: Uint8Array;

  constructor(
    private readonly inner: StateReader,
    private readonly namespace: string,
  ) {
    this.prefix = keyBytes(namespace);
  }

  get(key: StateKey): Uint8Array | undefined {
    return this.inner.get(this.qualify(key));
  }

  async *iterate(range: KeyRange): AsyncGenerator<StateRecord> {
    const { gte, lt } = rangeWithin(this.prefix, range);
    for await (const record of this.inner.iterate({ gte, lt, limit: range.limit, reverse: range.reverse })) {
      yield { key: record.key.subarray(this.prefix.byteLength), value: record.value };
    }
  }

  /** A string key stays a string (namespace + key, the same UTF-8 bytes): no bytes to allocate. */
  protected qualify(key: StateKey): StateKey {
    return typeof key === 'string' ? this.namespace + key : concatBytes(this.prefix, key);
  }
}

export class NamespacedView extends NamespacedReader implements StateView {
  constructor(
    private readonly target: StateView,
    namespace: string,
  ) {
    super(target, namespace);
  }

  put(key: StateKey, value: Uint8Array): void {
    this.target.put(this.qualify(key), value);
  }

  delete(key: StateKey): void {
    this.target.delete(this.qualify(key));
  }
}
