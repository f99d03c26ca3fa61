// Apollo Client 3 with its persisted-queries link (automatic persisted queries), as an app sets it up.
// Usage: node apollo_persisted_queries.mjs <http-url> <query> <variables-json> <use-get: true|false> <headers-json>
// Runs the query twice (no cache) and prints {results, requests, error} as JSON: each request's
// method, whether it carried the query text and the hash, and the answer's status and error codes.
import { createHash } from 'node:crypto';
import { ApolloClient, HttpLink, InMemoryCache, gql } from '@apollo/client/core/index.js';
import { createPersistedQueryLink } from '@apollo/client/link/persisted-queries/index.js';

const [uri, query, variables, useGet, headers] = process.argv.slice(2);
const requests = [];

const recordingFetch = async (url, options) => {
  const method = options.method ?? 'GET';
  const sent = method === 'GET' ? Object.fromEntries(new URL(url).searchParams) : JSON.parse(options.body);
  const extensions = typeof sent.extensions === 'string' ? JSON.parse(sent.extensions) : sent.extensions;
  const response = await fetch(url, options);
  const body = await response.clone().json().catch(() => null);
  requests.push({
    method,
    withQuery: typeof sent.query === 'string',
    withHash: Boolean(extensions?.persistedQuery?.sha256Hash),
    status: response.status,
    codes: (body?.errors ?? []).map((error) => error.extensions?.code),
  });
  return response;
};

const sha256 = (text) => createHash('sha256').update(text).digest('hex');
const link = createPersistedQueryLink({ sha256, useGETForHashedQueries: useGet === 'true' }).concat(
  new HttpLink({ uri, fetch: recordingFetch, headers: JSON.parse(headers) }),
);
const client = new ApolloClient({ link, cache: new InMemoryCache() });

const results = [];
try {
  for (let run = 0; run < 2; run += 1) {
    const result = await client.query({ query: gql(query), variables: JSON.parse(variables), fetchPolicy: 'no-cache' });
    results.push(result.data);
  }
  console.log(JSON.stringify({ results, requests, error: null }));
} catch (error) {
  console.log(JSON.stringify({ results, requests, error: String(error) }));
  process.exit(1);
}
