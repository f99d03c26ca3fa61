// Subscribes with the npm graphql-ws client (as GraphiQL, Apollo and urql do) over `ws`.
// Usage: node graphql_ws_subscribe.mjs <ws-url> <query> <variables-json>
// Prints {results, error} as JSON when the subscription completes or fails; exits 1 on failure.
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';

const [url, query, variables] = process.argv.slice(2);
const client = createClient({ url, webSocketImpl: WebSocket, retryAttempts: 0, lazy: true });
const results = [];
const finish = async (error) => {
  await client.dispose();
  console.log(JSON.stringify({ results, error: error === undefined ? null : describe(error) }));
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
