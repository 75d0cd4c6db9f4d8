// GraphiQL in Debian's chromium, network blocked except the service: renders, lists our tabs, runs the default tab.
// Usage: node graphiql_browser.mjs --url http://127.0.0.1:PORT --profile DIR --screenshot FILE [--chromium PATH]
// Prints one JSON line: what rendered, what ran, and every request the page attempted.
import { chromium } from "playwright-core";
import { parseArgs } from "node:util";

const { values: args } = parseArgs({
  options: {
    url: { type: "string" },
    profile: { type: "string" },
    screenshot: { type: "string" },
    chromium: { type: "string", default: "/usr/bin/chromium" },
  },
});
const origin = new URL(args.url).origin;
const FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync"];

const context = await chromium.launchPersistentContext(args.profile, {
  executablePath: args.chromium, headless: true, args: FLAGS, viewport: { width: 1400, height: 900 },
});
const attempted = [], blocked = [], consoleErrors = [];
await context.route("**/*", (route) => {
  const url = route.request().url();
  attempted.push(url);
  if (new URL(url).origin === origin) return route.continue();
  blocked.push(url);
  return route.abort("blockedbyclient");
});
context.on("request", (request) => {
  if (!request.url().startsWith(origin) && !blocked.includes(request.url())) blocked.push(request.url());
});

const report = {};
try {
  const page = context.pages()[0] ?? (await context.newPage());
  page.on("console", (msg) => msg.type() === "error" && consoleErrors.push(msg.text()));
  page.on("pageerror", (error) => consoleErrors.push(String(error)));
  await page.goto(`${args.url}/graphql`, { waitUntil: "load" });
  await page.waitForSelector(".graphiql-query-editor .CodeMirror", { timeout: 30000 });
  report.tabs = await page.locator(".graphiql-tab").allInnerTexts();
  report.query = await editorValue(page, ".graphiql-query-editor");
  // The schema is loaded (the docs button is live) before Run, so the run is a plain execution.
  await page.locator(".graphiql-execute-button").click();
  await page.waitForFunction(() => {
    const cm = document.querySelector(".result-window .CodeMirror");
    return cm && cm.CodeMirror.getValue().includes("\"data\"");
  }, null, { timeout: 30000 });
  report.response = JSON.parse(await editorValue(page, ".result-window"));
  await page.screenshot({ path: args.screenshot });
  report.docs = await docsExplorer(page);
} catch (error) {
  report.error = String(error);
} finally {
  await context.close();
}
report.attempted = attempted;
report.blocked = blocked;
report.consoleErrors = consoleErrors;
console.log(JSON.stringify(report));

async function editorValue(page, container) {
  return page.evaluate((sel) => document.querySelector(`${sel} .CodeMirror`).CodeMirror.getValue(), container);
}

async function docsExplorer(page) {
  // Open the documentation explorer: the types listed, then the query root type's fields, in the order shown.
  await page.locator('.graphiql-sidebar button[aria-label="Show Documentation Explorer"]').click();
  const names = page.locator(".graphiql-doc-explorer-content a.graphiql-doc-explorer-type-name");
  await names.first().waitFor();
  const types = await names.allInnerTexts();
  await names.filter({ hasText: /^Query$/ }).first().click();
  await page.waitForSelector(".graphiql-doc-explorer-field-name");
  return { types, rootFields: await page.locator(".graphiql-doc-explorer-field-name").allInnerTexts() };
}
