// A node's credentials, read once at start-up from the files its flags name (docs/security.md):
// the cluster secret that signs peer RPC, the admin token, and TLS material for both ports.
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { UsageError } from '../cli-args.js';
import { clusterSecretBytesMin } from '../config.js';

/** A shorter admin token is refused at start-up. */
export const adminTokenBytesMin = 16;

export interface TlsMaterial {
  cert: Buffer;
  key: Buffer;
  /** The certificates peers are checked against (by default the node's own certificate). */
  ca: Buffer;
}

export interface NodeSecurity {
  clusterSecret: Buffer | null;
  adminToken: string | null;
  tls: TlsMaterial | undefined;
}

export interface SecurityFlags {
  clusterSecretFile?: string;
  adminTokenFile?: string;
  tlsCert?: string;
  tlsKey?: string;
  tlsCa?: string;
}

export const noSecurity: NodeSecurity = { clusterSecret: null, adminToken: null, tls: undefined };

function readFlagFile(flag: string, path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (error) {
    throw new UsageError(`--${flag} ${path}: ${(error as Error).message}`);
  }
}

/** --cluster-secret-file: the file's bytes, a trailing newline trimmed, at least clusterSecretBytesMin long. */
export function readClusterSecret(path: string): Buffer {
  const secret = Buffer.from(
    readFlagFile('cluster-secret-file', path)
      .toString('utf8')
      .replace(/\r?\n$/, ''),
    'utf8',
  );
  if (secret.length < clusterSecretBytesMin) {
    throw new UsageError(
      `--cluster-secret-file ${path} holds ${secret.length} bytes; use at least ${clusterSecretBytesMin} ` +
        '(e.g. `openssl rand -hex 32 > secret`)',
    );
  }
  return secret;
}

export function readAdminToken(path: string): string {
  const token = readFlagFile('admin-token-file', path)
    .toString('utf8')
    .replace(/\r?\n$/, '');
  if (Buffer.byteLength(token) < adminTokenBytesMin || /\s/.test(token)) {
    throw new UsageError(
      `--admin-token-file ${path}: the token must be at least ${adminTokenBytesMin} bytes with no spaces ` +
        '(e.g. `openssl rand -hex 32 > admin-token`)',
    );
  }
  return token;
}

function readTls(flags: SecurityFlags): TlsMaterial | undefined {
  if (flags.tlsCert === undefined && flags.tlsKey === undefined) {
    if (flags.tlsCa !== undefined) throw new UsageError('--tls-ca needs --tls-cert and --tls-key');
    return undefined;
  }
  if (flags.tlsCert === undefined || flags.tlsKey === undefined) {
    throw new UsageError('--tls-cert and --tls-key go together');
  }
  const cert = readFlagFile('tls-cert', flags.tlsCert);
  const key = readFlagFile('tls-key', flags.tlsKey);
  const ca = flags.tlsCa === undefined ? cert : readFlagFile('tls-ca', flags.tlsCa);
  try {
    const parsed = new X509Certificate(cert);
    if (!parsed.checkPrivateKey(createPrivateKey(key))) {
      throw new UsageError(`--tls-key ${flags.tlsKey} does not match --tls-cert ${flags.tlsCert}`);
    }
  } catch (error) {
    if (error instanceof UsageError) throw error;
    throw new UsageError(`--tls-cert/--tls-key: ${(error as Error).message}`);
  }
  return { cert, key, ca };
}

export function loadNodeSecurity(flags: SecurityFlags): NodeSecurity {
  return {
    clusterSecret: flags.clusterSecretFile === undefined ? null : readClusterSecret(flags.clusterSecretFile),
    adminToken: flags.adminTokenFile === undefined ? null : readAdminToken(flags.adminTokenFile),
    tls: readTls(flags),
  };
}
