import type { IncomingHttpHeaders } from 'node:http';
import type * as Https from 'node:https';
import type { Credentials } from './htpasswd';

/** An HTTPS answer, its body read whole (or up to `maxBodyBytes`). */
export interface HttpsAnswer {
  readonly status: number;
  readonly statusMessage: string;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
}

/** How one request is made. */
export interface HttpsRequestOptions {
  /** @default 'GET' */
  readonly method?: string;
  readonly headers?: Record<string, string>;
  /** The CAs to verify the server with: ours alone, or ours with the system's. @default - Node's */
  readonly ca?: string | readonly string[];
  /** With no answer by then, the request fails with an ETIMEDOUT error. */
  readonly timeoutMs: number;
  /** Bytes of the body kept; the rest is read and dropped. @default - all */
  readonly maxBodyBytes?: number;
}

/**
 * One HTTPS request on a connection of its own (no agent: a CLI run makes a few and exits). Resolves with
 * any answer, whatever its status; rejects with the request's error (ECONNREFUSED, a TLS code, ETIMEDOUT),
 * which each caller turns into its own diagnosis (registry-probe.ts's requestFailure).
 */
export function httpsRequest(url: string, options: HttpsRequestOptions): Promise<HttpsAnswer> {
  // node:https (and TLS) loaded on the first request only: doctor without --live never needs it.
  const { request } = require('node:https') as typeof Https;
  const { timeoutMs, maxBodyBytes = Number.POSITIVE_INFINITY } = options;
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method: options.method ?? 'GET',
        headers: options.headers,
        ca: options.ca as string | string[] | undefined,
        agent: false,
        timeout: timeoutMs,
      },
      (res) => {
        const chunks: Buffer[] = [];
        let kept = 0;
        res.on('data', (chunk: Buffer) => {
          if (kept >= maxBodyBytes) return;
          chunks.push(chunk.subarray(0, maxBodyBytes - kept));
          kept += chunk.length;
        });
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            statusMessage: res.statusMessage ?? '',
            headers: res.headers,
            body: Buffer.concat(chunks),
          }),
        );
        res.on('error', reject);
      },
    );
    req.on('timeout', () =>
      req.destroy(Object.assign(new Error(`no answer within ${timeoutMs} ms`), { code: 'ETIMEDOUT' })),
    );
    req.on('error', reject);
    req.end();
  });
}

/** The Authorization header value of HTTP Basic auth. */
export function basicAuthorization({ username, password }: Credentials): string {
  return `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;
}
