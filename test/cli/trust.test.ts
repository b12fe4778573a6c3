import * as fs from 'node:fs';
import * as path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { trust } from '../../cli/commands/trust';
import { main } from '../../cli/main';
import { FIXTURE_USER, captureIo, inDirectory, materialTemplate, read, tempDir, treeHashes } from './helpers';

describe('trust', () => {
  let template: ReturnType<typeof materialTemplate>;
  beforeAll(() => {
    template = materialTemplate();
  });

  it('prints where each client looks for the CA, the Docker loopback caveat and a curl line', async () => {
    const io = captureIo();
    expect(await trust({ dir: template.dir, write: false, root: '/' }, io)).toBe(0);
    const out = io.out();
    expect(out).toContain(
      `The registry at localhost:31113 has a certificate from this material's CA (${template.dir}/node/certs/ca.crt)`,
    );
    expect(out).toContain('Docker: /etc/docker/certs.d/localhost:31113/ca.crt\n');
    expect(out).toContain('Docker treats 127.0.0.0/8 as an insecure registry by default');
    expect(out).toContain('Podman, Skopeo, Buildah: /etc/containers/certs.d/localhost:31113/ca.crt\n');
    expect(out).toContain('containerd (ctr, nerdctl): /etc/containerd/certs.d/localhost:31113/hosts.toml\n');
    expect(out).toContain(
      `curl: curl --cacert ${template.dir}/node/certs/ca.crt -u ${FIXTURE_USER.username}:"$(cat ${template.dir}/auth/password)" https://localhost:31113/v2/_catalog\n`,
    );
    expect(out).toContain(`Write the files (as root): private-registry trust --dir ${template.dir} --write\n`);
    expect(io.err()).toBe('');
  });

  it('names the directory in its --write hint only where trust would not find it by itself', async () => {
    const own = captureIo({ env: { REGISTRY_MATERIAL_DIR: template.dir } });
    expect(await main(['trust'], own)).toBe(0);
    expect(own.out()).toContain('Write the files (as root): private-registry trust --write\n');

    const cwd = tempDir();
    fs.cpSync(template.dir, path.join(cwd, 'registry'), { recursive: true });
    const other = captureIo({ env: { REGISTRY_MATERIAL_DIR: path.join(cwd, 'elsewhere') } });
    expect(await inDirectory(cwd, () => main(['trust', '--dir', 'registry'], other))).toBe(0);
    expect(other.out()).toContain('Write the files (as root): private-registry trust --dir registry --write\n');
  });

  it('--write puts the CA and a containerd hosts.toml under --root, atomically, 0644', async () => {
    const root = tempDir();
    const io = captureIo();
    expect(await main(['trust', '--write', '--root', root, '--dir', template.dir], io)).toBe(0);
    const ca = read(template.dir, 'node/certs/ca.crt');
    const files = [
      'etc/docker/certs.d/localhost:31113/ca.crt',
      'etc/containers/certs.d/localhost:31113/ca.crt',
      'etc/containerd/certs.d/localhost:31113/ca.crt',
    ];
    for (const file of files) {
      expect(read(root, file)).toBe(ca);
      expect(fs.statSync(path.join(root, file)).mode & 0o777).toBe(0o644);
    }
    expect(read(root, 'etc/containerd/certs.d/localhost:31113/hosts.toml')).toBe(
      [
        '# Written by private-registry trust: containerd verifies the registry with our CA.',
        'server = "https://localhost:31113"',
        '',
        '[host."https://localhost:31113"]',
        '  capabilities = ["pull", "resolve", "push"]',
        '  ca = "ca.crt"',
        '',
      ].join('\n'),
    );
    expect(
      Object.keys(treeHashes(root))
        .filter((name) => !name.endsWith('/'))
        .sort(),
    ).toEqual([...files, 'etc/containerd/certs.d/localhost:31113/hosts.toml'].sort());
    expect(io.err()).toContain(`wrote ${root}/etc/docker/certs.d/localhost:31113/ca.crt\n`);
  });

  it('--write goes on past files it cannot write, reports them and exits 1', async () => {
    const root = tempDir();
    fs.mkdirSync(path.join(root, 'etc'));
    fs.writeFileSync(path.join(root, 'etc/docker'), 'a file where a directory should be');
    const io = captureIo();
    expect(await main(['trust', '--write', '--root', root, '--dir', template.dir], io)).toBe(1);
    expect(io.err()).toMatch(
      new RegExp(
        `^could not write ${root}/etc/docker/certs.d/localhost:31113/ca.crt: .*\\(run as root, or copy ${template.dir}/node/certs/ca.crt there\\)$`,
        'm',
      ),
    );
    expect(read(root, 'etc/containers/certs.d/localhost:31113/ca.crt')).toBe(read(template.dir, 'node/certs/ca.crt'));
  });

  it('missing material exits 2', async () => {
    const dir = path.join(tempDir(), 'registry');
    const io = captureIo();
    expect(await main(['trust', '--dir', dir], io)).toBe(2);
    expect(io.err()).toBe(
      `error: no material directory at ${dir}: create it with "private-registry init" (or npx cdk8s synth), or point --dir at it\n`,
    );
  });
});
