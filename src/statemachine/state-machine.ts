// The deterministic state machine: committed entries in, state and one result per entry out,
// the same on every node. Each call to applyEntries is one apply step: its writes are staged in
// memory and reach the store in one batch together with the new applied index (design.md §8).
import { assert } from '../assert.js';
import { type ErrorCode, RaftkvError } from '../errors.js';
import type { Entry } from '../raft/messages.js';
import { type Command, type CommandKind, decodeCommand, MalformedCommandError } from './commands.js';
import { kvService } from './kv.js';
import { NamespacedReader, NamespacedView } from './namespaced-view.js';
import { qualifiedKey, type Service } from './service.js';
import type { StateReader, StateStore } from './state-store.js';
import { WriteOverlay } from './write-overlay.js';

/** Why a command was not applied: a RaftkvError as plain data, so it can be stored and replayed. */
export interface CommandFailure {
  code: ErrorCode;
  message: string;
  details: Record<string, unknown>;
}

/**
 * The outcome of one entry: its service's result, or why the command was rejected (nothing was
 * written), or null for an entry with no command (noop, config) and for one already applied
 * before a restart (no request waits for those).
 */
export type ApplyResult = { ok: true; value: unknown } | { ok: false; error: CommandFailure } | null;

export const builtInServices: readonly Service[] = [kvService];

export class StateMachine {
  private readonly serviceByKind = new Map<CommandKind, Service>();
  /** applyEntries runs one call at a time: each call reads the applied index the last one wrote. */
  private applying = false;
  /**
   * Commands decoded by keysTouched (when a quorum read has the pending-write index look at an
   * entry before it applies), kept for their apply, so an entry's bytes are decoded at most once
   * per node. Keyed weakly by the entry's bytes.
   */
  private readonly decoded = new WeakMap<Uint8Array, Command>();

  constructor(
    private readonly store: StateStore,
    private readonly services: readonly Service[] = builtInServices,
  ) {
    services.forEach((service, position) => {
      for (const other of services.slice(0, position)) {
        assert(
          !service.namespace.startsWith(other.namespace) && !other.namespace.startsWith(service.namespace),
          () => `services ${service.name} and ${other.name} have overlapping namespaces`,
        );
      }
      for (const kind of service.commandKinds) {
        assert(!this.serviceByKind.has(kind), () => `two services apply ${kind}`);
        this.serviceByKind.set(kind, service);
      }
    });
  }

  appliedIndex(): number {
    return this.store.appliedIndex();
  }

  /** The committed state of one service, for reads outside apply. */
  reader(service: Service): StateReader {
    assert(this.services.includes(service), () => `service ${service.name} is not registered`);
    return new NamespacedReader(this.store, service.namespace);
  }

  /**
   * The state keys (namespace + key) an entry's command may write, for the pending-write index of
   * quorum reads (design.md §5). A noop, config or undecodable entry touches nothing.
   */
  keysTouched(entry: Entry): string[] {
    if (entry.type !== 'normal') return [];
    let command: Command;
    try {
      command = decodeCommand(entry.data);
      this.decoded.set(entry.data, command);
    } catch (error) {
      if (error instanceof MalformedCommandError) return [];
      throw error;
    }
    const service = this.serviceByKind.get(command.kind);
    if (service === undefined) return [];
    return service.keysTouched(command).map((key) => qualifiedKey(service, key));
  }

  /**
   * Applies contiguous committed entries and returns one result per entry, in order. Entries at or
   * below the applied index (re-delivered after a restart) are skipped, so none is applied twice.
   */
  async applyEntries(entries: readonly Entry[]): Promise<ApplyResult[]> {
    assert(!this.applying, 'applyEntries called while a previous call is still applying');
    this.applying = true;
    try {
      return await this.applyStep(entries);
    } finally {
      this.applying = false;
    }
  }

  private async applyStep(entries: readonly Entry[]): Promise<ApplyResult[]> {
    const appliedBefore = this.store.appliedIndex();
    const stepWrites = new WriteOverlay(this.store);
    /** Each service's view of this step's writes, made when its first command applies. */
    const views = new Map<Service, NamespacedView>();
    const results: ApplyResult[] = [];
    let previousIndex: number | undefined;
    for (const entry of entries) {
      assert(
        previousIndex === undefined ? entry.index <= appliedBefore + 1 : entry.index === previousIndex + 1,
        () => `entries must follow the applied index ${appliedBefore} without gaps, got index ${entry.index}`,
      );
      previousIndex = entry.index;
      if (entry.index <= appliedBefore) {
        results.push(null);
        continue;
      }
      const result = this.applyEntry(entry, stepWrites, views);
      results.push(result instanceof Promise ? await result : result);
    }
    if (previousIndex !== undefined && previousIndex > appliedBefore) {
      await this.store.writeBatch(stepWrites.ops(), previousIndex);
    }
    return results;
  }

  /** A command's result; a promise only when its service's apply returned one. */
  private applyEntry(
    entry: Entry,
    stepWrites: WriteOverlay,
    views: Map<Service, NamespacedView>,
  ): ApplyResult | Promise<ApplyResult> {
    if (entry.type !== 'normal') return null;
    stepWrites.begin();
    try {
      const command = this.decoded.get(entry.data) ?? decodeCommand(entry.data);
      this.decoded.delete(entry.data);
      const service = this.serviceFor(command);
      service.validate(command);
      let state = views.get(service);
      if (state === undefined) {
        state = new NamespacedView(stepWrites, service.namespace);
        views.set(service, state);
      }
      const value = service.apply(command, { index: entry.index, stampMs: entry.stampMs, state });
      if (value instanceof Promise) {
        return value.then(
          (resolved) => committed(stepWrites, resolved),
          (error) => rejected(stepWrites, error),
        );
      }
      return committed(stepWrites, value);
    } catch (error) {
      return rejected(stepWrites, error);
    }
  }

  private serviceFor(command: Command): Service {
    const service = this.serviceByKind.get(command.kind);
    if (service === undefined) throw new RaftkvError('BAD_REQUEST', `no service applies ${command.kind}`);
    return service;
  }
}

function committed(stepWrites: WriteOverlay, value: unknown): ApplyResult {
  stepWrites.commit();
  return { ok: true, value };
}

/**
 * A rejected command leaves nothing behind. Its rejection is deterministic and recorded as its
 * result; anything but a RaftkvError is a bug or a disk fault, and stops the node.
 */
function rejected(stepWrites: WriteOverlay, error: unknown): ApplyResult {
  stepWrites.rollback();
  if (!(error instanceof RaftkvError)) throw error;
  return { ok: false, error: { code: error.code, message: error.message, details: error.details } };
}
