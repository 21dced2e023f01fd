// The dashboard in headless Chromium: `raftkv cluster` from the built binary, the write load on,
// kill pressed on the leader's card, another node shown as leader and the failover timed. Then
// Ctrl-C (SIGINT) to the launcher, and no node process may be left behind.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePortBlock } from '../../jepsen-lite/real/ports.js';
import { waitFor } from '../../jepsen-lite/real/real-cluster.js';
import { launchChromium } from '../support/chromium.js';
import { cliPath } from '../support/cli.js';

const screenshotDir = fileURLToPath(new URL('../../test-results/', import.meta.url));
/** `raftkv cluster --base-port B` uses B (dashboard), B+1.. (clients) and B+101.. (peers). */
const clusterPortSpan = 106;
/** The launcher stops the nodes one by one, each with a graceful stop of up to 10 s. */
const launcherStopMsMax = 60_000;
/** Launcher output kept for the failure message. */
const launcherOutputCharsMax = 20_000;

interface DashboardNode {
  id: number;
  pid: number | null;
}

interface DashboardStateSeen {
  leader: { id: number; term: number } | null;
  nodes: DashboardNode[];
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

class LaunchedCluster {
  private output = '';
  private stopping: Promise<number[]> | undefined;
  /** Every node pid the dashboard ever reported, so the stop can check that each one is gone. */
  readonly nodePids = new Set<number>();

  private constructor(
    readonly launcher: ChildProcess,
    readonly dashboardUrl: string,
    readonly basePort: number,
  ) {
    for (const stream of [launcher.stdout, launcher.stderr]) {
      stream?.on('data', (chunk: Buffer) => {
        this.output = (this.output + chunk.toString()).slice(-launcherOutputCharsMax);
      });
    }
  }

  static async start(dataDir: string): Promise<LaunchedCluster> {
    const basePort = await freePortBlock(clusterPortSpan);
    const args = ['cluster', '--nodes', '5', '--base-port', String(basePort), '--data-dir', dataDir];
    const launcher = spawn(process.execPath, [cliPath, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    return new LaunchedCluster(launcher, `http://127.0.0.1:${basePort}`, basePort);
  }

  get log(): string {
    return this.output;
  }

  async state(): Promise<DashboardStateSeen> {
    const response = await fetch(`${this.dashboardUrl}/api/state`, { signal: AbortSignal.timeout(2_000) });
    const state = (await response.json()) as DashboardStateSeen;
    for (const node of state.nodes) if (node.pid !== null) this.nodePids.add(node.pid);
    return state;
  }

  /** SIGINT, as Ctrl-C would; returns the node pids still alive afterwards (after killing them). */
  stop(): Promise<number[]> {
    this.stopping ??= this.stopOnce();
    return this.stopping;
  }

  private async stopOnce(): Promise<number[]> {
    if (this.launcher.exitCode === null && this.launcher.signalCode === null) {
      const exited = new Promise((resolve) => this.launcher.once('exit', () => resolve(true)));
      this.launcher.kill('SIGINT');
      const timedOut = new Promise((resolve) => setTimeout(() => resolve(false), launcherStopMsMax));
      if (!(await Promise.race([exited, timedOut]))) this.launcher.kill('SIGKILL');
    }
    const leftOver = [...this.nodePids].filter(isAlive);
    // Each node leads its own process group: take the whole group down so no test leaks it.
    for (const pid of leftOver) process.kill(-pid, 'SIGKILL');
    return leftOver;
  }
}

describe('the cluster dashboard', () => {
  let dataDir: string;
  let cluster: LaunchedCluster | undefined;
  let browser: Browser | undefined;

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'raftkv-dashboard-'));
  });

  afterAll(async () => {
    await browser?.close();
    await cluster?.stop();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('shows a new leader after kill is pressed on the leader, and the launcher stops every node', async () => {
    browser = await launchChromium();
    cluster = await LaunchedCluster.start(dataDir);
    const running = cluster;
    const first = await waitFor(`a leader on the dashboard\n${running.log}`, 30_000, async () => {
      const state = await running.state();
      return state.leader && state.nodes.every((node) => node.pid !== null) ? state.leader : undefined;
    });

    const page = await browser.newPage({ viewport: { width: 1300, height: 1000 } });
    await page.goto(running.dashboardUrl);
    await page.locator('#load-toggle').click();
    await page
      .locator('#load-rates')
      .filter({ hasText: /[1-9]\d* writes\/s/ })
      .waitFor({ timeout: 15_000 });
    const leaderCard = page.locator('.card.leader');
    await leaderCard.waitFor({ timeout: 10_000 });
    const leaderId = Number(await leaderCard.getAttribute('data-node-id'));
    expect(leaderId).toBe(first.id);

    await page.locator(`[data-node-id="${leaderId}"] button[data-action="kill"]`).click();
    await page.locator(`[data-node-id="${leaderId}"][data-process="exited"]`).waitFor({ timeout: 10_000 });
    const newLeaderCard = page.locator(`.card.leader:not([data-node-id="${leaderId}"])`);
    await newLeaderCard.waitFor({ timeout: 20_000 });
    const timed = page.locator('#failovers li.recovered', { hasText: 'writes resumed after' });
    await timed.waitFor({ timeout: 20_000 });
    expect(await timed.first().textContent()).toMatch(
      new RegExp(
        `^leader ${leaderId} killed at [\\d:.]+, new leader \\d at [\\d:.]+, writes resumed after \\d+ ms`,
      ),
    );

    mkdirSync(screenshotDir, { recursive: true });
    const screenshot = join(screenshotDir, 'dashboard-failover.png');
    await page.screenshot({ path: screenshot, fullPage: true });
    expect(statSync(screenshot).size).toBeGreaterThan(0);

    // Any node still running serves its status page with a link back to the dashboard.
    const survivor = leaderId === 1 ? 2 : 1;
    const statusPage = await fetch(`http://127.0.0.1:${running.basePort + survivor}/`).then((r) => r.text());
    expect(statusPage).toContain(`href="${running.dashboardUrl}"`);

    await running.state();
    expect(running.nodePids.size).toBeGreaterThanOrEqual(5);
    expect(await running.stop(), 'node processes left after the launcher stopped').toEqual([]);
    expect(running.launcher.exitCode).toBe(0);
  });
});
