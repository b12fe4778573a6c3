import path from 'node:path';
import type { Credentials } from './htpasswd';
import { basicAuthorization, httpsRequest } from './https-request';
import { materialAddressesOf, nodeCredentialsOf } from './material-addresses';
import { MATERIAL_FILES } from './material-files';
import type { Check, MaterialSnapshot } from './material-checks';
import { applyCommand } from './material-dir';
import { parseRegistriesYaml } from './registries-yaml';
import { ValidationError } from './validate';

/** Options of probeRegistry: where the registry is, the CA to trust and the credentials to log in with. */
export interface ProbeOptions {
  /** e.g. https://localhost:31113/v2/ */
  readonly url: string;
  /** The only CA trusted: a certificate from anywhere else is a finding, not a pass. */
  readonly caCertificatePem: string;
  readonly credentials: Credentials;
  /** @default 10000 */
  readonly timeoutMs?: number;
}

const CHECK_NAME = 'live registry';

/** Node's x509 error codes, as the Go clients (docker, containerd, skopeo) phrase the same failure. */
const X509_REASONS: Readonly<Record<string, string>> = {
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'certificate signed by unknown authority',
  UNABLE_TO_GET_ISSUER_CERT: 'certificate signed by unknown authority',
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: 'certificate signed by unknown authority',
  SELF_SIGNED_CERT_IN_CHAIN: 'certificate signed by unknown authority',
  DEPTH_ZERO_SELF_SIGNED_CERT: 'certificate signed by unknown authority (self-signed)',
  CERT_SIGNATURE_FAILURE: 'certificate signed by unknown authority (bad signature)',
  CERT_HAS_EXPIRED: 'certificate has expired',
  CERT_NOT_YET_VALID: 'certificate is not yet valid',
  ERR_TLS_CERT_ALTNAME_INVALID: 'certificate is not valid for this name',
};

/** `https://localhost:<nodePort>/v2/`: where the desktop pushes, through k3d's loopback port mapping. */
export function defaultProbeUrl(nodePort: number): string {
  return `https://localhost:${nodePort}/v2/`;
}

/**
 * GET /v2/ with our CA and the nodes' credentials, the request every client starts with. Resolves with a
 * diagnosis for each way it goes wrong (refused, TLS, 401) and never rejects.
 */
export function probeRegistry(options: ProbeOptions): Promise<Check> {
  const url = registryApiUrl(options.url);
  const { username } = options.credentials;
  const failed = (detail: string, fix: string): Check => ({ name: CHECK_NAME, ok: false, detail, fix });
  return httpsRequest(url, {
    ca: options.caCertificatePem,
    headers: { authorization: basicAuthorization(options.credentials) },
    timeoutMs: options.timeoutMs ?? 10_000,
  }).then(
    ({ status, statusMessage }) => {
      if (status === 200)
        return {
          name: CHECK_NAME,
          ok: true,
          detail: `GET ${url}: 200, TLS verified with our CA, logged in as ${JSON.stringify(username)}`,
        };
      if (status === 401)
        return failed(
          `GET ${url}: 401 Unauthorized: the registry rejects ${JSON.stringify(username)} with the password in registries.yaml`,
          `the registry runs another htpasswd than the material: ${applyCommand()} (check the password with private-registry user verify)`,
        );
      return failed(
        `${`GET ${url}: HTTP ${status} ${statusMessage}`.trim()}: not what a registry answers`,
        `check that ${url} is the registry (kubectl -n container-registry get svc,pods)`,
      );
    },
    (error: NodeJS.ErrnoException) => {
      const failure = requestFailure('GET', url, error);
      return failed(failure.detail, failure.fix);
    },
  );
}

/**
 * The live check for a material snapshot: its CA, its nodes' credentials, and `url` or the NodePort from
 * its registries.yaml. Fails without a request when the snapshot cannot provide those.
 */
export function probeMaterialRegistry(
  snapshot: MaterialSnapshot,
  options: { url?: string; timeoutMs?: number } = {},
): Promise<Check> {
  const caCertificatePem = snapshot.files[MATERIAL_FILES.caCertificate]?.content;
  const registriesYaml = snapshot.files[MATERIAL_FILES.registriesYaml]?.content;
  const source = path.join(snapshot.dir, MATERIAL_FILES.registriesYaml);
  // A bad URL is the caller's mistake, not a finding: it throws.
  const url = options.url === undefined ? undefined : registryApiUrl(options.url);
  try {
    if (caCertificatePem === undefined || registriesYaml === undefined)
      throw new Error('the CA certificate or registries.yaml is missing');
    const registries = parseRegistriesYaml(registriesYaml, source);
    const target = url ?? defaultProbeUrl(materialAddressesOf(registries, source).nodePort);
    return probeRegistry({
      url: target,
      caCertificatePem,
      credentials: nodeCredentialsOf(registries, source),
      timeoutMs: options.timeoutMs,
    });
  } catch (error) {
    return Promise.resolve({
      name: CHECK_NAME,
      ok: false,
      detail: `not run: ${(error as Error).message}`,
      fix: 'fix the material first (see the checks above)',
    });
  }
}

/** The registry API URL to probe; a bare https://host:port means its /v2/ endpoint. */
export function registryApiUrl(url: string): string {
  let parsed: URL | undefined;
  try {
    parsed = new URL(url);
  } catch {
    parsed = undefined;
  }
  if (parsed?.protocol !== 'https:') {
    throw new ValidationError(
      `'url' must be an https:// URL, got ${JSON.stringify(url)}: write it like https://localhost:31113`,
    );
  }
  if (parsed.pathname === '/') parsed.pathname = '/v2/';
  return parsed.toString();
}

/** Why a request to the registry got no HTTP answer (refused, TLS, timeout), and the fix, as the Go clients say it. */
export function requestFailure(
  method: string,
  url: string,
  error: NodeJS.ErrnoException,
): { readonly detail: string; readonly fix: string } {
  const code = error.code ?? '';
  const reason = X509_REASONS[code];
  if (reason !== undefined)
    return { detail: `${method} ${url}: TLS failed: x509: ${reason} (${code}: ${error.message})`, fix: tlsFix(code) };
  if (code === 'ECONNREFUSED') {
    return {
      detail: `${method} ${url}: connection refused: nothing listens there`,
      fix: 'start the cluster with the registry port mapped (private-registry k3d-config --out k3d.yaml && k3d cluster create --config k3d.yaml), apply the manifests (kubectl apply -f dist), and wait for the pod (kubectl -n container-registry get pods)',
    };
  }
  if (code === 'ETIMEDOUT') {
    return {
      detail: `${method} ${url}: ${error.message}`,
      fix: 'check that the cluster and the registry pod are running (kubectl -n container-registry get pods)',
    };
  }
  if (/EPROTO|ERR_SSL|ECONNRESET/.test(code)) {
    return {
      detail: `${method} ${url}: TLS handshake failed (${code}: ${error.message}): is it HTTPS?`,
      fix: "check that the port is the registry's NodePort and the registry serves TLS (kubectl -n container-registry logs deploy/container-registry)",
    };
  }
  return {
    detail: `${method} ${url}: ${code ? `${code}: ` : ''}${error.message}`,
    fix: 'check the URL and that the cluster is running',
  };
}

function tlsFix(code: string): string {
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID')
    return 'issue a certificate with every name (private-registry certs renew), then synthesize and apply it';
  if (code === 'CERT_HAS_EXPIRED') return `renew it (private-registry certs renew), then ${applyCommand()}`;
  if (code === 'CERT_NOT_YET_VALID') return 'check the clocks of this machine and the cluster';
  return `the registry serves a certificate this CA did not sign: ${applyCommand()} (the pod restarts with the new certificate)`;
}
