// Liveness after the faults heal: within a bounded virtual time a leader exists, a final write
// commits through it, and every node applies everything committed up to then.
import type { ClientOp } from './clients.js';
import type { World } from './world.js';

/** How often the probe looks at the cluster while it recovers. */
const probeEveryMs = 20;

export class RecoveryProbe {
  recoveredAtMs: number | null = null;
  private finalWrite: ClientOp | null = null;
  /** The highest commit index anywhere when the final write succeeded: every node must apply it. */
  private catchUpIndex: number | null = null;

  constructor(private readonly world: World) {}

  start(): void {
    this.world.schedule(
      probeEveryMs,
      () => 'liveness probe',
      () => this.probe(),
      true,
    );
  }

  /** Where recovery stands, for a liveness violation's message. */
  describe(): string {
    const leader = this.world.leader();
    const applied = this.world.nodes.map((node) => `n${node.id}=${node.appliedIndex}`).join(' ');
    const write = this.finalWrite === null ? 'none' : (this.finalWrite.outcome ?? 'pending');
    return `leader ${leader === undefined ? 'none' : `n${leader.id}`}, final write ${write}, catch-up index ${this.catchUpIndex ?? 'unknown'}, applied ${applied}`;
  }

  private probe(): void {
    if (this.catchUpIndex !== null) {
      if (this.world.nodes.every((node) => node.appliedIndex >= this.catchUpIndex!)) {
        this.recoveredAtMs = this.world.nowMs();
        this.world.note(() => 'liveness: recovered');
        return;
      }
    } else if (
      this.finalWrite === null ||
      this.finalWrite.outcome === 'fail' ||
      this.finalWrite.outcome === 'info'
    ) {
      this.tryFinalWrite();
    }
    this.start();
  }

  private tryFinalWrite(): void {
    const leader = this.world.leader();
    if (leader === undefined) return;
    const clients = this.world.clients;
    this.finalWrite = clients.write(clients.newProcess(), leader, clients.profile.keys[0]!, (op) => {
      if (op.outcome !== 'ok') return;
      this.catchUpIndex = Math.max(...this.world.nodes.map((node) => node.raft?.status().commitIndex ?? 0));
    });
  }
}
