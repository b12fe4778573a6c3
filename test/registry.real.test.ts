import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { MATERIAL_FILES, createCertificateAuthority, readMaterial, registrySubjectAltNames } from '../lib';
import { freeLoopbackPort } from './support/free-port';
import { httpsGet } from './support/https-request';
import { writeOciImage } from './support/oci-image';
import { describeReal } from './support/real-software';
import { registryEnvFromManifests } from './support/registry-from-manifests';
import { type RunningRegistry, startRegistry, stopAllRegistries } from './support/registry-process';
import { run } from './support/run';
import { skopeoCopy, skopeoInspect } from './support/skopeo';
import { withRealKeyGeneration } from './support/rsa-key-pool';
import { type SynthesizedApp, synthInProcess } from './support/synth-app';

/**
 * The desktop half of the guide, against the real registry: synthesize the app (in the worker; first
 * material, with new keys from new primes, not the test pool's), start `docker-registry` from the
 * synthesized Deployment and Secrets, and push with skopeo using the generated credentials and CA.
 */
describeReal(
  'the synthesized registry, run for real, takes a push from the desktop',
  ['docker-registry', 'skopeo', 'curl', 'openssl'],
  () => {
    let work: string;
    let app: SynthesizedApp;
    let env: Record<string, string>;
    let registry: RunningRegistry;
    let port: number;
    let caPem: string;
    let trustDir: string;
    let credentials: { username: string; password: string };
    const image = 'hello-world-example:latest';

    const start = async () => {
      registry = await startRegistry({ env, workDir: work });
    };

    beforeAll(async () => {
      work = mkdtempSync(join(tmpdir(), 'registry-real-'));
      const materialDir = join(work, 'registry');
      // New keys, as a first synth makes them (lib/rsa-key.ts): the registry, skopeo, curl and openssl see one.
      app = await withRealKeyGeneration(() => synthInProcess(materialDir, join(work, 'dist')));
      const material = readMaterial(materialDir);
      credentials = material.nodeCredentials;
      caPem = material.ca.certificatePem;
      // skopeo's cert dir must hold ca.crt alone: a *.key there is taken for a client key.
      trustDir = join(work, 'trust');
      mkdirSync(trustDir);
      copyFileSync(join(materialDir, MATERIAL_FILES.caCertificate), join(trustDir, 'ca.crt'));
      writeOciImage(join(work, 'image'), { files: { 'hello.txt': 'hello world\n' }, cmd: ['cat', '/hello.txt'] });
      port = await freeLoopbackPort();
      env = registryEnvFromManifests(app.manifests, join(work, 'pod'), `127.0.0.1:${port}`);
      await start();
    });

    afterAll(async () => {
      await stopAllRegistries();
      if (work) rmSync(work, { recursive: true, force: true });
    });

    it('told the user where the generated password is', () => {
      expect(app.stderr).toContain(`password for user "registry" is in ${join(work, 'registry')}/auth/password`);
      expect(readFileSync(join(work, 'registry', MATERIAL_FILES.password), 'utf8')).toBe(`${credentials.password}\n`);
    });

    it('runs with the synthesized TLS, htpasswd and storage settings', () => {
      expect(env.REGISTRY_AUTH).toBe('htpasswd');
      expect(env.REGISTRY_HTTP_TLS_CERTIFICATE).toBe(join(work, 'pod', 'tls', 'tls.crt'));
      expect(env.REGISTRY_AUTH_HTPASSWD_PATH).toBe(join(work, 'pod', 'auth', 'htpasswd'));
      expect(env.REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY).toBe(join(work, 'pod', 'storage'));
      expect(env.REGISTRY_HTTP_SECRET).toMatch(/^[0-9a-f]{64}$/);
    });

    it('answers the probe path without credentials, and /v2/ only with them', async () => {
      expect((await httpsGet(`https://localhost:${port}/`, { ca: caPem })).status).toBe(200);
      expect((await httpsGet(`https://localhost:${port}/v2/`, { ca: caPem })).status).toBe(401);
      expect((await httpsGet(`https://localhost:${port}/v2/`, { ca: caPem, auth: credentials })).status).toBe(200);
    });

    it('takes a push with the generated credentials and CA, and lists it in the catalog over HTTPS', async () => {
      const push = await skopeoCopy({
        from: `oci:${join(work, 'image')}:latest`,
        to: `docker://localhost:${port}/${image}`,
        creds: credentials,
        certDir: trustDir,
      });
      expect(push.code, push.stderr).toBe(0);
      const catalog = await httpsGet(`https://localhost:${port}/v2/_catalog`, { ca: caPem, auth: credentials });
      expect(catalog.status).toBe(200);
      expect(JSON.parse(catalog.body).repositories).toContain('hello-world-example');
    });

    it('serves every name a client uses with a certificate that verifies (curl --resolve, openssl -checkhost)', async () => {
      const { dnsNames } = registrySubjectAltNames(
        'container-registry.local',
        'container-registry',
        'container-registry',
      );
      expect(dnsNames).toHaveLength(6);
      const tlsCrt = join(work, 'registry', MATERIAL_FILES.tlsCertificate);
      for (const name of dnsNames) {
        expect((await run('openssl', ['x509', '-noout', '-in', tlsCrt, '-checkhost', name])).stdout).toContain(
          `Hostname ${name} does match certificate`,
        );
        const result = await run('curl', [
          '-sS',
          '--fail',
          '--cacert',
          join(trustDir, 'ca.crt'),
          '--resolve',
          `${name}:${port}:127.0.0.1`,
          '-u',
          `${credentials.username}:${credentials.password}`,
          `https://${name}:${port}/v2/_catalog`,
        ]);
        expect(result.code, `${name}: ${result.stderr}`).toBe(0);
      }
      expect((await run('openssl', ['x509', '-noout', '-in', tlsCrt, '-checkip', '127.0.0.1'])).stdout).toContain(
        'IP 127.0.0.1 does match certificate',
      );
      const byIp = await run('curl', [
        '-sS',
        '--fail',
        '--cacert',
        join(trustDir, 'ca.crt'),
        '-u',
        `${credentials.username}:${credentials.password}`,
        `https://127.0.0.1:${port}/v2/`,
      ]);
      expect(byIp.code, byIp.stderr).toBe(0);
    });

    it('refuses a wrong password with 401 and skopeo says unauthorized', async () => {
      const wrong = { username: credentials.username, password: `${credentials.password}x` };
      expect((await httpsGet(`https://localhost:${port}/v2/_catalog`, { ca: caPem, auth: wrong })).status).toBe(401);
      const push = await skopeoCopy({
        from: `oci:${join(work, 'image')}:latest`,
        to: `docker://localhost:${port}/other:latest`,
        creds: wrong,
        certDir: trustDir,
      });
      expect(push.code).not.toBe(0);
      expect(push.stderr).toMatch(/unauthorized|authentication required/i);
    });

    it('fails TLS for a client that trusts another CA', async () => {
      const otherTrust = join(work, 'other-trust');
      mkdirSync(otherTrust);
      writeFileSync(join(otherTrust, 'ca.crt'), createCertificateAuthority().certificatePem);
      const inspect = await skopeoInspect({
        ref: `docker://localhost:${port}/${image}`,
        creds: credentials,
        certDir: otherTrust,
      });
      expect(inspect.code).not.toBe(0);
      expect(inspect.stderr).toContain('x509: certificate signed by unknown authority');
    });

    it('keeps the image across a restart on the same storage (the PersistentVolumeClaim)', async () => {
      const persisted = `docker://localhost:${port}/persisted:latest`;
      const push = await skopeoCopy({
        from: `oci:${join(work, 'image')}:latest`,
        to: persisted,
        creds: credentials,
        certDir: trustDir,
      });
      expect(push.code, push.stderr).toBe(0);
      const before = await skopeoInspect({ ref: persisted, creds: credentials, certDir: trustDir });
      expect(before.code, before.stderr).toBe(0);
      await registry.stop();
      await start();
      expect(registry.pid).toBeGreaterThan(0);
      const after = await skopeoInspect({ ref: persisted, creds: credentials, certDir: trustDir });
      expect(after.code, after.stderr).toBe(0);
      expect(JSON.parse(after.stdout).Digest).toBe(JSON.parse(before.stdout).Digest);
    });
  },
  { root: false },
);
