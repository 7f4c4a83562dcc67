import { execFile } from 'node:child_process';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect as connectHttp2 } from 'node:http2';
import { get } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { type App, handle, text, upgrade } from 'rxgi';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import {
  readTlsFiles,
  selfSignedCertificate,
  type TlsFiles,
} from '../../../protocols/server/tls.js';
import { type Child, cli, closeServers, start } from '../../helpers.js';

const run = promisify(execFile);
const DAY = 24 * 60 * 60 * 1000;

let tls: TlsFiles;
let dir: string;
beforeAll(async () => {
  tls = await selfSignedCertificate();
  dir = await mkdtemp(join(tmpdir(), 'rxgi-tls-test-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

/** Write `text` to a file in the test's temporary directory; its path. */
async function file(name: string, text: string): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, text);
  return path;
}

/** Run the built CLI to completion; its exit code and stderr. */
function runCli(...args: string[]): Promise<{ code: number; stderr: string }> {
  return run(process.execPath, ['dist/protocols/cli/main.js', ...args]).then(
    ({ stderr }) => ({ code: 0, stderr }),
    (error: { code: number; stderr: string }) => ({ code: error.code, stderr: error.stderr }),
  );
}

describe('selfSignedCertificate', () => {
  it('makes a P-256 key and a 7-day certificate for localhost, 127.0.0.1 and ::1', () => {
    const certificate = new X509Certificate(tls.cert);
    expect(certificate.subjectAltName).toContain('DNS:localhost');
    expect(certificate.subjectAltName).toContain('IP Address:127.0.0.1');
    const from = Date.parse(certificate.validFrom);
    const to = Date.parse(certificate.validTo);
    expect(Math.abs(to - from - 7 * DAY)).toBeLessThan(60_000);
    expect(Math.abs(from - Date.now())).toBeLessThan(5 * 60_000);
    expect(certificate.ca).toBe(false);
    const key = createPrivateKey(tls.key);
    expect(key.asymmetricKeyType).toBe('ec');
    expect(key.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
    expect(certificate.checkPrivateKey(key)).toBe(true);
  });

  it('lists the hosts it is given', async () => {
    const { cert } = await selfSignedCertificate(['example.test', '10.1.2.3']);
    const names = new X509Certificate(cert).subjectAltName;
    expect(names).toContain('DNS:example.test');
    expect(names).toContain('IP Address:10.1.2.3');
    expect(names).not.toContain('localhost');
  });

  it('refuses a host that would smuggle in more names', async () => {
    await expect(selfSignedCertificate(['a.test,DNS:b.test'])).rejects.toThrow(
      /neither a host name nor an IP address/,
    );
  });

  it('says how to get openssl when it is missing', async () => {
    const path = process.env.PATH;
    process.env.PATH = join(dir, 'nowhere');
    try {
      await expect(selfSignedCertificate()).rejects.toThrow(
        '--tls-self-signed needs the openssl command (apt-get install openssl), or pass --tls-cert and --tls-key',
      );
    } finally {
      process.env.PATH = path;
    }
  });
});

describe('readTlsFiles', () => {
  it('reads a certificate and its key', async () => {
    const cert = await file('good-cert.pem', tls.cert);
    const key = await file('good-key.pem', tls.key);
    expect(await readTlsFiles(cert, key)).toEqual(tls);
  });

  it('names the file that is missing', async () => {
    const cert = await file('present-cert.pem', tls.cert);
    const key = await file('present-key.pem', tls.key);
    const missing = join(dir, 'missing.pem');
    await expect(readTlsFiles(missing, key)).rejects.toThrow(missing);
    await expect(readTlsFiles(cert, missing)).rejects.toThrow(missing);
  });

  it('names the file that is not PEM', async () => {
    const cert = await file('plain-cert.pem', 'not a certificate\n');
    const key = await file('plain-key.pem', tls.key);
    await expect(readTlsFiles(cert, key)).rejects.toThrow(`${cert} is not a PEM certificate`);
    await expect(readTlsFiles(key, key)).rejects.toThrow(`${key} is not a PEM certificate`);
    await expect(readTlsFiles(await file('cert-again.pem', tls.cert), cert)).rejects.toThrow(
      `${cert} is not a PEM private key`,
    );
  });

  it('says when the key does not belong to the certificate', async () => {
    const other = await selfSignedCertificate();
    const cert = await file('mine-cert.pem', tls.cert);
    const key = await file('other-key.pem', other.key);
    await expect(readTlsFiles(cert, key)).rejects.toThrow(/is not the private key of/);
  });
});

const version = handle((req) => text(`http ${req.http}`));
const echo = handle((req) => (req.websocket ? upgrade((messages) => messages) : text('x')));

function body(stream: NodeJS.ReadableStream): Promise<string> {
  return new Promise((resolve, reject) => {
    let out = '';
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => {
      out += chunk;
    });
    stream.on('end', () => resolve(out));
    stream.on('error', reject);
  });
}

/** `start` with the test certificate; fails unless the server really speaks TLS. */
async function startTls(app: App) {
  const server = await start(app, { tls });
  expect(server.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
  return server;
}

describe('serve with TLS', () => {
  afterEach(closeServers);

  it('speaks HTTP/2 to curl --http2 (ALPN h2)', async () => {
    const server = await startTls(version);
    const { stdout } = await run('curl', ['-sSk', '--http2', server.url]);
    expect(stdout).toBe('http 2');
    const { stdout: negotiated } = await run('curl', [
      '-sSk',
      '-o',
      '/dev/null',
      '-w',
      '%{http_version}',
      '--http2',
      server.url,
    ]);
    expect(negotiated).toBe('2');
  });

  it('speaks HTTP/1.1 to curl --http1.1 (ALPN http/1.1)', async () => {
    const server = await startTls(version);
    const { stdout } = await run('curl', ['-sSk', '--http1.1', server.url]);
    expect(stdout).toBe('http 1.1');
  });

  it('answers a plain http:// request on the TLS port with 400 saying to use https', async () => {
    const server = await startTls(version);
    const plain = server.url.replace('https:', 'http:');
    const { stdout } = await run('curl', ['-sS', '-i', plain]);
    expect(stdout).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n/);
    expect(stdout).toMatch(/This port speaks HTTPS only: use https:\/\/ instead of http:\/\/\n$/);
    // The port still speaks TLS afterwards.
    const { stdout: secure } = await run('curl', ['-sSk', '--http2', server.url]);
    expect(secure).toBe('http 2');
  });

  it('speaks HTTP/1.1 to node:https', async () => {
    const server = await startTls(version);
    const answer = await new Promise<string>((resolve, reject) => {
      get(server.url, { rejectUnauthorized: false }, (res) => body(res).then(resolve, reject)).on(
        'error',
        reject,
      );
    });
    expect(answer).toBe('http 1.1');
  });

  it('speaks HTTP/2 to node:http2', async () => {
    const server = await startTls(version);
    const session = connectHttp2(server.url, { rejectUnauthorized: false });
    try {
      const answer = await new Promise<string>((resolve, reject) => {
        session.once('error', reject);
        const stream = session.request({ ':path': '/' });
        stream.on('response', (headers) => {
          if (headers[':status'] !== 200) reject(new Error(`status ${headers[':status']}`));
        });
        body(stream).then(resolve, reject);
      });
      expect(answer).toBe('http 2');
    } finally {
      session.close();
    }
  });

  it('carries WebSockets over TLS (wss://)', async () => {
    const server = await startTls(echo);
    const ws = new WebSocket(server.url.replace('https', 'wss'), { rejectUnauthorized: false });
    await new Promise((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('error', reject);
    });
    const reply = new Promise<string>((resolve) =>
      ws.once('message', (data: Buffer) => resolve(data.toString())),
    );
    ws.send('over tls');
    expect(await reply).toBe('over tls');
    ws.close();
  });
});

describe('rxgi serve --tls-*', () => {
  let child: Child | null = null;
  afterEach(() => {
    child?.kill('SIGKILL');
    child = null;
  });

  it('--tls-self-signed serves HTTP/2 over TLS and warns that no client trusts it', async () => {
    child = await cli('apps/echo.ts', '--tls-self-signed');
    expect(child.url).toMatch(/^https:\/\//);
    const { stdout } = await run('curl', ['-sSk', '--http2', '-d', 'hi', child.url]);
    expect(stdout).toBe('hi');
    expect(child.stderr()).toMatch(
      /"level":"warn".*using a throwaway self-signed certificate: for development only, clients will not trust it/,
    );
  });

  it('--tls-cert and --tls-key serve the given certificate', async () => {
    const cert = await file('cli-cert.pem', tls.cert);
    const key = await file('cli-key.pem', tls.key);
    child = await cli('apps/echo.ts', '--tls-cert', cert, '--tls-key', key);
    expect(child.url).toMatch(/^https:\/\//);
    const { stdout } = await run('curl', ['-sSk', '--http1.1', '-d', 'hello', child.url]);
    expect(stdout).toBe('hello');
    expect(child.stderr()).not.toMatch(/self-signed/);
  });

  it('--tls-cert without --tls-key exits 2 and says so', async () => {
    const cert = await file('lonely-cert.pem', tls.cert);
    const result = await runCli('serve', 'apps/echo.ts', '--tls-cert', cert);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/--tls-cert needs --tls-key/);
  });

  it('--tls-key without --tls-cert exits 2 and says so', async () => {
    const key = await file('lonely-key.pem', tls.key);
    const result = await runCli('serve', 'apps/echo.ts', '--tls-key', key);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/--tls-key needs --tls-cert/);
  });

  it('--tls-self-signed with --tls-cert exits 2 and says so', async () => {
    const result = await runCli(
      'serve',
      'apps/echo.ts',
      '--tls-self-signed',
      '--tls-cert',
      'a.pem',
      '--tls-key',
      'b.pem',
    );
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/--tls-self-signed cannot be combined/);
  });

  it('names a missing certificate file and exits 1', async () => {
    const missing = join(dir, 'no-such-cert.pem');
    const key = await file('some-key.pem', tls.key);
    const result = await runCli('serve', 'apps/echo.ts', '--tls-cert', missing, '--tls-key', key);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(missing);
  });
});
