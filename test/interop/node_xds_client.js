#!/usr/bin/env node
// node_xds_client: the @grpc/grpc-js-xds interop peer (versions pinned in the repo's package.json).
//
//   node node_xds_client.js --target xds:///NAME --calls N [--header k=v]... [--interval-ms X]
//                           [--deadline-ms D]
//
// Same interface and output as cpp_xds_client: one line per call, "ok <backend label>" or
// "error <numeric status code> <message>", then "tally calls=N ok=K errors=E backends=A:7,B:3".
// Exit status 0 when every call succeeded, 1 when some failed, 2 on bad usage. An xds:/// target
// reads GRPC_XDS_BOOTSTRAP from the environment (grpc-js-xds does that itself).
'use strict';

const path = require('path');
const { createRequire } = require('module');

// Packages come from the repository's node_modules (installed by `npm ci` at the repo root), found
// relative to this file so nothing depends on where the checkout lives or on the working directory.
const repoRoot = path.resolve(__dirname, '..', '..');
const repoRequire = createRequire(path.join(repoRoot, 'package.json'));
const grpc = repoRequire('@grpc/grpc-js');
const protoLoader = repoRequire('@grpc/proto-loader');
const grpcXds = repoRequire('@grpc/grpc-js-xds');

function usage(message) {
  if (message) process.stderr.write(`node_xds_client: ${message}\n`);
  process.stderr.write(
    'usage: node_xds_client.js --target xds:///NAME --calls N [--header k=v]... ' +
      '[--interval-ms X] [--deadline-ms D]\n');
  process.exit(2);
}

function parseCount(flag, text) {
  if (!/^[0-9]+$/.test(text)) usage(`${flag} expects a non-negative integer, got '${text}'`);
  return Number(text);
}

function parseArgs(argv) {
  const options = { target: '', calls: 0, intervalMs: 0, deadlineMs: 10000, headers: [] };
  for (let i = 0; i < argv.length; i += 2) {
    const flag = argv[i];
    const value = argv[i + 1];
    if (value === undefined) usage(`${flag} needs a value`);
    if (flag === '--target') {
      options.target = value;
    } else if (flag === '--calls') {
      options.calls = parseCount(flag, value);
    } else if (flag === '--interval-ms') {
      options.intervalMs = parseCount(flag, value);
    } else if (flag === '--deadline-ms') {
      options.deadlineMs = parseCount(flag, value);
    } else if (flag === '--header') {
      const eq = value.indexOf('=');
      if (eq <= 0) usage(`--header expects k=v, got '${value}'`);
      options.headers.push([value.slice(0, eq), value.slice(eq + 1)]);
    } else {
      usage(`unknown option ${flag}`);
    }
  }
  if (!options.target || options.calls < 1 || options.deadlineMs < 1) usage();
  return options;
}

function sayHello(client, request, metadata, callOptions) {
  return new Promise((resolve) => {
    client.SayHello(request, metadata, callOptions, (error, reply) => resolve({ error, reply }));
  });
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// process.stdout is asynchronous for pipes; a line must reach the harness while calls continue.
function emit(line) {
  process.stdout.write(`${line}\n`);
}

async function main() {
  const options = parseArgs(process.argv.slice(2));
  grpcXds.register();

  const definition = protoLoader.loadSync(path.join(__dirname, 'proto', 'greeter.proto'), {
    keepCase: true,
    defaults: true,
  });
  const Greeter = grpc.loadPackageDefinition(definition).sluice.interop.Greeter;
  const client = new Greeter(options.target, grpc.credentials.createInsecure());

  let ok = 0;
  let errors = 0;
  const perBackend = new Map();
  for (let call = 0; call < options.calls; ++call) {
    if (call > 0 && options.intervalMs > 0) await sleep(options.intervalMs);
    const metadata = new grpc.Metadata();
    for (const [key, value] of options.headers) metadata.add(key, value);
    // As in the C++ client: only the first call waits for resolution and the first connection.
    const { error, reply } = await sayHello(client, { name: `interop-${call}` }, metadata, {
      deadline: new Date(Date.now() + options.deadlineMs),
      waitForReady: call === 0,
    });
    if (error) {
      ++errors;
      emit(`error ${error.code} ${String(error.details || error.message).replace(/[\r\n]+/g, ' ')}`);
    } else {
      ++ok;
      perBackend.set(reply.backend, (perBackend.get(reply.backend) || 0) + 1);
      emit(`ok ${reply.backend}`);
    }
  }

  const backends = [...perBackend.keys()]
    .sort()
    .map((label) => `${label}:${perBackend.get(label)}`)
    .join(',');
  emit(`tally calls=${options.calls} ok=${ok} errors=${errors} backends=${backends}`);
  client.close();
  // The xDS client keeps its ADS stream open; exit explicitly once stdout is flushed.
  process.stdout.write('', () => process.exit(errors === 0 ? 0 : 1));
}

main().catch((err) => {
  process.stderr.write(`node_xds_client: ${err && err.stack ? err.stack : err}\n`);
  process.exit(1);
});
