import { randomBytes } from 'node:crypto';
import { copyFileSync, mkdirSync } from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { main } from '../../cli/main';
import { readMaterial } from '../../lib/material';
import { withNodeCredentials } from '../../lib/material-users';
import { renderRegistriesYaml } from '../../lib/registries-yaml';
import type { DiskUsage, RepositoryImages } from '../../lib/registry-images';
import { freeLoopbackPort } from '../support/free-port';
import { httpsGet } from '../support/https-request';
import { type MultiArchImage, blobSize, ociImageSize, writeMultiArchImage } from '../support/multi-arch-image';
import { type OciImage, writeOciImage } from '../support/oci-image';
import { describeReal } from '../support/real-software';
import { type RunningRegistry, startRegistry, stopAllRegistries } from '../support/registry-process';
import { materialRegistryEnv } from '../support/material-registry-env';
import { skopeoCopy } from '../support/skopeo';
import { FIXTURE_USER, captureIo, materialTemplate, tempDir, treeHashes, write } from './helpers';

describeReal('private-registry images against the real registry', ['docker-registry', 'skopeo'], () => {
  let served: ReturnType<typeof materialTemplate>;
  let registry: RunningRegistry;
  let noDelete: RunningRegistry;
  let url: string;
  let trustDir: string;
  let base: OciImage;
  let v2: OciImage;
  let other: OciImage;
  let multi: MultiArchImage;
  const repositories = ['app', 'team/other', 'multi'];

  const cli = async (args: string[], dir = served.dir) => {
    const io = captureIo();
    const code = await main(['images', ...args, '--url', url, '--dir', dir, '--page-size', '1'], io);
    return { code, out: io.out(), err: io.err() };
  };
  const push = async (from: string, to: string, port = registry.port, all = false) => {
    const result = await skopeoCopy({
      from,
      to: `docker://localhost:${port}/${to}`,
      creds: FIXTURE_USER,
      certDir: trustDir,
      all,
    });
    expect(result.code, result.stderr).toBe(0);
  };

  beforeAll(async () => {
    served = materialTemplate();
    const work = tempDir('images-real-');
    trustDir = path.join(work, 'trust');
    mkdirSync(trustDir);
    copyFileSync(path.join(served.dir, 'certs/ca.crt'), path.join(trustDir, 'ca.crt'));
    registry = await startRegistry({
      workDir: work,
      env: materialRegistryEnv(served.dir, path.join(work, 'storage'), await freeLoopbackPort()),
    });
    url = `https://localhost:${registry.port}`;

    // app:v1 and app:v2 share their base layer with team/other:latest; multi:v1 is a two-platform index.
    // Random bytes: gzip leaves them as big as they are, so sizes are KiB and sharing shows.
    const baseLayer = { 'base/data': randomBytes(20_000) };
    base = writeOciImage(path.join(work, 'base'), { layers: [baseLayer, { 'app/v1': 'one\n' }] });
    v2 = writeOciImage(path.join(work, 'v2'), { layers: [baseLayer, { 'app/v2': 'two\n'.repeat(100) }] });
    other = writeOciImage(path.join(work, 'other'), { layers: [baseLayer, { 'other/file': 'other\n' }] });
    multi = writeMultiArchImage(path.join(work, 'multi'), {
      'linux/amd64': { 'multi/amd64': randomBytes(3000) },
      'linux/arm64': { 'multi/arm64': 'arm64\n'.repeat(30) },
    });
    await push(`oci:${base.dir}:latest`, 'app:v1');
    await push(`oci:${v2.dir}:latest`, 'app:v2');
    await push(`oci:${v2.dir}:latest`, 'app:latest');
    await push(`oci:${other.dir}:latest`, 'team/other:latest');
    await push(`oci:${multi.dir}:latest`, 'multi:v1', registry.port, true);

    const noDeleteWork = tempDir('images-no-delete-');
    noDelete = await startRegistry({
      workDir: noDeleteWork,
      env: {
        ...materialRegistryEnv(served.dir, path.join(noDeleteWork, 'storage'), await freeLoopbackPort()),
        REGISTRY_STORAGE_DELETE_ENABLED: 'false',
      },
    });
    await push(`oci:${base.dir}:latest`, 'app:v1', noDelete.port);
  });

  afterAll(async () => {
    await stopAllRegistries();
  });

  it('list --json: every repository and tag through the Link pages, digests, sizes of config + layers', async () => {
    const result = await cli(['list', '--json']);
    expect(result.code, result.err).toBe(0);
    const listed = JSON.parse(result.out) as RepositoryImages[];
    expect(listed.map((entry) => entry.repository).sort()).toEqual([...repositories].sort());
    const app = listed.find((entry) => entry.repository === 'app');
    expect(app?.images.map((image) => image.tag).sort()).toEqual(['latest', 'v1', 'v2']);
    const v1 = app?.images.find((image) => image.tag === 'v1');
    expect(v1).toMatchObject({ digest: base.manifestDigest, isIndex: false, size: ociImageSize(base) });
    expect(v1?.images[0].layers.map((layer) => layer.digest)).toEqual(base.layers.map((layer) => layer.digest));
    expect(app?.images.find((image) => image.tag === 'latest')?.digest).toBe(v2.manifestDigest);
    expect(result.err).toBe('3 repositories, 5 tags\n');
  });

  it('list: an index with its children, each platform with its own size', async () => {
    const result = await cli(['list', '--json']);
    const index = (JSON.parse(result.out) as RepositoryImages[]).find((entry) => entry.repository === 'multi')
      ?.images[0];
    expect(index).toMatchObject({ tag: 'v1', digest: multi.indexDigest, isIndex: true, manifestSize: multi.indexSize });
    expect(index?.images.map((image) => [image.platform, image.digest, image.size])).toEqual(
      multi.images.map((image) => [image.platform, image.manifestDigest, ociImageSize(image)]),
    );
    expect(index?.size).toBe(multi.images.reduce((sum, image) => sum + ociImageSize(image), 0));
  });

  it('list: a table a person reads, with short digests and binary units', async () => {
    const result = await cli(['list']);
    expect(result.code).toBe(0);
    const lines = result.out.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^REPOSITORY\s+TAG\s+DIGEST\s+SIZE$/);
    expect(lines).toContainEqual(
      expect.stringMatching(new RegExp(`^app\\s+v1\\s+${base.manifestDigest.slice(0, 19)}\\s+[\\d.]+ KiB$`)),
    );
    expect(lines).toContainEqual(expect.stringMatching(/^multi\s+v1\s+sha256:[0-9a-f]{12}\s+[\d.]+ KiB\s+index of 2$/));
    expect(lines).toContainEqual(expect.stringMatching(/^\s+linux\/arm64\s+sha256:[0-9a-f]{12}\s+\d+ B$/));
  });

  it('du: shared layers counted once across repositories and tags', async () => {
    const result = await cli(['du', '--json']);
    expect(result.code, result.err).toBe(0);
    const usage = JSON.parse(result.out) as DiskUsage;
    const blobs = new Map<string, number>();
    const add = (image: OciImage, manifestSize: number) => {
      blobs.set(image.manifestDigest, manifestSize);
      blobs.set(image.configDigest, blobSize(image.dir, image.configDigest));
      for (const layer of image.layers) blobs.set(layer.digest, layer.size);
    };
    for (const image of [base, v2, other]) add(image, blobSize(image.dir, image.manifestDigest));
    for (const image of multi.images) add(image, image.manifestSize);
    blobs.set(multi.indexDigest, multi.indexSize);
    expect(usage.blobs).toBe(blobs.size);
    expect(usage.totalBytes).toBe([...blobs.values()].reduce((sum, size) => sum + size, 0));
    // The base layer is in app and team/other: in neither's "only here".
    const baseLayer = base.layers[0].size;
    const app = usage.repositories.find((entry) => entry.repository === 'app');
    expect(app?.tags).toBe(3);
    expect((app?.bytes ?? 0) - (app?.exclusiveBytes ?? 0)).toBe(baseLayer);
    expect(usage.apparentBytes).toBeGreaterThan(usage.totalBytes);
    const text = await cli(['du']);
    expect(text.out).toMatch(/^total\s+[\d.]+ KiB$/m);
    expect(text.err).toContain('shared layers counted once');
  });

  it('rm REPO:TAG deletes by digest: every tag on it goes, the other tags and repositories stay', async () => {
    const result = await cli(['rm', 'app:latest']);
    expect(result.code, result.err).toBe(0);
    expect(result.out).toBe(`app@${v2.manifestDigest}\n`);
    expect(result.err).toContain(`deleted app:latest (${v2.manifestDigest}, tags latest, v2)`);
    expect(result.err).toContain(
      'until a garbage collection: kubectl -n container-registry create job --from=cronjob/container-registry-gc gc-1735787045',
    );
    const listed = JSON.parse((await cli(['list', '--json'])).out) as RepositoryImages[];
    expect(listed.find((entry) => entry.repository === 'app')?.images.map((image) => image.tag)).toEqual(['v1']);
    const head = await httpsGet(`${url}/v2/app/manifests/${v2.manifestDigest}`, {
      ca: readMaterial(served.dir).ca.certificatePem,
      auth: FIXTURE_USER,
    });
    expect(head.status).toBe(404);
  });

  it('rm REPO@DIGEST of an index deletes its children too', async () => {
    const result = await cli(['rm', `multi@${multi.indexDigest}`]);
    expect(result.code, result.err).toBe(0);
    expect(result.err).toContain('and 2 child images of the index');
    const ca = readMaterial(served.dir).ca.certificatePem;
    for (const image of multi.images) {
      const child = await httpsGet(`${url}/v2/multi/manifests/${image.manifestDigest}`, { ca, auth: FIXTURE_USER });
      expect(child.status).toBe(404);
    }
  });

  it('rm of an image that is not there: exit 1, names it and how to see what is there', async () => {
    const result = await cli(['rm', 'app:nope']);
    expect(result.code).toBe(1);
    expect(result.err).toBe(
      `error: app:nope is not in the registry (HEAD /v2/app/manifests/nope: 404); fix: see what is there: private-registry images list\n`,
    );
  });

  it('rm on a registry with deletion disabled: exit 1 and the fix (REGISTRY_STORAGE_DELETE_ENABLED / deleteEnabled)', async () => {
    const io = captureIo();
    const code = await main(
      ['images', 'rm', 'app:v1', '--url', `https://localhost:${noDelete.port}`, '--dir', served.dir],
      io,
    );
    expect(code).toBe(1);
    expect(io.err()).toMatch(
      /^error: DELETE \/v2\/app\/manifests\/sha256:[0-9a-f]{64}: 405 \(UNSUPPORTED: .*\): deletion is disabled; fix: the registry runs with deletion disabled: set REGISTRY_STORAGE_DELETE_ENABLED=true \(the RegistryServer prop 'deleteEnabled', true by default\)/,
    );
  });

  it('bad references exit 2 before anything is deleted, naming the value and the fix', async () => {
    const before = (await cli(['list', '--json'])).out;
    const cases: [string, string][] = [
      ['app', 'name the tag (e.g. "app:latest") or the digest'],
      [`localhost:${registry.port}/app:v1`, `give the repository without the registry's address, e.g. "app:v1"`],
      ['App:v1', 'a repository is lowercase letters and digits'],
      ['app@sha256:abc', 'a digest is "sha256:" and 64 lowercase hex digits'],
      ['app:.bad', 'a tag is up to 128 letters'],
    ];
    for (const [reference, fix] of cases) {
      const result = await cli(['rm', 'app:v1', reference]);
      expect(result.code, reference).toBe(2);
      expect(result.err).toContain(
        `error: IMAGE must be REPOSITORY:TAG or REPOSITORY@sha256:<64 hex digits>, got ${JSON.stringify(reference)}: ${fix}`,
      );
    }
    expect((await cli(['list', '--json'])).out).toBe(before);
  });

  it('a URL that is not https exits 2 naming --url; nothing listening exits 1 with the fix', async () => {
    const io = captureIo();
    expect(await main(['images', 'list', '--url', 'http://localhost:1', '--dir', served.dir], io)).toBe(2);
    expect(io.err()).toContain('error: --url must be an https:// URL, got "http://localhost:1"');
    const refused = captureIo();
    const port = await freeLoopbackPort();
    expect(await main(['images', 'du', '--url', `https://localhost:${port}`, '--dir', served.dir], refused)).toBe(1);
    expect(refused.err()).toContain(
      `error: GET https://localhost:${port}/v2/_catalog?n=100: connection refused: nothing listens there; fix: start the cluster`,
    );
  });

  it('the default URL is localhost:<nodePort> from the material; a wrong password gets the 401 diagnosis', async () => {
    const dir = served.copy();
    const io = captureIo();
    expect(await main(['images', 'list', '--dir', dir], io)).toBe(1);
    // The fixture material's nodePort is 31113; nothing of ours listens there.
    expect(io.err()).toMatch(/https:\/\/localhost:31113\/v2\/_catalog/);
    const { registries } = readMaterial(dir);
    write(
      dir,
      'certs/registries.yaml',
      renderRegistriesYaml(withNodeCredentials(registries, { ...FIXTURE_USER, password: 'wrong' })),
    );
    const hashes = treeHashes(dir);
    const wrong = await cli(['list'], dir);
    expect(wrong.code).toBe(1);
    expect(wrong.err).toContain('401 Unauthorized: the registry rejects "registry"');
    expect(treeHashes(dir)).toEqual(hashes);
  });

  it('no material directory: exit 2 naming it', async () => {
    const io = captureIo();
    const missing = path.join(tempDir(), 'nothing');
    expect(await main(['images', 'list', '--dir', missing], io)).toBe(2);
    expect(io.err()).toContain(`error: no material directory at ${missing}`);
  });
});
