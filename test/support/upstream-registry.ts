import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createCertificateAuthority, createServerCertificate } from '../../lib/certificates';
import { type Credentials, createHtpasswd } from '../../lib/htpasswd';
import { freeLoopbackPort } from './free-port';
import type { NodeProcess, NodeSandbox } from './node-sandbox';
import { type OciImage, writeOciImage } from './oci-image';
import { skopeoCopy } from './skopeo';
import { TOKEN_SERVER_SOURCE, type TokenServerConfig, libtrustKeyId } from './token-server';

/**
 * A stand-in for a public registry (Docker Hub, ghcr.io) on the loopback of a node sandbox: the real
 * docker-registry with a test CA of its own (not the registry material's), holding `library/hello:latest`.
 *
 * - `auth: 'token'` (the default) is how Docker Hub, ghcr.io, quay.io and registry.k8s.io ask for
 *   credentials: 401 with `WWW-Authenticate: Bearer realm=...`, then a token from the token server
 *   (token-server.ts) for the right user name and password. It is the only scheme with which
 *   distribution's proxy (Debian's 2.8.2) sends upstream credentials at all (see the Basic case).
 * - `auth: 'htpasswd'` asks for Basic credentials directly, like a private registry of this project.
 */
export interface UpstreamRegistryOptions {
  readonly node: NodeSandbox;
  /** Certificates, storage and the token server's config go here (the caller removes it). */
  readonly workDir: string;
  /** @default 'token' */
  readonly auth?: 'token' | 'htpasswd';
  /** Who may log in. */
  readonly user: Credentials;
  /**
   * The address it listens on inside the node: an address of the node's `lo` other than 127.0.0.1, since a
   * cache refuses a loopback upstream (in a pod, that is the pod itself).
   */
  readonly address: string;
}

export interface UpstreamRegistry {
  /** https://ADDRESS:PORT, inside the node. */
  readonly url: string;
  /** The upstream's own test CA (PEM) and a file of it, e.g. for SSL_CERT_FILE / NODE_EXTRA_CA_CERTS. */
  readonly caCertificatePem: string;
  readonly caFile: string;
  /** The image pushed as library/hello:latest (its digests). */
  readonly image: OciImage;
  /** The token realm (auth 'token'). */
  readonly realm?: string;
  readonly registry: NodeProcess;
  readonly tokenServer?: NodeProcess;
  /** The registry's access log lines so far: `"METHOD PATH HTTP/x" STATUS`. */
  requests(): string[];
  /** Pushes the image of an OCI layout (tag latest) as `name:latest`, with skopeo in the node. */
  push(layoutDir: string, name: string): Promise<void>;
  /** Stops the registry and the token server (by their PIDs). */
  stop(): Promise<void>;
}

export const UPSTREAM_IMAGE = 'library/hello';
export const UPSTREAM_GREETING = 'hello from the upstream\n';

/** Starts the upstream and pushes `library/hello:latest` (one layer holding /hello.txt) to it with skopeo. */
export async function startUpstreamRegistry(options: UpstreamRegistryOptions): Promise<UpstreamRegistry> {
  const { node, workDir, user, address } = options;
  const auth = options.auth ?? 'token';
  mkdirSync(workDir, { recursive: true });
  const ca = createCertificateAuthority({ commonName: 'upstream test CA' });
  const tls = createServerCertificate({ ca, subjectAltNames: { dnsNames: ['localhost'], ipAddresses: [address] } });
  const caFile = join(workDir, 'ca.crt');
  writeFileSync(caFile, ca.certificatePem);
  writeFileSync(join(workDir, 'tls.crt'), tls.certificatePem);
  writeFileSync(join(workDir, 'tls.key'), tls.privateKeyPem, { mode: 0o600 });
  writeFileSync(join(workDir, 'registry.yml'), 'version: 0.1\n');
  // The node's network is its own: a port picked free here is free there too.
  const port = await freeLoopbackPort();
  const env: Record<string, string> = {
    REGISTRY_HTTP_ADDR: `${address}:${port}`,
    REGISTRY_HTTP_SECRET: 'upstream-test',
    REGISTRY_HTTP_TLS_CERTIFICATE: join(workDir, 'tls.crt'),
    REGISTRY_HTTP_TLS_KEY: join(workDir, 'tls.key'),
    REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY: join(workDir, 'storage'),
  };

  let tokenServer: NodeProcess | undefined;
  let realm: string | undefined;
  if (auth === 'token') {
    const signing = createCertificateAuthority({ commonName: 'upstream token signer' });
    writeFileSync(join(workDir, 'token-signer.crt'), signing.certificatePem);
    const tokenPort = await freeLoopbackPort();
    realm = `https://${address}:${tokenPort}/token`;
    const config: TokenServerConfig = {
      host: address,
      port: tokenPort,
      tlsCertificatePem: tls.certificatePem,
      tlsKeyPem: tls.privateKeyPem,
      signingKeyPem: signing.privateKeyPem,
      kid: libtrustKeyId(signing.certificatePem),
      issuer: 'upstream-token-issuer',
      service: 'upstream.test',
      users: { [user.username]: user.password },
    };
    writeFileSync(join(workDir, 'token-server.json'), JSON.stringify(config), { mode: 0o600 });
    writeFileSync(join(workDir, 'token-server.cjs'), TOKEN_SERVER_SOURCE);
    tokenServer = await node.spawnInNode(
      process.execPath,
      [join(workDir, 'token-server.cjs'), join(workDir, 'token-server.json')],
      { readyOutput: /^listening /m },
    );
    Object.assign(env, {
      REGISTRY_AUTH: 'token',
      REGISTRY_AUTH_TOKEN_REALM: realm,
      REGISTRY_AUTH_TOKEN_SERVICE: config.service,
      REGISTRY_AUTH_TOKEN_ISSUER: config.issuer,
      REGISTRY_AUTH_TOKEN_ROOTCERTBUNDLE: join(workDir, 'token-signer.crt'),
    });
  } else {
    writeFileSync(join(workDir, 'htpasswd'), createHtpasswd([user], 5), { mode: 0o600 });
    Object.assign(env, {
      REGISTRY_AUTH: 'htpasswd',
      REGISTRY_AUTH_HTPASSWD_REALM: 'upstream',
      REGISTRY_AUTH_HTPASSWD_PATH: join(workDir, 'htpasswd'),
    });
  }
  const registry = await node.spawnInNode('docker-registry', ['serve', join(workDir, 'registry.yml')], {
    env,
    readyListen: { host: address, port },
  });
  const stop = async (): Promise<void> => {
    await registry.stop();
    await tokenServer?.stop();
  };

  const certDir = join(workDir, 'trust');
  mkdirSync(certDir, { recursive: true });
  writeFileSync(join(certDir, 'ca.crt'), ca.certificatePem);
  const push = async (layoutDir: string, name: string): Promise<void> => {
    const pushed = await skopeoCopy({
      from: `oci:${layoutDir}:latest`,
      to: `docker://${address}:${port}/${name}:latest`,
      creds: user,
      certDir,
      runner: node.execInNode,
    });
    if (pushed.code !== 0) throw new Error(`pushing ${name} to the upstream failed:\n${pushed.stderr}`);
  };
  let image: OciImage;
  try {
    image = writeOciImage(join(workDir, 'image'), {
      files: { 'hello.txt': UPSTREAM_GREETING },
      cmd: ['cat', '/hello.txt'],
    });
    await push(image.dir, UPSTREAM_IMAGE);
  } catch (error) {
    await stop();
    throw error;
  }

  return {
    url: `https://${address}:${port}`,
    caCertificatePem: ca.certificatePem,
    caFile,
    image,
    realm,
    registry,
    tokenServer,
    requests: () => registry.output().match(/"(?:GET|HEAD|PUT|POST|PATCH|DELETE) [^"]*" \d{3}/g) ?? [],
    push,
    stop,
  };
}
