// A real subscriber: graphql-ws (graphql-transport-ws) or graphql-sse (distinct connections mode).
// Prints one JSON line per event ({"next": payload}), then {"complete": true} or {"error": ...} or
// {"closed": code}; exits after --count events (0: until the stream ends).
//   node live_client.mjs --transport ws|sse --url http://host:port/graphql --query Q
//        [--variables JSON] [--api-key K] [--count N]
import { createClient as createWsClient } from "graphql-ws";
import { createClient as createSseClient } from "graphql-sse";
import WebSocket from "ws";
import { announce, argValue } from "./common.mjs";

function optional(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i < 0 ? fallback : process.argv[i + 1];
}

const transport = argValue("transport");
const url = argValue("url");
const query = argValue("query");
const variables = JSON.parse(optional("variables", "{}"));
const apiKey = optional("api-key", null);
const count = Number(optional("count", "0"));

function wsClient() {
  return createWsClient({
    url: url.replace(/^http/, "ws"),
    webSocketImpl: WebSocket,
    connectionParams: apiKey ? { apiKey } : {},
    retryAttempts: 0,
    lazy: true,
    on: {
      closed: (event) => announce({ closed: event.code, reason: event.reason }),
    },
  });
}

function sseClient() {
  return createSseClient({
    url,
    headers: apiKey ? { "x-api-key": apiKey } : {},
    retryAttempts: 0,
  });
}

const client = transport === "ws" ? wsClient() : sseClient();
let seen = 0;
const done = new Promise((resolve) => {
  const unsubscribe = client.subscribe(
    { query, variables },
    {
      next: (payload) => {
        announce({ next: payload });
        seen += 1;
        if (count > 0 && seen >= count) {
          unsubscribe();
          resolve();
        }
      },
      error: (error) => {
        const described = Array.isArray(error)
          ? error
          : error instanceof Error
            ? { message: error.message }
            : { code: error?.code, reason: error?.reason, message: String(error) };
        announce({ error: described });
        resolve();
      },
      complete: () => {
        announce({ complete: true });
        resolve();
      },
    },
  );
});
await done;
if (transport === "ws") await client.dispose();
else client.dispose();
process.exit(0);
