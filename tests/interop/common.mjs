// Shared helpers of the interop scripts: read subgraph SDLs, announce readiness on stdout.

export function argValue(name) {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0 || i + 1 >= process.argv.length) throw new Error(`missing --${name}`);
  return process.argv[i + 1];
}

// `--subgraph name=url` may repeat; returns [{name, url}].
export function subgraphArgs() {
  const found = [];
  process.argv.forEach((arg, i) => {
    if (arg !== "--subgraph") return;
    const [name, url] = process.argv[i + 1].split(/=(.*)/s);
    found.push({ name, url });
  });
  if (found.length === 0) throw new Error("no --subgraph name=url given");
  return found;
}

// Fetch each subgraph's SDL through the federation `_service { sdl }` field.
export async function fetchSdls(subgraphs) {
  return Promise.all(
    subgraphs.map(async ({ name, url }) => {
      const res = await fetch(url, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ query: "{ _service { sdl } }" }),
      });
      const body = await res.json();
      if (!body.data?._service?.sdl) throw new Error(`${name}: no SDL: ${JSON.stringify(body)}`);
      return { name, url, sdl: body.data._service.sdl };
    }),
  );
}

// One JSON line on stdout tells the Python test what happened.
export function announce(payload) {
  process.stdout.write(`${JSON.stringify(payload)}\n`);
}

export function failComposition(errors) {
  announce({ ready: false, errors });
  process.exit(1);
}

export function stopOnSignals(close) {
  for (const signal of ["SIGTERM", "SIGINT"]) {
    process.on(signal, async () => {
      await close();
      process.exit(0);
    });
  }
}
