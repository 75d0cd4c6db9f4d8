// Gateway 1: compose with @apollo/composition, serve with @apollo/gateway behind @apollo/server.
// Usage: node apollo_gateway.mjs --subgraph name=url [--subgraph name=url ...]

import { composeServices } from "@apollo/composition";
import { ApolloGateway } from "@apollo/gateway";
import { ApolloServer } from "@apollo/server";
import { startStandaloneServer } from "@apollo/server/standalone";
import { Kind, parse, visit } from "graphql";

import { announce, failComposition, fetchSdls, stopOnSignals, subgraphArgs } from "./common.mjs";

const subgraphs = await fetchSdls(subgraphArgs());
const composed = composeServices(
  subgraphs.map(({ name, url, sdl }) => ({ name, url, typeDefs: parse(sdl) })),
);
if (composed.errors) failComposition(composed.errors.map((e) => ({ code: e.extensions?.code, message: e.message })));

const hints = composed.hints.map((h) => ({ code: h.definition.code, level: h.definition.level.name, message: h.message }));

// @apollo/gateway refuses to serve supergraphs with `for: SECURITY` features (@authenticated,
// @requiresScopes: Apollo Router enforces them). The full SDL composed above; serve one without them.
const SECURITY = new Set(["authenticated", "requiresScopes"]);
const withoutSecurity = (document) =>
  visit(document, {
    Directive: (node) => (SECURITY.has(node.name.value) ? null : undefined),
    ListValue: {
      leave: (node) => ({
        ...node,
        values: node.values.filter((v) => !(v.kind === Kind.STRING && SECURITY.has(v.value.replace(/^@/, "")))),
      }),
    },
  });
const served = composeServices(
  subgraphs.map(({ name, url, sdl }) => ({ name, url, typeDefs: withoutSecurity(parse(sdl)) })),
);
if (served.errors) failComposition(served.errors.map((e) => ({ code: e.extensions?.code, message: e.message })));
const gateway = new ApolloGateway({ supergraphSdl: served.supergraphSdl });
const server = new ApolloServer({ gateway });
const { url } = await startStandaloneServer(server, { listen: { host: "127.0.0.1", port: 0 } });
stopOnSignals(() => server.stop());
announce({ ready: true, url, hints });
