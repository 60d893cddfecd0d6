// Starts @vercel/cosmosdb-server over plain HTTP with keep-alive on loopback (the CLI closes
// every connection, which costs a TCP handshake per request). Port 0 lets the OS pick a free
// port; the chosen one is printed as `READY <port>` for devhost/cosmos_local.py.
"use strict";
const { createHttpServer } = require("@vercel/cosmosdb-server");

const host = process.argv[2] || "127.0.0.1";
const port = Number(process.argv[3] || 0);
const server = createHttpServer({ keepAlive: true });
server.keepAliveTimeout = 60_000;
server.listen(port, host, () => {
  process.stdout.write(`READY ${server.address().port}\n`);
});
const stop = () => server.close(() => process.exit(0));
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
// The parent closes our stdin when it goes away: never outlive the test session.
process.stdin.on("end", () => process.exit(0));
process.stdin.resume();
