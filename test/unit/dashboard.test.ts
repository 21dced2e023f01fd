// The dashboard's parts without a cluster: the failover clock, the health words, the supervisor
// driving stand-in processes, and the browser script as the launcher serves it.
import { type ChildProcess, spawn } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { chartSvg, dashboardScript } from '../../cluster/dashboard/browser-script.js';
import { healthOf } from '../../cluster/dashboard/dashboard-state.js';
import { EventLog, eventsKept } from '../../cluster/dashboard/event-log.js';
import { FailoverClock } from '../../cluster/dashboard/failover-clock.js';
import type { NodeStatusView } from '../../cluster/dashboard/status-poller.js';
import { NodeSupervisor } from '../../cluster/node-supervisor.js';
import { LinkMesh } from '../../jepsen-lite/real/link-proxy.js';

const at = (hh: number, mm: number, ss: number, ms: number) => new Date(2026, 0, 1, hh, mm, ss, ms).getTime();

describe('FailoverClock', () => {
  it('times a killed leader to the new leader and the first write sent after the kill', () => {
    const events = new EventLog();
    const clock = new FailoverClock(events, () => true);
    const killedAt = at(12, 1, 3, 120);
    clock.leaderFaulted('killed', { id: 3, term: 7 }, killedAt);
    clock.leaderSeen({ id: 3, term: 7 }, killedAt + 100); // the old leader, still in the poller's view
    clock.writeAcknowledged(killedAt - 5, killedAt + 300); // sent before the kill: proves nothing
    expect(clock.list()[0]!.state).toBe('waiting');
    clock.leaderSeen({ id: 5, term: 8 }, at(12, 1, 3, 640));
    clock.writeAcknowledged(killedAt + 500, killedAt + 612);
    clock.close();
    const [failover] = clock.list();
    expect(failover!.state).toBe('recovered');
    expect(failover!.summary).toBe(
      'leader 3 killed at 12:01:03.120, new leader 5 at 12:01:03.640, writes resumed after 612 ms',
    );
    expect(events.recent().at(-1)).toMatchObject({ kind: 'failover', text: failover!.summary });
  });

  it('is over at the new leader when the write load is off', () => {
    const clock = new FailoverClock(new EventLog(), () => false);
    clock.leaderFaulted('paused', { id: 1, term: 2 }, at(9, 0, 0, 0));
    clock.leaderSeen({ id: 2, term: 3 }, at(9, 0, 1, 5));
    clock.close();
    expect(clock.list()[0]).toMatchObject({ state: 'recovered', newLeaderId: 2 });
    expect(clock.list()[0]!.summary).toContain('write load off');
  });
});

describe('EventLog', () => {
  it('keeps a bounded number of events, numbered in order', () => {
    const log = new EventLog();
    for (let i = 0; i < eventsKept + 10; i++) log.add('fault', `event ${i}`);
    expect(log.recent()).toHaveLength(eventsKept);
    expect(log.recent()[0]!.seq).toBe(11);
  });
});

describe('healthOf', () => {
  const answering: NodeStatusView = {
    status: { role: 'follower', term: 2, leaderId: 1, commitIndex: 500, appliedIndex: 499 },
    answering: true,
    lastAnswerAtMs: 0,
    lastError: null,
  };
  const cases: [string, Parameters<typeof healthOf>, string][] = [
    ['process gone', ['exited', false, answering], 'down'],
    ['SIGSTOP', ['paused', false, answering], 'paused'],
    ['links cut', ['running', true, answering], 'isolated'],
    ['no answer', ['running', false, { ...answering, answering: false }], 'not answering'],
    [
      'no leader',
      ['running', false, { ...answering, status: { ...answering.status!, leaderId: null } }],
      'no leader known',
    ],
    [
      'far behind',
      ['running', false, { ...answering, status: { ...answering.status!, appliedIndex: 100 } }],
      'applying (400 behind)',
    ],
    ['all well', ['running', false, answering], 'ok'],
  ];
  it.each(cases)('%s', (_name, args, expected) => expect(healthOf(...args)).toBe(expected));
});

describe('NodeSupervisor', () => {
  let cleanup: (() => Promise<void>) | undefined;
  afterEach(async () => {
    await cleanup?.();
    cleanup = undefined;
  });

  it('kills, pauses, resumes, restarts and isolates (stand-in processes, real link proxies)', async () => {
    const members = [1, 2, 3].map((id) => ({ id, host: '127.0.0.1', clientPort: 1, peerPort: 1 }));
    const links = await LinkMesh.start(members);
    const events = new EventLog();
    const spawned: ChildProcess[] = [];
    const supervisor = new NodeSupervisor({
      members,
      links,
      events,
      spawnNode: () => {
        const child = spawn('sleep', ['60'], { stdio: 'ignore' });
        spawned.push(child);
        return child;
      },
      stopNode: async (child) => {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGTERM');
        await exited;
      },
    });
    cleanup = async () => {
      await supervisor.stopAll();
      await links.close();
    };
    for (const { id } of members) supervisor.start(id);
    expect(supervisor.views().map((view) => view.state)).toEqual(['running', 'running', 'running']);

    await supervisor.kill(1);
    expect(supervisor.views()[0]).toMatchObject({ state: 'exited', pid: null, exitedWith: 'SIGKILL' });
    supervisor.pause(2);
    expect(supervisor.state(2)).toBe('paused');
    supervisor.resume(2);
    expect(supervisor.state(2)).toBe('running');
    const firstPid = supervisor.views()[2]!.pid;
    await supervisor.restart(3);
    expect(supervisor.views()[2]!.pid).not.toBe(firstPid);
    expect(supervisor.state(3)).toBe('running');

    supervisor.isolate(2);
    const cut = links.links.filter((link) => links.proxy(link).mode.kind === 'cut');
    expect(cut.map(([from, to]) => `${from}->${to}`).sort()).toEqual(['1->2', '2->1', '2->3', '3->2']);
    supervisor.healAll();
    expect(links.links.every((link) => links.proxy(link).mode.kind === 'pass')).toBe(true);
    expect(supervisor.views().map((view) => [view.state, view.isolated])).toEqual([
      ['running', false],
      ['running', false],
      ['running', false],
    ]);
    expect(spawned).toHaveLength(5);
    expect(events.recent().map((event) => event.text)).toContain('node 1 exited (SIGKILL)');
  });
});

describe('the browser script', () => {
  it('is one valid script made of the typed functions', () => {
    const script = dashboardScript();
    expect(() => new Function(script)).not.toThrow();
    expect(script).toContain('function startDashboard(');
    expect(script).toContain('startDashboard();');
  });

  it('draws a failover as a gap of acknowledged writes, with the fault marked', () => {
    const buckets = [5, 5, 0, 0, 5].map((ok, i) => ({ startMs: i * 250, ok, errors: ok === 0 ? 2 : 0 }));
    const kill = { seq: 1, atMs: 500, kind: 'fault' as const, text: 'node 3: kill <SIGKILL>' };
    const svg = chartSvg(buckets, 250, [kill]);
    expect(svg.match(/class="ok"[^>]*height="0\.0"/g)).toHaveLength(2);
    expect(svg.match(/class="err"/g)).toHaveLength(2);
    expect(svg).toContain('<line class="fault" x1="288.0"');
    expect(svg).toContain('node 3: kill &#60;SIGKILL&#62;');
  });
});
