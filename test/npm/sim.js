// Starts one tplink-smarthome-simulator device on loopback for the Go tests.
// Usage: node sim.js MODEL   (hs100, hs110, hs110v2, hs300)
// Prints one JSON line {"port", "deviceId", "model"} once listening, then
// runs until stdin closes or it is signalled. Binds 127.0.0.1 only and never
// starts the package's broadcast UDP server.
'use strict';
const { Device } = require('tplink-smarthome-simulator');

const model = process.argv[2] || 'hs100';
const deviceId = 'SIM' + model.toUpperCase().padEnd(37, '0');

async function main() {
  const device = new Device({
    model,
    port: 0,
    address: '127.0.0.1',
    data: { alias: 'npm ' + model, mac: '50:c7:bf:00:00:42', deviceId },
  });
  // A probe it cannot parse (our port-20002 probe, sent to the same port in
  // tests) is an 'error' event; real plugs just ignore such datagrams.
  device.deviceNetworking.on('error', (err) => {
    process.stderr.write('npm simulator ignored: ' + (err && err.message) + '\n');
  });
  await device.start();
  process.stdout.write(JSON.stringify({ port: device.port, deviceId, model }) + '\n');
  const stop = () => device.stop().then(() => process.exit(0));
  process.stdin.on('end', stop);
  process.stdin.resume();
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main().catch((err) => {
  process.stderr.write(String(err && err.stack ? err.stack : err) + '\n');
  process.exit(1);
});
