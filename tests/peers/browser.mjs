// Headless Chromium (Debian's /usr/bin/chromium, driven by playwright-core) opens the example's
// page, which talks to the server with the browser's own WebSocket.
//
// Usage: node browser.mjs PORT. Clicks `events`, `echo`, `sum`, the chat `message` and `leave`
// buttons and prints {"received": window.received, "chat_protocol": ..., "log": [...]} (run by
// tests/peers.rs, which asserts it). Every wait is bounded.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";

const STEP = 10000; // ms for any one wait
const port = Number(process.argv[2]);
const watchdog = setTimeout(() => {
  console.error("browser.mjs: gave up after 60 s");
  process.exit(2);
}, 60000);

const profile = mkdtempSync(join(tmpdir(), "wsgate-chromium-"));
const context = await chromium.launchPersistentContext(profile, {
  executablePath: "/usr/bin/chromium",
  headless: true,
  timeout: STEP,
  args: [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
  ],
});
try {
  const page = context.pages()[0] ?? (await context.newPage());
  page.setDefaultTimeout(STEP);
  await page.goto(`http://127.0.0.1:${port}/`);
  // `events` and `chat` are the page's two sockets (global `const`s of its script).
  await page.waitForFunction(() => events.readyState === 1 && chat.readyState === 1);

  await page.click("#events");
  await page.waitForFunction(
    () => window.received.filter((r) => r.message.event === "events").length === 3,
  );
  await page.click("#echo");
  await page.waitForFunction(() => window.received.some((r) => r.message.event === "echo"));
  await page.click("#sum");
  await page.waitForFunction(() => window.received.some((r) => r.message.event === "sum"));
  await page.fill("#sum-numbers", "x");
  await page.click("#sum");
  await page.waitForFunction(() => window.received.some((r) => r.message.event === "exception"));
  await page.click("#chat");
  await page.waitForFunction(() => window.received.some((r) => r.path === "/chat"));
  await page.click("#leave");
  await page.waitForFunction(() => chat.readyState === 3);

  const result = await page.evaluate(() => ({
    received: window.received,
    chat_protocol: chat.protocol,
    // The two sockets open in either order: sorted.
    log: [...document.querySelectorAll("#log .sys")].map((line) => line.textContent).sort(),
  }));
  console.log(JSON.stringify(result));
} finally {
  await context.close();
  rmSync(profile, { recursive: true, force: true });
  clearTimeout(watchdog);
}
