import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';

/** Where Debian's `chromium` package puts the browser (CHROMIUM_PATH overrides it). */
const CANDIDATES = [process.env.CHROMIUM_PATH, '/usr/bin/chromium', '/usr/bin/chromium-browser'];

/**
 * A headless Chromium: Debian's package, driven by playwright-core (which downloads no browser).
 * Missing, it fails the test that asked, saying how to install it; it never skips.
 */
export async function launchChromium(): Promise<Browser> {
  const executablePath = CANDIDATES.find((path) => path !== undefined && path !== '' && existsSync(path));
  if (executablePath === undefined) {
    throw new Error(
      "Chromium is not installed: this test opens a page in a real browser. Install Debian's package (`sudo apt-get install chromium`; .ci/run does it) or set CHROMIUM_PATH.",
    );
  }
  // --no-sandbox: CI runs as root, where Chromium's sandbox refuses to start.
  return chromium.launch({ executablePath, args: ['--no-sandbox'] });
}
