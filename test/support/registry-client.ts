import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import type { Credentials } from '../../lib/htpasswd';

/** A registry's address as a client sees it, with the CA and the user to reach it. */
export interface RegistryEndpoint {
  /** e.g. https://localhost:5000 */
  readonly base: string;
  readonly ca: string;
  readonly auth: Credentials;
}

export interface RawResponse {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: Buffer;
}

/** One request to the registry's API (or any path of it), verifying TLS against exactly `ca`. */
export function registryRequest(
  endpoint: RegistryEndpoint,
  method: string,
  pathOrUrl: string,
  options: { body?: Buffer; headers?: Record<string, string>; timeoutMs?: number } = {},
): Promise<RawResponse> {
  const url = new URL(pathOrUrl, endpoint.base);
  // A Location from another replica names that replica: the request goes to this one.
  const base = new URL(endpoint.base);
  url.protocol = base.protocol;
  url.host = base.host;
  const token = Buffer.from(`${endpoint.auth.username}:${endpoint.auth.password}`).toString('base64');
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method,
        ca: endpoint.ca,
        agent: false,
        timeout: options.timeoutMs ?? 60_000,
        headers: {
          authorization: `Basic ${token}`,
          ...(options.body === undefined ? {} : { 'content-length': String(options.body.length) }),
          ...options.headers,
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }),
        );
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`${method} ${url} timed out`)));
    req.on('error', reject);
    req.end(options.body);
  });
}

export function sha256Digest(data: Buffer): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

const MANIFEST_TYPES = [
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json',
].join(', ');

/** An image as pulled: its manifest's bytes and every blob (config and layers) by digest. */
export interface PulledImage {
  readonly manifest: Buffer;
  readonly blobs: Map<string, Buffer>;
}

/** Pulls `name:reference` over the API, checking every blob's digest as a client would. */
export async function pullImage(endpoint: RegistryEndpoint, name: string, reference: string): Promise<PulledImage> {
  const manifestResponse = await registryRequest(endpoint, 'GET', `/v2/${name}/manifests/${reference}`, {
    headers: { accept: MANIFEST_TYPES },
  });
  if (manifestResponse.status !== 200) {
    throw new Error(`GET manifest ${name}:${reference} answered ${manifestResponse.status}: ${manifestResponse.body}`);
  }
  const manifest = JSON.parse(manifestResponse.body.toString('utf8'));
  const blobs = new Map<string, Buffer>();
  for (const descriptor of [manifest.config, ...manifest.layers] as { digest: string }[]) {
    const blob = await registryRequest(endpoint, 'GET', `/v2/${name}/blobs/${descriptor.digest}`);
    if (blob.status !== 200) throw new Error(`GET blob ${descriptor.digest} answered ${blob.status}: ${blob.body}`);
    if (sha256Digest(blob.body) !== descriptor.digest) throw new Error(`blob ${descriptor.digest} has other bytes`);
    blobs.set(descriptor.digest, blob.body);
  }
  return { manifest: manifestResponse.body, blobs };
}

/** The bytes of a blob in an OCI layout written by writeOciImage. */
export function layoutBlob(layoutDir: string, digest: string): Buffer {
  return readFileSync(join(layoutDir, 'blobs', 'sha256', digest.slice('sha256:'.length)));
}
