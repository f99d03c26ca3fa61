// Runs graphql-http's GraphQL-over-HTTP server audit against a running server.
// Usage: node audit_server.mjs <url>. Prints {counts, problems} as JSON; exits 0 whatever the result.
import { auditServer } from 'graphql-http';

const url = process.argv[2];
const results = await auditServer({ url });
const counts = { ok: 0, notice: 0, warn: 0, error: 0 };
const problems = [];
for (const result of results) {
  counts[result.status] += 1;
  if (result.status !== 'ok') {
    problems.push({ id: result.id, name: result.name, status: result.status, reason: result.reason });
  }
}
console.log(JSON.stringify({ total: results.length, counts, problems }));
