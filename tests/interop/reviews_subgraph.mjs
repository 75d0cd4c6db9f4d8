// A second federation subgraph for the interop test: reviews that reference AssessmentOrder by key.
// Usage: node reviews_subgraph.mjs --orders '["<order id>", ...]' (one review per order; listens on a free port).

import { ApolloServer } from "@apollo/server";
import { ApolloServerPluginInlineTraceDisabled } from "@apollo/server/plugin/disabled";
import { startStandaloneServer } from "@apollo/server/standalone";
import { buildSubgraphSchema } from "@apollo/subgraph";
import { parse } from "graphql";

import { announce, argValue, stopOnSignals } from "./common.mjs";

const typeDefs = parse(`
  extend schema @link(url: "https://specs.apollo.dev/federation/v2.5", import: ["@key"])

  type Review {
    id: ID!
    note: String!
    order: AssessmentOrder!
  }

  type AssessmentOrder @key(fields: "id") {
    id: ID!
    reviews: [Review!]!
  }

  type Query {
    reviews: [Review!]!
  }
`);

const orderIds = JSON.parse(argValue("orders"));
const reviews = orderIds.map((orderId, i) => ({ id: `review-${i + 1}`, note: `note ${i + 1}`, orderId }));

const resolvers = {
  Query: { reviews: () => reviews },
  Review: { order: (review) => ({ id: review.orderId }) },
  AssessmentOrder: {
    __resolveReference: (ref) => ({ id: ref.id }),
    reviews: (order) => reviews.filter((review) => review.orderId === order.id),
  },
};

const server = new ApolloServer({
  schema: buildSubgraphSchema({ typeDefs, resolvers }),
  plugins: [ApolloServerPluginInlineTraceDisabled()],
});
const { url } = await startStandaloneServer(server, { listen: { host: "127.0.0.1", port: 0 } });
stopOnSignals(() => server.stop());
announce({ ready: true, url });
