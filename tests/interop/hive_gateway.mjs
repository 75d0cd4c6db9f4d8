// Gateway 2: compose with @theguild/federation-composition, serve with Hive Gateway's runtime on node:http.
// Usage: node hive_gateway.mjs --subgraph name=url [--subgraph name=url ...]

import { createServer } from "node:http";

import { createGatewayRuntime } from "@graphql-hive/gateway-runtime";
import { composeServices, compositionHasErrors } from "@theguild/federation-composition";
import { parse } from "graphql";

import { announce, failComposition, fetchSdls, stopOnSignals, subgraphArgs } from "./common.mjs";

const subgraphs = await fetchSdls(subgraphArgs());
const composed = composeServices(subgraphs.map(({ name, url, sdl }) => ({ name, url, typeDefs: parse(sdl) })));
if (compositionHasErrors(composed)) {
  failComposition(composed.errors.map((e) => ({ code: e.extensions?.code, message: e.message })));
}

const gateway = createGatewayRuntime({ supergraph: composed.supergraphSdl, logging: "error" });
const server = createServer(gateway);
await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
stopOnSignals(async () => {
  server.close();
  await gateway.dispose();
});
// The Guild's composition reports errors only; it has no hints.
announce({ ready: true, url: `http://127.0.0.1:${server.address().port}/graphql`, hints: [] });
