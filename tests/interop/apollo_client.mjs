// @apollo/client 4 against the service: APQ over POST and GET, a safelisted partner by manifest id,
// and callers that must be refused. Prints one JSON line: what each client sent and got.
import { ApolloClient, ApolloLink, HttpLink, InMemoryCache, gql } from "@apollo/client";
import { createPersistedQueryLink } from "@apollo/client/link/persisted-queries";
import { createHash } from "node:crypto";
import { argValue } from "./common.mjs";

const url = argValue("url");
const keys = JSON.parse(argValue("keys")); // {dashboard, partner, reader, kombo}
const manifest = JSON.parse(argValue("manifest")); // {operationName: id}
const foreignOrder = argValue("foreign-order");
const missingOrder = argValue("missing-order");
const expiredJwt = argValue("expired-jwt");

const sha256 = (text) => createHash("sha256").update(text).digest("hex");

// A fetch that records what went over the wire (and the HTTP status of the last answer).
let lastStatus = null;
function recordingFetch(sent) {
  return async (input, init) => {
    const target = new URL(typeof input === "string" ? input : input.url);
    const body = init.body ? JSON.parse(init.body) : null;
    const extensions = body?.extensions ?? JSON.parse(target.searchParams.get("extensions") || "null");
    sent.push({
      method: init.method || "GET",
      query: Boolean(body?.query ?? target.searchParams.get("query")),
      hash: extensions?.persistedQuery?.sha256Hash ?? null,
    });
    const response = await fetch(input, init);
    lastStatus = response.status;
    return response;
  };
}

function client({ headers = {}, persisted = null, sent = [] }) {
  const http = new HttpLink({ uri: url, headers, fetch: recordingFetch(sent) });
  const link = persisted ? ApolloLink.from([createPersistedQueryLink(persisted), http]) : http;
  return new ApolloClient({ link, cache: new InMemoryCache() });
}

async function outcome(promise) {
  try {
    const result = await promise;
    return { data: result.data ?? null, error: result.error ? describe(result.error) : null };
  } catch (error) {
    return { data: null, error: describe(error) };
  }
}

function describe(error) {
  const body = error.bodyText ? JSON.parse(error.bodyText) : error.result ?? { errors: error.errors };
  const errors = error.errors ?? body?.errors ?? [];
  return { name: error.name, status: error.statusCode ?? lastStatus, codes: errors.map((e) => e.extensions?.code), body };
}

const COUNT = gql`query CountOrders { assessmentOrders(first: 5) { totalCount } }`;
const FIRST_IDS = gql`query FirstIds { assessmentOrders(first: 2) { edges { node { id } } } }`;
const PARTNER_LIST = gql`query PartnerOrders { assessmentOrders(first: 3) { totalCount edges { node { id status } } } }`;
const NOT_LISTED = gql`query NotListed { assessmentOrders(first: 1) { totalCount } }`;
const ONE = gql`query One($id: ID!) { assessmentOrder(id: $id) { id status } }`;
const WRITE = gql`mutation Write($input: UpdateAssessmentResultInput!) { updateAssessmentResult(input: $input) { order { id } } }`;

const report = {};
const dashboard = { "x-api-key": keys.dashboard };

// APQ over POST: the first call registers (hash, then hash + text); the next sends the hash only.
{
  const sent = [];
  const apollo = client({ headers: dashboard, persisted: { sha256 }, sent });
  const first = await outcome(apollo.query({ query: COUNT, fetchPolicy: "network-only" }));
  const second = await outcome(apollo.query({ query: COUNT, fetchPolicy: "network-only" }));
  report.apqPost = { sent, first, second };
}
// APQ over GET (useGETForHashedQueries): the registration falls back to POST, later calls are GETs.
{
  const sent = [];
  const apollo = client({ headers: dashboard, persisted: { sha256, useGETForHashedQueries: true }, sent });
  const first = await outcome(apollo.query({ query: FIRST_IDS, fetchPolicy: "network-only" }));
  const second = await outcome(apollo.query({ query: FIRST_IDS, fetchPolicy: "network-only" }));
  report.apqGet = { sent, first, second };
}
// A safelisted partner: its manifest operations go by id; anything else is refused.
{
  const partner = { "x-api-key": keys.partner };
  const byId = (document) => manifest[document.definitions.find((d) => d.kind === "OperationDefinition").name.value] ?? sha256("unlisted");
  const sent = [];
  const listed = client({ headers: partner, persisted: { generateHash: async (doc) => byId(doc) }, sent });
  report.partner = {
    listed: await outcome(listed.query({ query: PARTNER_LIST, fetchPolicy: "no-cache" })),
    unlistedById: await outcome(listed.query({ query: NOT_LISTED, fetchPolicy: "no-cache" })),
    unlistedText: await outcome(client({ headers: partner }).query({ query: NOT_LISTED, fetchPolicy: "no-cache" })),
    sent,
  };
}
// Callers that must be refused, and what they learn.
report.wrongKey = await outcome(client({ headers: { "x-api-key": "wrong-key" } }).query({ query: COUNT }));
report.expiredJwt = await outcome(client({ headers: { authorization: `Bearer ${expiredJwt}` } }).query({ query: COUNT }));
report.missingScope = await outcome(
  client({ headers: { "x-api-key": keys.reader } }).mutate({ mutation: WRITE, variables: { input: { orderId: foreignOrder, status: "COMPLETED" } } }),
);
const kombo = client({ headers: { "x-api-key": keys.kombo } });
report.foreignOrder = await outcome(kombo.query({ query: ONE, variables: { id: foreignOrder }, fetchPolicy: "no-cache" }));
report.missingOrder = await outcome(kombo.query({ query: ONE, variables: { id: missingOrder }, fetchPolicy: "no-cache" }));
report.foreignWrite = await outcome(kombo.mutate({ mutation: WRITE, variables: { input: { orderId: foreignOrder, status: "COMPLETED" } } }));
report.missingWrite = await outcome(kombo.mutate({ mutation: WRITE, variables: { input: { orderId: missingOrder, status: "COMPLETED" } } }));

process.stdout.write(`${JSON.stringify(report)}\n`);
