// A small TCP round-robin for `make cluster`: each connection goes to the
// next backend that accepts it, so HTTP, GraphQL and WebSocket streams all
// pass through unchanged, and a dead backend is skipped.
//
//   node round-robin.js <listen host:port> <backend host:port>...
const net = require('net');

const [listen, ...backends] = process.argv.slice(2);
if (!listen || backends.length === 0) {
  console.error('usage: node round-robin.js <listen host:port> <backend host:port>...');
  process.exit(2);
}
const split = (hostPort) => {
  const i = hostPort.lastIndexOf(':');
  return { host: hostPort.slice(0, i), port: Number(hostPort.slice(i + 1)) };
};
let next = 0;

// Tries backends in turn from the next one; gives up when all refuse.
function forward(client, tried) {
  if (tried === backends.length) {
    client.destroy();
    return;
  }
  const backend = backends[next];
  next = (next + 1) % backends.length;
  const upstream = net.connect(split(backend));
  upstream.setTimeout(2000);
  const refused = () => {
    upstream.destroy();
    forward(client, tried + 1);
  };
  upstream.once('error', refused);
  upstream.once('timeout', refused);
  upstream.once('connect', () => {
    upstream.setTimeout(0);
    upstream.removeListener('error', refused);
    upstream.removeListener('timeout', refused);
    upstream.on('error', () => client.destroy());
    client.on('error', () => upstream.destroy());
    client.pipe(upstream);
    upstream.pipe(client);
    client.resume();
  });
}

const server = net.createServer({ pauseOnConnect: true }, (client) => forward(client, 0));
server.listen(split(listen), () => console.log(`round-robin on ${listen} -> ${backends.join(', ')}`));
