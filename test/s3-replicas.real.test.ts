import { randomBytes } from 'node:crypto';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { main } from '../cli/main';
import { MATERIAL_FILES, generateMaterial, readMaterial, writeNewMaterial } from '../lib';
import { S3_STORAGE_FILE } from '../lib/material-storage';
import { type CephRgw, CEPH_TOOLS, startCephRgw } from './support/ceph-rgw';
import { withPath } from './support/child-process';
import { captureIo } from './cli/helpers';
import { freeLoopbackPort } from './support/free-port';
import { type OciImage, writeOciImage } from './support/oci-image';
import { describeReal } from './support/real-software';
import { type RegistryEndpoint, layoutBlob, pullImage, registryRequest, sha256Digest } from './support/registry-client';
import { registryEnvFromManifests } from './support/registry-from-manifests';
import { type RunningRegistry, startRegistry, stopAllRegistries } from './support/registry-process';
import { run } from './support/run';
import { skopeoCopy } from './support/skopeo';
import { type SynthesizedApp, synthInProcess } from './support/synth-app';

const BUCKET = 'container-registry';
const MiB = 1024 * 1024;

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/**
 * The S3 mode for real: a single-node Ceph RADOS Gateway on loopback, the bucket and keys stored with
 * `private-registry storage s3`, the app synthesized in the worker, and two `docker-registry` processes started from the
 * synthesized Deployment and Secrets, as two replicas on two nodes would run. The first and the last test
 * check the Ceph harness itself (one cluster serves both: starting one costs about a second of CPU).
 */
describeReal(
  'two registry replicas from the synthesized S3 Deployment share one Ceph RGW bucket',
  ['docker-registry', 'skopeo', 'openssl', ...CEPH_TOOLS],
  () => {
    let work: string;
    let ceph: CephRgw;
    let app: SynthesizedApp;
    let materialDir: string;
    let trustDir: string;
    let ca: string;
    let credentials: { username: string; password: string };
    const replicas: { env: Record<string, string>; port: number; process?: RunningRegistry }[] = [];

    const endpoint = (index: number): RegistryEndpoint => ({
      base: `https://localhost:${replicas[index].port}`,
      ca,
      auth: credentials,
    });
    const startReplica = async (index: number) => {
      const replica = replicas[index];
      mkdirSync(join(work, `replica-${index}`), { recursive: true });
      replica.process = await startRegistry({ env: replica.env, workDir: join(work, `replica-${index}`) });
    };
    const push = (image: OciImage, index: number, ref: string) =>
      skopeoCopy({
        from: `oci:${image.dir}:latest`,
        to: `docker://localhost:${replicas[index].port}/${ref}`,
        creds: credentials,
        certDir: trustDir,
        timeoutMs: 120_000,
      });
    /** Pulls through `index` and compares every blob with the layout's bytes. */
    const expectSameImage = async (index: number, name: string, tag: string, image: OciImage) => {
      const pulled = await pullImage(endpoint(index), name, tag);
      expect(sha256Digest(pulled.manifest)).toBe(image.manifestDigest);
      for (const digest of [image.configDigest, ...image.layers.map((layer) => layer.digest)]) {
        expect(pulled.blobs.get(digest)?.equals(layoutBlob(image.dir, digest)), digest).toBe(true);
      }
    };
    const image = (name: string, files: Record<string, string | Uint8Array>) =>
      writeOciImage(join(work, 'images', name), { files, cmd: ['cat', '/hello.txt'] });

    beforeAll(async () => {
      work = mkdtempSync(join(tmpdir(), 's3-replicas-'));
      ceph = await startCephRgw();
      await ceph.createBucket(BUCKET);

      // The user's path: material, then the bucket and keys through the CLI (secret key on stdin), then synth.
      materialDir = join(work, 'registry');
      writeNewMaterial(materialDir, generateMaterial());
      const io = captureIo({ stdin: `${ceph.secretAccessKey}\n` });
      const code = await main(
        [
          'storage',
          's3',
          '--dir',
          materialDir,
          '--endpoint',
          ceph.endpoint,
          '--region',
          ceph.region,
          '--bucket',
          BUCKET,
          '--access-key-id',
          ceph.accessKeyId,
          '--secret-access-key-stdin',
          '--insecure-http',
        ],
        io,
      );
      if (code !== 0) throw new Error(`storage s3 exited ${code}: ${io.err()}`);
      app = await synthInProcess(materialDir, join(work, 'dist'));

      const material = readMaterial(materialDir);
      credentials = material.nodeCredentials;
      ca = material.ca.certificatePem;
      trustDir = join(work, 'trust');
      mkdirSync(trustDir);
      copyFileSync(join(materialDir, MATERIAL_FILES.caCertificate), join(trustDir, 'ca.crt'));
      for (const index of [0, 1]) {
        const port = await freeLoopbackPort();
        // Each replica gets its own copy of the Secret volumes, as each pod does.
        const env = registryEnvFromManifests(app.manifests, join(work, `pod-${index}`), `127.0.0.1:${port}`);
        replicas.push({ env, port });
      }
      await Promise.all([startReplica(0), startReplica(1)]);
    }, 180_000);

    afterAll(async () => {
      await stopAllRegistries();
      await ceph?.stop();
      if (work) rmSync(work, { recursive: true, force: true });
    });

    it('the Ceph RGW harness serves S3 on 127.0.0.1, to signed requests only', async () => {
      expect(ceph.endpoint).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      for (const pid of Object.values(ceph.pids)) expect(alive(pid)).toBe(true);
      await ceph.createBucket('harness-bucket');
      expect(await ceph.listKeys('harness-bucket')).toEqual([]);
      // Unsigned: refused, so the registry's signed requests are what is being tested.
      const anonymous = await run('curl', [
        '-s',
        '-o',
        '/dev/null',
        '-w',
        '%{http_code}',
        '-X',
        'PUT',
        `${ceph.endpoint}/anonymous-bucket`,
      ]);
      expect(anonymous.stdout).toBe('403');
    });

    it('the synthesized registry runs on the bucket, its keys only in the S3 Secret, with no volume', () => {
      const file = join(materialDir, S3_STORAGE_FILE);
      expect(statSync(file).mode & 0o777).toBe(0o600);
      expect(app.manifests.filter((object) => object.kind === 'PersistentVolumeClaim')).toEqual([]);
      const deployment = app.manifests.find((object) => object.kind === 'Deployment');
      expect(deployment.spec.replicas).toBe(2);
      expect(deployment.spec.template.spec.volumes.map((volume: any) => volume.name)).not.toContain('storage');
      for (const object of app.manifests.filter((candidate) => candidate.metadata.name !== 'container-registry-s3')) {
        const text = JSON.stringify(object);
        expect(text).not.toContain(ceph.secretAccessKey);
        expect(text).not.toContain(Buffer.from(ceph.secretAccessKey).toString('base64'));
      }
      const env = replicas[0].env;
      expect(env.REGISTRY_STORAGE).toBe('s3');
      expect(env.REGISTRY_STORAGE_S3_REGIONENDPOINT).toBe(ceph.endpoint);
      expect(env.REGISTRY_STORAGE_S3_SECURE).toBe('false');
      expect(env.REGISTRY_STORAGE_S3_SECRETKEY).toBe(ceph.secretAccessKey);
      expect(env.REGISTRY_STORAGE_REDIRECT_DISABLE).toBe('true');
      expect(env.REGISTRY_HTTP_SECRET).toBe(replicas[1].env.REGISTRY_HTTP_SECRET);
      expect('AWS_CA_BUNDLE' in env).toBe(false);
    });

    let hello: OciImage;
    it('a push through one replica is pulled through the other, byte for byte', async () => {
      hello = image('hello', { 'hello.txt': 'hello through replica A\n' });
      const pushed = await push(hello, 0, 'hello:1.0');
      expect(pushed.code, pushed.stderr).toBe(0);
      await expectSameImage(1, 'hello', '1.0', hello);
      // The blobs are in the bucket, not on any disk of the replicas.
      const keys = await ceph.listKeys(
        BUCKET,
        `docker/registry/v2/blobs/sha256/${hello.layers[0].digest.slice(7, 9)}/`,
      );
      expect(keys).toContain(
        `docker/registry/v2/blobs/sha256/${hello.layers[0].digest.slice(7, 9)}/${hello.layers[0].digest.slice(7)}/data`,
      );
    });

    it('one blob upload is split across the replicas: started on A, continued on B, finished on A', async () => {
      const first = randomBytes(64 * 1024);
      const second = randomBytes(32 * 1024);
      const third = randomBytes(16 * 1024);
      const digest = sha256Digest(Buffer.concat([first, second, third]));
      const octets = { 'content-type': 'application/octet-stream' };

      const started = await registryRequest(endpoint(0), 'POST', '/v2/split/blobs/uploads/');
      expect(started.status).toBe(202);
      const patchedA = await registryRequest(endpoint(0), 'PATCH', String(started.headers.location), {
        body: first,
        headers: octets,
      });
      expect(patchedA.status).toBe(202);
      const patchedB = await registryRequest(endpoint(1), 'PATCH', String(patchedA.headers.location), {
        body: second,
        headers: octets,
      });
      expect(patchedB.status, patchedB.body.toString()).toBe(202);
      expect(patchedB.headers.range).toBe(`0-${first.length + second.length - 1}`);
      const location = new URL(String(patchedB.headers.location), endpoint(0).base);
      location.searchParams.set('digest', digest);
      const finished = await registryRequest(endpoint(0), 'PUT', location.pathname + location.search, {
        body: third,
        headers: octets,
      });
      expect(finished.status, finished.body.toString()).toBe(201);
      const fetched = await registryRequest(endpoint(1), 'GET', `/v2/split/blobs/${digest}`);
      expect(fetched.status).toBe(200);
      expect(fetched.body.equals(Buffer.concat([first, second, third]))).toBe(true);
    });

    it('the upload state is signed with the shared HTTP secret: a replica with another secret refuses it', async () => {
      const started = await registryRequest(endpoint(0), 'POST', '/v2/split-other/blobs/uploads/');
      expect(started.status).toBe(202);
      const port = await freeLoopbackPort();
      const stranger = await startRegistry({
        env: {
          ...replicas[1].env,
          REGISTRY_HTTP_ADDR: `127.0.0.1:${port}`,
          REGISTRY_HTTP_SECRET: 'not-the-shared-one',
        },
        workDir: join(work, 'replica-1'),
      });
      try {
        const patched = await registryRequest(
          { ...endpoint(1), base: `https://localhost:${port}` },
          'PATCH',
          String(started.headers.location),
          { body: randomBytes(1024), headers: { 'content-type': 'application/octet-stream' } },
        );
        expect(patched.status).toBe(404);
        expect(patched.body.toString()).toContain('BLOB_UPLOAD_INVALID');
      } finally {
        await stranger.stop();
      }
    });

    it('serves blobs itself (redirect disabled); with redirects on, clients would be sent to the S3 endpoint', async () => {
      const digest = hello.layers[0].digest;
      const served = await registryRequest(endpoint(1), 'GET', `/v2/hello/blobs/${digest}`);
      expect(served.status).toBe(200);
      const port = await freeLoopbackPort();
      const redirecting = await startRegistry({
        env: {
          ...replicas[1].env,
          REGISTRY_HTTP_ADDR: `127.0.0.1:${port}`,
          REGISTRY_STORAGE_REDIRECT_DISABLE: 'false',
        },
        workDir: join(work, 'replica-1'),
      });
      try {
        const redirected = await registryRequest(
          { ...endpoint(1), base: `https://localhost:${port}` },
          'GET',
          `/v2/hello/blobs/${digest}`,
        );
        expect(redirected.status).toBe(307);
        expect(String(redirected.headers.location)).toMatch(new RegExp(`^${ceph.endpoint}/${BUCKET}/`));
      } finally {
        await redirecting.stop();
      }
    });

    it('concurrent pushes through both replicas, one tag pushed through both at once, all pull back intact', async () => {
      const images = ['one', 'two', 'three', 'four'].map((name) =>
        image(`concurrent-${name}`, { 'hello.txt': `concurrent ${name} ${randomBytes(8).toString('hex')}\n` }),
      );
      const results = await Promise.all([
        push(images[0], 0, 'concurrent/one:1'),
        push(images[1], 1, 'concurrent/two:1'),
        push(images[2], 0, 'concurrent/shared:1'),
        push(images[2], 1, 'concurrent/shared:1'),
        push(images[3], 1, 'concurrent/four:1'),
      ]);
      for (const result of results) expect(result.code, result.stderr).toBe(0);
      await expectSameImage(1, 'concurrent/one', '1', images[0]);
      await expectSameImage(0, 'concurrent/two', '1', images[1]);
      await expectSameImage(0, 'concurrent/shared', '1', images[2]);
      await expectSameImage(1, 'concurrent/shared', '1', images[2]);
      await expectSameImage(0, 'concurrent/four', '1', images[3]);
    });

    let big: OciImage;
    it('a replica killed mid-push (SIGKILL) leaves no image behind, and a retry through the other succeeds', async () => {
      big = image('big', { 'hello.txt': 'big\n', 'payload.bin': randomBytes(64 * MiB) });
      const layer = big.layers[0];
      expect(layer.size).toBeGreaterThanOrEqual(60 * MiB);
      const pushing = push(big, 0, 'big:1.0');
      // Kill once the upload exists in the bucket, long before its 64 MiB are through.
      const uploads = 'docker/registry/v2/repositories/big/_uploads/';
      const deadline = Date.now() + 60_000;
      while ((await ceph.listKeys(BUCKET, uploads)).length === 0) {
        if (Date.now() > deadline) throw new Error('no upload of big:1.0 appeared in the bucket within 60 s');
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      process.kill(replicas[0].process?.pid as number, 'SIGKILL');
      const interrupted = await pushing;
      await replicas[0].process?.stop();
      expect(interrupted.code, 'the push finished before the kill: nothing was interrupted').not.toBe(0);

      const manifest = await registryRequest(endpoint(1), 'GET', '/v2/big/manifests/1.0');
      expect(manifest.status).toBe(404);
      expect((await registryRequest(endpoint(1), 'HEAD', `/v2/big/blobs/${layer.digest}`)).status).toBe(404);

      const retried = await push(big, 1, 'big:1.0');
      expect(retried.code, retried.stderr).toBe(0);
      await startReplica(0);
    });

    it('the ≥ 60 MiB layer (the multipart path) round-trips through the restarted replica, byte for byte', async () => {
      expect(big.layers[0].size).toBeGreaterThanOrEqual(60 * MiB);
      await expectSameImage(0, 'big', '1.0', big);
    });

    it('garbage-collect on the bucket (replicas stopped) deletes an untagged image and keeps the others', async () => {
      const doomed = image('doomed', { 'hello.txt': `doomed ${randomBytes(8).toString('hex')}\n` });
      expect((await push(doomed, 0, 'doomed:1')).code).toBe(0);
      const deleted = await registryRequest(endpoint(1), 'DELETE', `/v2/doomed/manifests/${doomed.manifestDigest}`);
      expect(deleted.status).toBe(202);
      const blobKey = (digest: string) =>
        `docker/registry/v2/blobs/sha256/${digest.slice(7, 9)}/${digest.slice(7)}/data`;
      const blobKeys = async (digest: string) => ceph.listKeys(BUCKET, blobKey(digest));
      expect(await blobKeys(doomed.layers[0].digest)).toEqual([blobKey(doomed.layers[0].digest)]);

      await Promise.all(replicas.map((replica) => replica.process?.stop()));
      const config = join(work, 'gc-config.yml');
      writeFileSync(config, 'version: 0.1\n');
      const gc = await run('docker-registry', ['garbage-collect', '--delete-untagged', config], {
        env: withPath(replicas[0].env),
        timeoutMs: 120_000,
      });
      expect(gc.code, gc.stderr).toBe(0);
      expect(gc.stdout + gc.stderr).toContain(doomed.layers[0].digest);

      expect(await blobKeys(doomed.layers[0].digest)).toEqual([]);
      expect(await blobKeys(big.layers[0].digest)).toEqual([blobKey(big.layers[0].digest)]);
      await startReplica(1);
      await expectSameImage(1, 'hello', '1.0', hello);
    });

    // Last: it stops the cluster.
    it('the Ceph RGW harness stops every daemon by PID and removes its directory', async () => {
      const pids = Object.values(ceph.pids);
      const confDir = /--conf (\S+)\/ceph\.conf/.exec(
        readFileSync(`/proc/${ceph.pids.rgw}/cmdline`, 'utf8').replace(/\0/g, ' '),
      )?.[1];
      expect(confDir).toBeDefined();
      expect(existsSync(confDir as string)).toBe(true);
      await ceph.stop();
      for (const pid of pids) expect(alive(pid), `pid ${pid} still runs`).toBe(false);
      expect(existsSync(confDir as string)).toBe(false);
    });
  },
);
