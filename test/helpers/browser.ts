import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';

/** Debian's Chromium (`.ci/run` installs it); playwright-core drives it, downloading nothing. */
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/** Where screenshots go: CI keeps `.ci/out` for a reviewer to look at. */
export const SCREENSHOTS = fileURLToPath(new URL('../../.ci/out/screenshots/', import.meta.url));

/**
 * Real headless Chromium. The machine has no internet: the flags keep Chromium from reaching
 * for Google (updates, sync, QUIC probes, first-run pages), which would only slow it down.
 */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

/**
 * Collects what would otherwise go unseen in a page: uncaught errors, console errors, and
 * Content-Security-Policy violations (Chromium reports them as console errors). A test
 * expects the list to stay empty. `expected`: console errors a test causes on purpose (the
 * network log line of a request refused with 401, say).
 */
export function pageProblems(page: Page, expected: RegExp[] = []): string[] {
  const problems: string[] = [];
  page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
  page.on('console', (message) => {
    if (message.type() === 'error' && !expected.some((re) => re.test(message.text()))) problems.push(`console: ${message.text()}`);
  });
  return problems;
}

/** Saves a full-page screenshot as `.ci/out/screenshots/<name>.png`. */
export async function screenshot(page: Page, name: string) {
  mkdirSync(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: `${SCREENSHOTS}${name}.png`, fullPage: true });
}
