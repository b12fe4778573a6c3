import { request } from 'node:https';
import type { Credentials } from '../../lib/htpasswd';

export interface HttpsGetOptions {
  /** PEM of the CA that signed the server certificate. */
  ca: string | Buffer;
  auth?: Credentials;
  timeoutMs?: number;
}

export interface HttpsResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** A GET that verifies the server against exactly `ca` (no system trust store), like a pinned client. */
export function httpsGet(url: string, options: HttpsGetOptions): Promise<HttpsResponse> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = {};
    if (options.auth) {
      const token = Buffer.from(`${options.auth.username}:${options.auth.password}`).toString('base64');
      headers.authorization = `Basic ${token}`;
    }
    const req = request(
      url,
      { method: 'GET', ca: options.ca, headers, agent: false, timeout: options.timeoutMs ?? 10_000 },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`GET ${url} timed out`)));
    req.on('error', reject);
    req.end();
  });
}
