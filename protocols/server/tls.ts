import { execFile } from 'node:child_process';
import { createPrivateKey, type KeyObject, X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { isIP } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

/** A certificate (chain) and its private key, as PEM text: what `serve(app, { tls })` takes. */
export interface TlsFiles {
  /** PEM certificate, the server's own first, intermediates after it. */
  cert: string;
  /** PEM private key of the first certificate, unencrypted. */
  key: string;
}

const run = promisify(execFile);

/**
 * Read a PEM certificate and its PEM private key from disk. Rejects with an error naming the
 * file when one is missing, unreadable, not PEM, or when the key does not belong to the
 * certificate.
 */
export async function readTlsFiles(certPath: string, keyPath: string): Promise<TlsFiles> {
  const cert = await readPem(certPath, 'certificate');
  const key = await readPem(keyPath, 'private key');
  let certificate: X509Certificate;
  try {
    certificate = new X509Certificate(cert);
  } catch {
    throw new Error(`${certPath} is not a PEM certificate`);
  }
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(key);
  } catch {
    throw new Error(`${keyPath} is not a PEM private key (encrypted keys are not supported)`);
  }
  if (!certificate.checkPrivateKey(privateKey)) {
    throw new Error(`${keyPath} is not the private key of the certificate in ${certPath}`);
  }
  return { cert, key };
}

async function readPem(path: string, what: 'certificate' | 'private key'): Promise<string> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new Error(`TLS ${what} file ${path} does not exist`);
    throw new Error(`cannot read TLS ${what} file ${path}: ${(error as Error).message}`);
  }
  const pem =
    what === 'certificate'
      ? /-----BEGIN CERTIFICATE-----/
      : /-----BEGIN (?:[A-Z]+ )?PRIVATE KEY-----/;
  if (!pem.test(text)) throw new Error(`${path} is not a PEM ${what}`);
  return text;
}

const HOSTNAME =
  /^(?:\*\.)?[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*$/;

/**
 * A throwaway EC P-256 key and a self-signed certificate for it, valid for 7 days, whose
 * subjectAltName lists `hosts` (IP addresses as IP entries, names as DNS entries). For
 * development only: no client trusts it. Needs the `openssl` command, since Node's crypto
 * cannot issue certificates; the key never leaves a private temporary directory that is
 * removed afterwards.
 */
export async function selfSignedCertificate(
  hosts: string[] = ['localhost', '127.0.0.1', '::1'],
): Promise<TlsFiles> {
  if (hosts.length === 0) throw new Error('a self-signed certificate needs at least one host');
  const names = hosts.map((host) => {
    const bare = host.replace(/^\[(.*)\]$/, '$1');
    if (isIP(bare)) return `IP:${bare}`;
    if (HOSTNAME.test(bare)) return `DNS:${bare}`;
    throw new Error(`${JSON.stringify(host)} is neither a host name nor an IP address`);
  });
  const dir = await mkdtemp(join(tmpdir(), 'rxgi-tls-'));
  try {
    const certPath = join(dir, 'cert.pem');
    const keyPath = join(dir, 'key.pem');
    // The extensions make it a server (leaf) certificate: Firefox refuses a CA one as a server's.
    await run(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-days',
        '7',
        '-subj',
        '/CN=localhost',
        '-addext',
        `subjectAltName=${names.join(',')}`,
        '-addext',
        'basicConstraints=critical,CA:FALSE',
        '-addext',
        'keyUsage=critical,digitalSignature',
        '-addext',
        'extendedKeyUsage=serverAuth',
        '-keyout',
        keyPath,
        '-out',
        certPath,
      ],
      { timeout: 30_000 },
    ).catch((error: NodeJS.ErrnoException & { stderr?: string }) => {
      if (error.code === 'ENOENT') {
        throw new Error(
          '--tls-self-signed needs the openssl command (apt-get install openssl), or pass --tls-cert and --tls-key',
        );
      }
      const detail = error.stderr?.trim() || error.message;
      throw new Error(`openssl could not create a self-signed certificate: ${detail}`);
    });
    const [cert, key] = await Promise.all([readFile(certPath, 'utf8'), readFile(keyPath, 'utf8')]);
    return { cert, key };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
