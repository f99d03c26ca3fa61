// The npm graphql-ws client (as GraphiQL, Apollo and urql use it) with connectionParams.
// Usage: node graphql_ws_auth.mjs <ws-url> <query> <variables-json> <connection-params-json> <retry-attempts>
// Prints {results, error, connects, closeCodes} as JSON when the operation completes or fails
// (retries wait 10 ms); exits 1 on failure.
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';

const [url, query, variables, connectionParams, retryAttempts] = process.argv.slice(2);
const events = { connects: 0, closeCodes: [] };
const client = createClient({
  url,
  webSocketImpl: WebSocket,
  lazy: true,
  connectionParams: JSON.parse(connectionParams),
  retryAttempts: Number(retryAttempts),
  retryWait: () => new Promise((resolve) => setTimeout(resolve, 10)),
  on: {
    connecting: () => { events.connects += 1; },
    closed: (event) => { events.closeCodes.push(event.code); },
  },
});
const results = [];
const finish = async (error) => {
  await client.dispose();
  console.log(JSON.stringify({ results, error: error === undefined ? null : describe(error), ...events }));
  process.exit(error === undefined ? 0 : 1);
};
const describe = (error) =>
  error instanceof Error ? error.message
    : error && typeof error === 'object' && 'code' in error ? `close ${error.code}: ${error.reason}`
      : error;

setTimeout(() => finish('timed out'), 15000).unref();
client.subscribe(
  { query, variables: JSON.parse(variables) },
  { next: (result) => results.push(result), error: finish, complete: () => finish() },
);
