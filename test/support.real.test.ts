import bcrypt from 'bcryptjs';
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freeLoopbackPort } from './support/free-port';
import { httpsGet } from './support/https-request';
import { writeOciImage, writeOciImageWithLayers } from './support/oci-image';
import { describeReal, missingTools } from './support/real-software';
import { startRegistry, stopAllRegistries, type RunningRegistry } from './support/registry-process';
import { run } from './support/run';
import { skopeoCopy, skopeoInspect } from './support/skopeo';

describe('missingTools', () => {
  it('finds executables on PATH and reports the absent ones', () => {
    expect(missingTools(['sh', 'no-such-tool-4f1c9e'])).toEqual(['no-such-tool-4f1c9e']);
  });
});

/** A throwaway CA and a server certificate whose SANs are the names the clients use. */
async function makeCerts(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  const openssl = async (...args: string[]): Promise<void> => {
    const result = await run('openssl', args, { cwd: dir });
    expect(result.code, result.stderr).toBe(0);
  };
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  await openssl(
    'req',
    '-x509',
    ...ec,
    '-keyout',
    'ca.key',
    '-out',
    'ca.crt',
    '-days',
    '1',
    '-subj',
    '/CN=support-smoke-ca',
  );
  await openssl('req', ...ec, '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=localhost');
  await writeFile(
    join(dir, 'server.ext'),
    'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n',
  );
  await openssl(
    'x509',
    '-req',
    '-in',
    'server.csr',
    '-CA',
    'ca.crt',
    '-CAkey',
    'ca.key',
    '-CAcreateserial',
    '-out',
    'server.crt',
    '-days',
    '1',
    '-extfile',
    'server.ext',
  );
}

describeReal(
  'test support toolkit against the real registry and skopeo',
  ['docker-registry', 'skopeo', 'openssl', 'tar'],
  () => {
    const user = { username: 'iris', password: 'correct horse' };
    const wrong = { username: 'iris', password: 'wrong' };
    let dir: string;
    let ca: string;
    let registry: RunningRegistry;
    let host: string;
    // skopeo's cert dir holds ca.crt only: any *.key there is taken as a client key needing a *.cert.
    let certDir: string;

    beforeAll(async () => {
      dir = await mkdtemp(join(tmpdir(), 'support-smoke-'));
      const pki = join(dir, 'pki');
      await makeCerts(pki);
      certDir = join(dir, 'trust');
      await mkdir(certDir);
      await copyFile(join(pki, 'ca.crt'), join(certDir, 'ca.crt'));
      ca = await readFile(join(certDir, 'ca.crt'), 'utf8');
      // Cost 5 like `htpasswd -B`; the registry checks the hash on every request.
      await writeFile(join(dir, 'htpasswd'), `${user.username}:${bcrypt.hashSync(user.password, 5)}\n`);
      const port = await freeLoopbackPort();
      registry = await startRegistry({
        workDir: dir,
        env: {
          REGISTRY_HTTP_ADDR: `127.0.0.1:${port}`,
          REGISTRY_HTTP_SECRET: 'support-smoke-secret',
          REGISTRY_HTTP_TLS_CERTIFICATE: join(pki, 'server.crt'),
          REGISTRY_HTTP_TLS_KEY: join(pki, 'server.key'),
          REGISTRY_AUTH: 'htpasswd',
          REGISTRY_AUTH_HTPASSWD_REALM: 'Registry Realm',
          REGISTRY_AUTH_HTPASSWD_PATH: join(dir, 'htpasswd'),
          REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY: join(dir, 'storage'),
        },
      });
      host = `localhost:${registry.port}`;
    });

    afterAll(async () => {
      await stopAllRegistries();
      if (dir) await rm(dir, { recursive: true, force: true });
    });

    it('builds a layer that GNU tar reads back', async () => {
      const image = writeOciImage(join(dir, 'layout'), {
        files: { 'hello.txt': 'hello\n', 'etc/app/config.json': '{}' },
        cmd: ['/bin/sh'],
      });
      const blob = join(dir, 'layout', 'blobs', 'sha256', image.layers[0].digest.slice('sha256:'.length));
      const listing = await run('tar', ['-tvzf', blob]);
      expect(listing.code, listing.stderr).toBe(0);
      expect(listing.stdout).toMatch(/^-rw-r--r-- .* hello\.txt$/m);
      expect(listing.stdout).toMatch(/^-rw-r--r-- .* etc\/app\/config\.json$/m);
    });

    it('pushes the image with skopeo and the catalog lists it', async () => {
      const image = writeOciImage(join(dir, 'layout'), { files: { 'hello.txt': 'hello\n' }, cmd: ['/bin/sh'] });
      const push = await skopeoCopy({
        from: `oci:${image.dir}:latest`,
        to: `docker://${host}/smoke/hello:latest`,
        creds: user,
        certDir,
      });
      expect(push.code, push.stderr).toBe(0);

      const catalog = await httpsGet(`https://${host}/v2/_catalog`, { ca, auth: user });
      expect(catalog.status).toBe(200);
      expect((JSON.parse(catalog.body) as { repositories: string[] }).repositories).toContain('smoke/hello');

      const inspect = await skopeoInspect({ ref: `docker://${host}/smoke/hello:latest`, creds: user, certDir });
      expect(inspect.code, inspect.stderr).toBe(0);
      expect((JSON.parse(inspect.stdout) as { Digest: string }).Digest).toBe(image.manifestDigest);
    });

    it('pushes a 10-layer image', async () => {
      const image = writeOciImageWithLayers(join(dir, 'layout10'), 10);
      const push = await skopeoCopy({
        from: `oci:${image.dir}:latest`,
        to: `docker://${host}/smoke/layers:latest`,
        creds: user,
        certDir,
      });
      expect(push.code, push.stderr).toBe(0);
      const inspect = await skopeoInspect({ ref: `docker://${host}/smoke/layers:latest`, creds: user, certDir });
      expect(inspect.code, inspect.stderr).toBe(0);
      expect((JSON.parse(inspect.stdout) as { Layers: string[] }).Layers).toEqual(image.layers.map((l) => l.digest));
    });

    it('rejects a wrong password (HTTP 401, skopeo "unauthorized")', async () => {
      expect((await httpsGet(`https://${host}/v2/_catalog`, { ca, auth: wrong })).status).toBe(401);
      const inspect = await skopeoInspect({ ref: `docker://${host}/smoke/hello:latest`, creds: wrong, certDir });
      expect(inspect.code).not.toBe(0);
      expect(inspect.stderr).toMatch(/unauthorized/);
    });

    it('answers / with 200 without credentials (usable as probe path) and /v2/ with 401', async () => {
      expect((await httpsGet(`https://${host}/`, { ca })).status).toBe(200);
      const v2 = await httpsGet(`https://${host}/v2/`, { ca });
      expect(v2.status).toBe(401);
      expect(v2.headers['www-authenticate']).toBe('Basic realm="Registry Realm"');
    });

    it('fails startRegistry with the registry output when the registry cannot start', async () => {
      const port = await freeLoopbackPort();
      await expect(
        startRegistry({
          workDir: dir,
          env: {
            REGISTRY_HTTP_ADDR: `127.0.0.1:${port}`,
            REGISTRY_HTTP_TLS_CERTIFICATE: join(dir, 'no-such.crt'),
            REGISTRY_HTTP_TLS_KEY: join(dir, 'no-such.key'),
            REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY: join(dir, 'storage2'),
          },
        }),
      ).rejects.toThrow(/before listening[\s\S]*no-such\.crt/);
    });

    it('stops the registry: the PID is gone', async () => {
      await registry.stop();
      expect(() => process.kill(registry.pid, 0)).toThrow(expect.objectContaining({ code: 'ESRCH' }));
    });
  },
  { root: false },
);
