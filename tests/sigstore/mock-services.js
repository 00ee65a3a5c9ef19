// Test-only Sigstore services on one loopback port: Fulcio (POST /api/v2/signingCert), Rekor v1
// (POST /api/v1/log/entries) and a timestamp authority (POST /api/v1/timestamp), from npm's
// @sigstore/mock, with fresh keys. Writes the matching trusted_root.json to the path given as
// the first argument and prints the base URL on standard output once listening.
//
// GET /github/token stands in for GitHub Actions' OIDC token service: with the bearer
// MOCK_GITHUB_REQUEST_TOKEN and `audience=sigstore`, it answers {"value": MOCK_GITHUB_TOKEN}.
//
// Environment: MOCK_FULCIO_CLOCK / MOCK_REKOR_CLOCK / MOCK_TSA_CLOCK (ISO times) make a service
// issue as if at that time, to produce expired certificates and out-of-window entries.
'use strict';
const crypto = require('crypto');
const fs = require('fs');
const http = require('http');
const mock = require('@sigstore/mock');

const clock = (name) => (process.env[name] ? new Date(process.env[name]) : undefined);
const ecKeys = () => crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
const b64 = (bytes) => Buffer.from(bytes.buffer ? new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength) : bytes).toString('base64');
const spki = (keyObject) => keyObject.export({ format: 'der', type: 'spki' });

async function main() {
  const rootPath = process.argv[2];
  const server = http.createServer();
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${server.address().port}`;

  const ctKeys = ecKeys();
  const ctlog = await mock.initializeCTLog(ctKeys, clock('MOCK_FULCIO_CLOCK'));
  const ca = await mock.initializeCA(ecKeys(), ctlog, clock('MOCK_FULCIO_CLOCK'));
  const tlogKeys = ecKeys();
  const tlog = await mock.initializeTLog(url, tlogKeys, clock('MOCK_REKOR_CLOCK'));
  const tsa = await mock.initializeTSA(ecKeys(), clock('MOCK_TSA_CLOCK'));
  if (!process.env.MOCK_TSA_CLOCK) {
    // Stamp the current time in whole seconds: the mock's encoding of milliseconds in a
    // GeneralizedTime is not DER that a strict reader accepts.
    tsa.getCurrentTime = () => new Date(Math.floor(Date.now() / 1000) * 1000);
  }

  const handlers = [
    mock.fulcioHandler(ca),
    mock.rekorHandler(tlog),
    mock.tsaHandler(tsa),
  ];
  const since = '2020-01-01T00:00:00Z';
  const rekorDer = spki(tlogKeys.publicKey);
  const root = {
    mediaType: 'application/vnd.dev.sigstore.trustedroot+json;version=0.1',
    tlogs: [{
      baseUrl: url,
      hashAlgorithm: 'SHA2_256',
      publicKey: { rawBytes: b64(rekorDer), keyDetails: 'PKIX_ECDSA_P256_SHA_256', validFor: { start: since } },
      logId: { keyId: crypto.createHash('sha256').update(rekorDer).digest('base64') },
    }],
    certificateAuthorities: [{
      subject: { organization: 'sigstore.mock', commonName: 'sigstore' },
      uri: url,
      certChain: { certificates: [{ rawBytes: b64(ca.rootCertificate) }] },
      validFor: { start: since },
    }],
    ctlogs: [{
      baseUrl: url,
      hashAlgorithm: 'SHA2_256',
      publicKey: { rawBytes: b64(ctlog.publicKey), keyDetails: 'PKIX_ECDSA_P256_SHA_256', validFor: { start: since } },
      logId: { keyId: b64(ctlog.logID) },
    }],
    timestampAuthorities: [{
      subject: { organization: 'sigstore.mock', commonName: 'sigstore-tsa' },
      uri: url,
      certChain: { certificates: [{ rawBytes: b64(tsa.intCertificate) }, { rawBytes: b64(tsa.rootCertificate) }] },
      validFor: { start: since },
    }],
  };
  fs.writeFileSync(rootPath, JSON.stringify(root, null, 2));

  server.on('request', (req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', async () => {
      if (req.method === 'GET' && req.url.startsWith('/github/token')) {
        const audience = new URL(req.url, url).searchParams.get('audience');
        const bearer = `Bearer ${process.env.MOCK_GITHUB_REQUEST_TOKEN}`;
        if (!process.env.MOCK_GITHUB_TOKEN || req.headers.authorization !== bearer || audience !== 'sigstore') {
          res.writeHead(401).end('unauthorized');
          return;
        }
        res.writeHead(200, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify({ value: process.env.MOCK_GITHUB_TOKEN }));
        return;
      }
      const handler = handlers.find((h) => req.method === 'POST' && req.url === h.path);
      if (!handler) {
        res.writeHead(404).end('not found');
        return;
      }
      let body = Buffer.concat(chunks).toString();
      if (handler.path === '/api/v1/log/entries') {
        body = canonicalEntry(body);
      }
      const answer = await handler.fn(body);
      res.writeHead(answer.statusCode, { 'Content-Type': answer.contentType || 'text/plain' });
      res.end(typeof answer.response === 'string' ? answer.response : Buffer.from(answer.response.buffer, answer.response.byteOffset, answer.response.byteLength));
    });
  });
  process.stdout.write(`${url}\n`);
}

// Rekor logs a `dsse` 0.0.1 proposal in its canonical form: the envelope's and the payload's
// SHA-256 and each signature with its verifier (rekor pkg/types/dsse/v0.0.1). The mock logs
// what it is given, so the proposal is put in that form here. Other kinds are logged as sent.
function canonicalEntry(text) {
  const entry = JSON.parse(text);
  const proposed = entry.kind === 'dsse' && entry.spec && entry.spec.proposedContent;
  if (!proposed) {
    return text;
  }
  const sha256 = (bytes) => crypto.createHash('sha256').update(bytes).digest('hex');
  const envelope = JSON.parse(proposed.envelope);
  return JSON.stringify({
    apiVersion: entry.apiVersion,
    kind: 'dsse',
    spec: {
      envelopeHash: { algorithm: 'sha256', value: sha256(proposed.envelope) },
      payloadHash: { algorithm: 'sha256', value: sha256(Buffer.from(envelope.payload, 'base64')) },
      signatures: envelope.signatures.map((s) => ({ signature: s.sig, verifier: proposed.verifiers[0] })),
    },
  });
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
