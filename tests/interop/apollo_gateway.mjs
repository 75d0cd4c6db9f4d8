// Gateway 1: compose with @apollo/composition, serve with @apollo/gateway behind @apollo/server.
// Usage: node apollo_gateway.mjs --subgraph name=url [--subgraph name=url ...]

import { composeServices } from "@apollo/composition";
import { ApolloGateway } from "@apollo/gateway";
import { ApolloServer } from "@apollo/server";
import { startStandaloneServer } from "@apollo/server/standalone";
import { parse } from "graphql";

import { announce, failComposition, fetchSdls, stopOnSignals, subgraphArgs } from "./common.mjs";

const subgraphs = await fetchSdls(subgraphArgs());
const composed = composeServices(
  subgraphs.map(({ name, url, sdl }) => ({ name, url, typeDefs: parse(sdl) })),
);
if (composed.errors) failComposition(composed.errors.map((e) => ({ code: e.extensions?.code, message: e.message })));

const hints = composed.hints.map((h) => ({ code: h.definition.code, level: h.definition.level.name, message: h.message }));

// The subgraph SDL is served as committed (no @authenticated / @requiresScopes by default, which
// @apollo/gateway would refuse as unsupported SECURITY features), so the supergraph is served as composed.
const gateway = new ApolloGateway({ supergraphSdl: composed.supergraphSdl });
const server = new ApolloServer({ gateway });
const { url } = await startStandaloneServer(server, { listen: { host: "127.0.0.1", port: 0 } });
stopOnSignals(() => server.stop());
announce({ ready: true, url, hints });
