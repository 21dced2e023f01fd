import { describe, expect, it } from 'vitest';
import { NodeMetrics } from './metrics.js';

describe('NodeMetrics', () => {
  it("reports the transport's message counters at each scrape", async () => {
    const stats = { sent: 5, dropped: 1, received: 7, malformed: 0 };
    const metrics = new NodeMetrics(() => stats);
    const first = await metrics.registry.metrics();
    expect(first).toContain('raftkv_peer_messages_total{outcome="sent"} 5');
    expect(first).toContain('raftkv_peer_messages_total{outcome="received"} 7');
    stats.sent = 9;
    stats.malformed = 2;
    const second = await metrics.registry.metrics();
    expect(second).toContain('raftkv_peer_messages_total{outcome="sent"} 9');
    expect(second).toContain('raftkv_peer_messages_total{outcome="malformed"} 2');
    expect(second).toContain('raftkv_peer_messages_total{outcome="dropped"} 1');
  });
});
