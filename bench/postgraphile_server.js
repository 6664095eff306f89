// PostGraphile v4 over the bench schema, for `python -m bench compare` (bench/compare.py starts it).
//
//     node bench/postgraphile_server.js DATABASE_URL SCHEMA PORT [JWT_SECRET]
//
// With JWT_SECRET (the contender postgraphile-signed): signed in as PostGraphile's documented way
// is, a JSON Web Token (HS256, audience "postgraphile") in the Authorization header, verified in
// process; its claims become transaction-local settings (jwt.claims.*), so every request runs in
// BEGIN; SELECT set_config(...); the query; COMMIT.
//
// Run with NODE_PATH pointing at the packages installed at run time (var/bench/node/node_modules:
// postgraphile@4, postgraphile-plugin-connection-filter@2 and @graphile/pg-aggregates@0.1, never
// committed). Production-style options: no GraphiQL, no query log, no schema watching; the
// connection-filter plugin with filters on set-returning functions (the subtree member list is
// one); pg-aggregates for groupedAggregates (W3, W4). Listens on 127.0.0.1 only.
"use strict";
const http = require("http");
const { postgraphile } = require("postgraphile");
const ConnectionFilterPlugin = require("postgraphile-plugin-connection-filter");
const PgAggregatesPlugin = require("@graphile/pg-aggregates").default;

const [, , databaseUrl, schema, port, jwtSecret] = process.argv;
if (!databaseUrl || !schema || !port) {
  console.error("usage: node postgraphile_server.js DATABASE_URL SCHEMA PORT");
  process.exit(2);
}

const middleware = postgraphile(databaseUrl, schema, {
  appendPlugins: [ConnectionFilterPlugin, PgAggregatesPlugin],
  graphileBuildOptions: { connectionFilterSetofFunctions: true },
  disableDefaultMutations: true,
  setofFunctionsContainNulls: false,
  graphiql: false,
  watchPg: false,
  disableQueryLog: true,
  retryOnInitFail: false,
  extendedErrors: ["hint", "detail", "errcode"],
  ...(jwtSecret ? { jwtSecret } : {}),
});

http.createServer(middleware).listen(Number(port), "127.0.0.1", () => {
  console.log(`postgraphile listening on 127.0.0.1:${port} (schema ${schema})`);
});
