import * as path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { main } from '../../cli/main';
import { readMaterial } from '../../lib/material';
import { withNodeCredentials } from '../../lib/material-users';
import { renderRegistriesYaml } from '../../lib/registries-yaml';
import { freeLoopbackPort } from '../support/free-port';
import { describeReal } from '../support/real-software';
import { type RunningRegistry, startRegistry } from '../support/registry-process';
import { captureIo, materialTemplate, tempDir, write } from './helpers';

describeReal('doctor --live against the real registry', ['docker-registry'], () => {
  let served: ReturnType<typeof materialTemplate>;
  let registry: RunningRegistry;
  let url: string;
  let noDist: string;

  beforeAll(async () => {
    // The registry serves this material's certificate and htpasswd, exactly as the Deployment would.
    served = materialTemplate();
    const work = tempDir('cli-live-');
    noDist = path.join(work, 'dist');
    const port = await freeLoopbackPort();
    registry = await startRegistry({
      workDir: work,
      env: {
        REGISTRY_HTTP_ADDR: `127.0.0.1:${port}`,
        REGISTRY_HTTP_SECRET: 'doctor-live-test',
        REGISTRY_HTTP_TLS_CERTIFICATE: path.join(served.dir, 'certs/tls.crt'),
        REGISTRY_HTTP_TLS_KEY: path.join(served.dir, 'certs/tls.key'),
        REGISTRY_AUTH: 'htpasswd',
        REGISTRY_AUTH_HTPASSWD_REALM: 'x',
        REGISTRY_AUTH_HTPASSWD_PATH: path.join(served.dir, 'auth/htpasswd'),
        REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY: path.join(work, 'storage'),
      },
    });
    // localhost, as the desktop pushes; the certificate names it.
    url = `https://localhost:${registry.port}`;
  });

  afterAll(async () => {
    await registry?.stop();
  });

  const doctorLive = async (dir: string): Promise<{ code: number; live: string; out: string }> => {
    const io = captureIo({ now: new Date() });
    const code = await main(['doctor', '--live', '--url', url, '--dir', dir, '--dist', noDist], io);
    const live =
      io
        .out()
        .split('\n')
        .find((line) => line.includes('live registry:')) ?? '';
    return { code, live, out: io.out() };
  };

  it('passes with the material the registry serves', async () => {
    const result = await doctorLive(served.copy());
    expect(result.code, `${result.out}\n${registry.logs()}`).toBe(0);
    expect(result.live).toBe(
      `ok    live registry: GET ${url}/v2/: 200, TLS verified with our CA, logged in as "registry"`,
    );
  });

  it('diagnoses 401 when registries.yaml has a password the registry does not accept', async () => {
    const dir = served.copy();
    const { registries } = readMaterial(dir);
    write(
      dir,
      'node/certs/registries.yaml',
      renderRegistriesYaml(withNodeCredentials(registries, { username: 'registry', password: 'not-the-password' })),
    );
    const result = await doctorLive(dir);
    expect(result.code).toBe(1);
    expect(result.live).toBe(
      `FAIL  live registry: GET ${url}/v2/: 401 Unauthorized: the registry rejects "registry" with the password in registries.yaml; ` +
        'fix: the registry runs another htpasswd than the material: npx cdk8s synth && kubectl apply -f dist (check the password with private-registry user verify)',
    );
  });

  it('diagnoses TLS when the registry serves a certificate from another CA', async () => {
    const other = materialTemplate();
    const result = await doctorLive(other.dir);
    expect(result.code).toBe(1);
    expect(result.live).toBe(
      `FAIL  live registry: GET ${url}/v2/: TLS failed: x509: certificate signed by unknown authority (UNABLE_TO_VERIFY_LEAF_SIGNATURE: unable to verify the first certificate); ` +
        'fix: the registry serves a certificate this CA did not sign: npx cdk8s synth && kubectl apply -f dist (the pod restarts with the new certificate)',
    );
  });
});
