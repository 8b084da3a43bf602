// Runs graphql-http's GraphQL-over-HTTP server audits against the URL given as the first
// argument and prints one JSON array of {id, name, status, reason} on stdout.
import { serverAudits } from "graphql-http";

const url = process.argv[2];
if (!url) {
  console.error("usage: node audit_server.mjs <graphql url>");
  process.exit(2);
}

const results = [];
for (const audit of serverAudits({ url })) {
  const result = await audit.fn();
  results.push({
    id: result.id,
    name: result.name,
    status: result.status,
    reason: result.status === "ok" ? null : result.reason,
  });
}
console.log(JSON.stringify(results));
