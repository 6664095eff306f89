// Runs the npm graphql-http package's server audits (GraphQL over HTTP spec conformance)
// against a running server and prints one JSON line per audit: {id, name, status, reason}.
// Usage: NODE_PATH=var/node/node_modules node tests/graphql_http_audit.js http://127.0.0.1:PORT/graphql
const { auditServer } = require('graphql-http');

(async () => {
  const results = await auditServer({ url: process.argv[2] });
  for (const r of results) {
    let body = null;
    if (r.status !== 'ok' && r.response) {
      try { body = (await r.response.text()).slice(0, 300); } catch (e) { body = null; }
    }
    console.log(JSON.stringify({ id: r.id, name: r.name, status: r.status, reason: r.reason || null,
      httpStatus: r.response ? r.response.status : null, body }));
  }
})().catch((e) => { console.error(e); process.exit(2); });
