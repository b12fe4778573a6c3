import * as path from 'node:path';

/** The registry env the Deployment gives, on this material's files (as doctor-live.real.test.ts does). */
export function materialRegistryEnv(materialDir: string, storage: string, port: number): Record<string, string> {
  return {
    REGISTRY_HTTP_ADDR: `127.0.0.1:${port}`,
    REGISTRY_HTTP_SECRET: 'images-test',
    REGISTRY_HTTP_TLS_CERTIFICATE: path.join(materialDir, 'certs/tls.crt'),
    REGISTRY_HTTP_TLS_KEY: path.join(materialDir, 'certs/tls.key'),
    REGISTRY_AUTH: 'htpasswd',
    REGISTRY_AUTH_HTPASSWD_REALM: 'x',
    REGISTRY_AUTH_HTPASSWD_PATH: path.join(materialDir, 'auth/htpasswd'),
    REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY: storage,
    REGISTRY_STORAGE_DELETE_ENABLED: 'true',
  };
}
