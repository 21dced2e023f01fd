// One way to start headless Chromium for browser tests (Debian's chromium, or CHROMIUM_PATH).
// A missing browser fails the test with the command that installs it; it is never skipped.
import { existsSync } from 'node:fs';
import { type Browser, chromium } from 'playwright-core';

export const chromiumPath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

export function launchChromium(): Promise<Browser> {
  if (!existsSync(chromiumPath)) {
    throw new Error(
      `no Chromium at ${chromiumPath}: install it with "sudo apt-get update && sudo apt-get install -y chromium", or name a browser with CHROMIUM_PATH`,
    );
  }
  // Without the background-networking flags Chromium keeps dialling Google on a closed network.
  return chromium.launch({
    executablePath: chromiumPath,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
  });
}
