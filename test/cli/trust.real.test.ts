import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { main } from '../../cli/main';
import { type NodeSandbox, startNodeSandbox } from '../support/node-sandbox';
import { writeOciImage } from '../support/oci-image';
import { describeReal } from '../support/real-software';
import type { RunResult } from '../support/run';
import { skopeoCopy } from '../support/skopeo';
import { FIXTURE_USER, captureIo, materialTemplate, tempDir } from './helpers';

/**
 * `trust --write` as the desktop sees it: the registry on localhost:31113 (inside a network namespace of
 * its own, so the real port is free), and real skopeo and containerd reading only the files trust wrote.
 */
// `ss`: the sandbox's readiness check (readyListen) asks it whether the registry listens yet.
describeReal(
  'trust --write: desktop clients verify the registry with the files it writes',
  ['ip', 'ss', 'containerd', 'ctr', 'docker-registry', 'skopeo'],
  () => {
    const host = 'localhost:31113';
    let desktop: NodeSandbox;
    let root: string;
    let image: string;
    let emptyCertDir: string;
    const certsDir = (client: 'docker' | 'containers' | 'containerd'): string =>
      path.join(root, 'etc', client, 'certs.d');

    beforeAll(async () => {
      const material = materialTemplate();
      const work = tempDir('cli-trust-real-');
      desktop = await startNodeSandbox({ dns: false, namePrefix: 'trust' });
      fs.writeFileSync(path.join(work, 'registry.yml'), 'version: 0.1\n');
      await desktop.spawnInNode('docker-registry', ['serve', path.join(work, 'registry.yml')], {
        env: {
          REGISTRY_HTTP_ADDR: '127.0.0.1:31113',
          REGISTRY_HTTP_SECRET: 'trust-real-test',
          REGISTRY_HTTP_TLS_CERTIFICATE: path.join(material.dir, 'certs/tls.crt'),
          REGISTRY_HTTP_TLS_KEY: path.join(material.dir, 'certs/tls.key'),
          REGISTRY_AUTH: 'htpasswd',
          REGISTRY_AUTH_HTPASSWD_REALM: 'x',
          REGISTRY_AUTH_HTPASSWD_PATH: path.join(material.dir, 'auth/htpasswd'),
          REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY: path.join(work, 'storage'),
        },
        readyListen: { host: '127.0.0.1', port: 31113 },
      });
      root = path.join(work, 'root');
      const io = captureIo();
      expect(await main(['trust', '--write', '--root', root, '--dir', material.dir], io), io.err()).toBe(0);
      image = `oci:${writeOciImage(path.join(work, 'image'), { files: { 'hello.txt': 'hello\n' } }).dir}:latest`;
      emptyCertDir = path.join(work, 'no-trust');
      fs.mkdirSync(emptyCertDir);
    });

    afterAll(async () => {
      await desktop?.dispose();
    });

    const ok = (result: RunResult): void => expect(result.code, `${result.stdout}\n${result.stderr}`).toBe(0);
    const push = (repository: string, certDir: string) =>
      skopeoCopy({
        from: image,
        to: `docker://${host}/${repository}:latest`,
        creds: FIXTURE_USER,
        certDir,
        runner: desktop.execInNode,
      });

    it('without the CA a verifying client refuses the registry', async () => {
      const result = await push('trust/none', emptyCertDir);
      expect(result.code).not.toBe(0);
      expect(result.stderr).toContain('x509: certificate signed by unknown authority');
    });

    it('Podman, Skopeo, Buildah: /etc/containers/certs.d/localhost:31113/ca.crt', async () => {
      ok(await push('trust/containers', path.join(certsDir('containers'), host)));
    });

    it("Docker's certs.d/localhost:31113 has the same layout, which skopeo reads too", async () => {
      ok(await push('trust/docker', path.join(certsDir('docker'), host)));
    });

    it('containerd: /etc/containerd/certs.d/localhost:31113/hosts.toml pulls over https with the CA beside it', async () => {
      // Its own image, so this test stands alone (pushed through the Podman/Skopeo file, checked above).
      ok(await push('trust/containerd', path.join(certsDir('containers'), host)));
      ok(
        await desktop.pullImage(`${host}/trust/containerd:latest`, {
          credentials: FIXTURE_USER,
          hostsDir: certsDir('containerd'),
        }),
      );
      // Without the hosts.toml containerd speaks plain http to a localhost port, and the TLS port answers 400.
      const bare = await desktop.pullImage(`${host}/trust/containerd:latest`, {
        credentials: FIXTURE_USER,
        hostsDir: emptyCertDir,
      });
      expect(bare.code).not.toBe(0);
      expect(bare.stderr).toContain('400 Bad Request');
    });
  },
);
