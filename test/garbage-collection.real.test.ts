import { createHash, randomBytes } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { Testing } from 'cdk8s';
import { main } from '../cli/main';
import { RegistryChart } from '../lib';
import { MATERIAL_FILES } from '../lib/material';
import { captureIo, FIXTURE_USER, materialTemplate, tempDir } from './cli/helpers';
import { withPath } from './support/child-process';
import { fixtureMaterial } from './support/fixture-material';
import { freeLoopbackPort } from './support/free-port';
import { materialRegistryEnv } from './support/material-registry-env';
import { type MultiArchImage, writeMultiArchImage } from './support/multi-arch-image';
import { type OciImage, writeOciImage } from './support/oci-image';
import { describeReal } from './support/real-software';
import { type RunningRegistry, startRegistry, stopAllRegistries } from './support/registry-process';
import { run } from './support/run';
import { skopeoCopy } from './support/skopeo';

/** How long GC is held between its mark phase and its sweep, so that pushes certainly land inside a collection. */
const SWEEP_DELAY_MS = 2_000;
/**
 * How often each of the pushers that run through a collection starts a push, and a retry after a failure (a
 * client backs off). Unpaced, three pushers on an idle machine made ~750 skopeo runs in one test, each served
 * by the registry, for no more proof: the held collection still meets several attempts of each pusher.
 */
const PUSH_INTERVAL_MS = 300;
const RETRY_INTERVAL_MS = 600;
/** What a client may retry: the read-only registry's 405, or no registry while the pod is replaced. */
const RETRYABLE = /StatusCode: 405, Method not allowed|connection refused|EOF|connection reset|broken pipe/;

/**
 * Reclaiming disk with the real registry binary on one storage directory, by the synthesized maintenance
 * Job's own steps (RegistryGarbageCollection) played against a stand-in for kubectl: the read-write
 * registry stops (Recreate: the old pod is gone before the new one starts), a read-only one starts on the
 * same storage, `garbage-collect` runs (never --delete-untagged), and the read-write registry comes back.
 * Contrasted with a collection while the registry takes writes.
 */
describeReal(
  'garbage collection never loses a pushed image (real registry, one storage)',
  ['docker-registry', 'skopeo', 'strace'],
  () => {
    let served: ReturnType<typeof materialTemplate>;
    let work: string;
    let trustDir: string;
    let storage: string;
    let port: number;
    let registry: RunningRegistry;
    let imageCount = 0;

    /** What `kubectl set env` has added to the Deployment's env. */
    const setEnv: Record<string, string> = {};
    const env = () => ({ ...materialRegistryEnv(served.dir, storage, port), ...setEnv });
    const serve = async () => {
      registry = await startRegistry({ env: env(), workDir: work });
    };

    /**
     * `docker-registry garbage-collect` on the storage. With `holdSweepMs`, strace holds its first look at
     * the blobs directory, which it makes after marking what manifests use and before deleting the rest.
     */
    const collectGarbage = async (holdSweepMs = 0) => {
      const config = path.join(work, 'registry-config.yml');
      const gc = ['docker-registry', 'garbage-collect', config];
      const blobs = path.join(storage, 'docker/registry/v2/blobs');
      const hold = ['-f', '-qq', '-o', '/dev/null', '-P', blobs, '-e', 'trace=openat'];
      hold.push('-e', `inject=openat:delay_enter=${holdSweepMs * 1000}:when=1`);
      const started = Date.now();
      const result = await run(holdSweepMs > 0 ? 'strace' : gc[0], holdSweepMs > 0 ? [...hold, ...gc] : gc.slice(1), {
        env: withPath(env()),
      });
      expect(result.code, result.stderr).toBe(0);
      return { ms: Date.now() - started, output: result.stdout + result.stderr };
    };

    const newImage = (name: string, layers: Record<string, string | Uint8Array>[]): OciImage =>
      writeOciImage(path.join(work, 'images', `${name}-${imageCount++}`), { layers });
    const push = (image: OciImage, reference: string) =>
      skopeoCopy({
        from: `oci:${image.dir}:latest`,
        to: `docker://localhost:${port}/${reference}`,
        creds: FIXTURE_USER,
        certDir: trustDir,
        timeoutMs: 30_000,
      });
    /** A pull that verifies every blob's digest; resolves with the manifest digest, or the error. */
    const pull = async (reference: string, all = false): Promise<{ ok: boolean; digest?: string; stderr: string }> => {
      mkdirSync(path.join(work, 'pulled'), { recursive: true });
      const target = path.join(work, 'pulled', `${imageCount++}`);
      const result = await skopeoCopy({
        from: `docker://localhost:${port}/${reference}`,
        to: `dir:${target}`,
        srcCreds: FIXTURE_USER,
        srcCertDir: trustDir,
        all,
      });
      if (result.code !== 0) return { ok: false, stderr: result.stderr };
      const manifest = readFileSync(path.join(target, 'manifest.json'));
      return { ok: true, digest: `sha256:${createHash('sha256').update(manifest).digest('hex')}`, stderr: '' };
    };
    const blobFile = (digest: string) =>
      path.join(storage, 'docker/registry/v2/blobs/sha256', digest.slice(7, 9), digest.slice(7), 'data');
    const blobsOf = (image: OciImage) => [
      image.manifestDigest,
      image.configDigest,
      ...image.layers.map((l) => l.digest),
    ];
    /** Every blob file in the storage → its size. */
    const storedBlobs = (): Map<string, number> => {
      const blobs = new Map<string, number>();
      const root = path.join(storage, 'docker/registry/v2/blobs/sha256');
      if (!existsSync(root)) return blobs;
      for (const prefix of readdirSync(root))
        for (const hex of readdirSync(path.join(root, prefix))) {
          const data = path.join(root, prefix, hex, 'data');
          if (existsSync(data)) blobs.set(`sha256:${hex}`, statSync(data).size);
        }
      return blobs;
    };
    const du = async () => Number((await run('du', ['-sb', storage])).stdout.split('\t')[0]);
    const images = async (...args: string[]) => {
      const io = captureIo();
      const code = await main(['images', ...args, '--url', `https://localhost:${port}`, '--dir', served.dir], io);
      return { code, out: io.out(), err: io.err() };
    };

    /**
     * A stand-in for kubectl and the Deployment controller, for the commands the Job runs: `set env` replaces
     * the registry (Recreate: the old process has exited before the new one starts), `rollout status` finds it
     * serving, `exec ... -- registry garbage-collect` runs the collection on the same storage.
     */
    const kubectl = async (args: readonly string[], holdSweepMs: number) => {
      expect(args.slice(0, 2)).toEqual(['--namespace', 'container-registry']);
      const [verb, ...rest] = args.slice(2);
      if (verb === 'set' && rest[0] === 'env' && rest[1] === 'deployment/container-registry') {
        const assignment = rest[rest.length - 1];
        if (assignment.endsWith('-')) delete setEnv[assignment.slice(0, -1)];
        else setEnv[assignment.slice(0, assignment.indexOf('='))] = assignment.slice(assignment.indexOf('=') + 1);
        await registry.stop();
        await serve();
        return undefined;
      }
      if (verb === 'rollout' && rest[0] === 'status') {
        expect(registry.logs()).toContain('listening on');
        return undefined;
      }
      if (verb === 'exec') {
        const command = rest.slice(rest.indexOf('--') + 1);
        expect(command.slice(0, 2)).toEqual(['registry', 'garbage-collect']);
        expect(command).not.toContain('--delete-untagged');
        return collectGarbage(holdSweepMs);
      }
      throw new Error(`the stand-in does not know: kubectl ${args.join(' ')}`);
    };

    /** The synthesized Job's containers, in the order Kubernetes runs them: init containers, then the main one. */
    const jobSteps = (): { name: string; args: string[] }[] => {
      const manifests = Testing.synth(new RegistryChart(Testing.app(), 'registry', { material: fixtureMaterial() }));
      const pod = manifests.find((object) => object.kind === 'CronJob').spec.jobTemplate.spec.template.spec;
      return [...pod.initContainers, ...pod.containers].map((container) => {
        expect(container.command).toEqual(['kubectl']);
        return { name: container.name, args: container.args };
      });
    };

    /** Runs the Job's steps, timed; while read-only after the collection, tries a delete. */
    const reclaim = async (holdSweepMs = 0) => {
      const started = Date.now();
      const timing = {
        readOnlyAfterMs: 0,
        gcMs: 0,
        gcOutput: '',
        totalMs: 0,
        rmDuring: { code: -1, out: '', err: '' },
      };
      const steps = jobSteps();
      expect(steps.map((step) => step.name)).toEqual(['read-only', 'wait-read-only', 'collect-garbage', 'read-write']);
      for (const step of steps) {
        const gc = await kubectl(step.args, holdSweepMs);
        if (step.name === 'wait-read-only') timing.readOnlyAfterMs = Date.now() - started;
        if (gc !== undefined) {
          timing.gcMs = gc.ms;
          timing.gcOutput = gc.output;
          timing.rmDuring = await images('rm', 'keep-0:latest');
        }
      }
      expect(setEnv).toEqual({});
      return { ...timing, totalMs: Date.now() - started };
    };

    const base = { 'base/data': randomBytes(40_000) };
    const keep: OciImage[] = [];
    let multi: MultiArchImage;

    beforeAll(async () => {
      served = materialTemplate();
      work = tempDir('gc-real-');
      storage = path.join(work, 'storage');
      trustDir = path.join(work, 'trust');
      mkdirSync(trustDir);
      copyFileSync(path.join(served.dir, MATERIAL_FILES.caCertificate), path.join(trustDir, 'ca.crt'));
      port = await freeLoopbackPort();
      await serve();
      // Tagged images that share their base layer with the images deleted below.
      for (let i = 0; i < 2; i++) keep.push(newImage('keep', [base, { [`keep/${i}`]: randomBytes(5_000) }]));
      // A multi-arch image: its children are untagged manifests, which --delete-untagged would take.
      multi = writeMultiArchImage(path.join(work, 'images', 'multi'), {
        'linux/amd64': { amd64: randomBytes(4_000) },
        'linux/arm64': { arm64: randomBytes(4_000) },
      });
      const pushes = await Promise.all([
        ...keep.map((image, i) => push(image, `keep-${i}:latest`)),
        skopeoCopy({
          from: `oci:${multi.dir}:latest`,
          to: `docker://localhost:${port}/multi:v1`,
          creds: FIXTURE_USER,
          certDir: trustDir,
          all: true,
        }),
      ]);
      for (const pushed of pushes) expect(pushed.code, pushed.stderr).toBe(0);
    });

    afterAll(async () => {
      await stopAllRegistries();
    });

    it('reclaims the deleted images: the bytes come back, the tagged images keep every blob', async () => {
      const doomed = Array.from({ length: 5 }, (_, i) =>
        newImage('doomed', [base, { [`doomed/${i}`]: randomBytes(50_000) }]),
      );
      const pushes = await Promise.all(doomed.map((image, i) => push(image, `doomed-${i}:latest`)));
      for (const pushed of pushes) expect(pushed.code, pushed.stderr).toBe(0);
      const deleted = await images('rm', ...doomed.map((_, i) => `doomed-${i}:latest`));
      expect(deleted.code, deleted.err).toBe(0);
      const before = { du: await du(), blobs: storedBlobs() };

      const timing = await reclaim();

      const after = { du: await du(), blobs: storedBlobs() };
      const removed = [...before.blobs].filter(([digest]) => !after.blobs.has(digest));
      const reclaimedBlobBytes = removed.reduce((sum, [, size]) => sum + size, 0);
      // Each deleted image's own layer, config and manifest went; the base layer stays (the kept images use it).
      const own = doomed.flatMap((image) => [image.manifestDigest, image.configDigest, image.layers[1].digest]);
      expect(removed.map(([digest]) => digest).sort()).toEqual(expect.arrayContaining(own.sort()));
      const pulled = await Promise.all([...keep.map((_, i) => pull(`keep-${i}:latest`)), pull('multi:v1', true)]);
      for (const [i, image] of keep.entries()) {
        for (const digest of blobsOf(image)) expect(existsSync(blobFile(digest)), digest).toBe(true);
        expect(pulled[i].digest).toBe(image.manifestDigest);
      }
      expect(pulled[keep.length].digest).toBe(multi.indexDigest);
      for (const child of multi.images)
        for (const digest of blobsOf(child)) expect(existsSync(blobFile(digest))).toBe(true);
      expect(reclaimedBlobBytes).toBeGreaterThanOrEqual(5 * 50_000);
      expect(before.du - after.du).toBeGreaterThanOrEqual(reclaimedBlobBytes);
      expect(timing.gcOutput).not.toContain('delete-untagged');
      // While read-only, deleting is refused with a retryable explanation.
      expect(timing.rmDuring.code).toBe(1);
      expect(timing.rmDuring.err).toContain('the registry is read-only (maintenance: garbage collection)');
      console.info(
        `reclaim: deleted 5 images; blobs removed: ${removed.length} (${reclaimedBlobBytes} bytes); du -sb ${before.du} → ${after.du} (${before.du - after.du} bytes); read-only after ${timing.readOnlyAfterMs} ms, gc ${timing.gcMs} ms, read-write again after ${timing.totalMs} ms`,
      );
    });

    it('pushes running throughout a read-only collection either succeed, complete and pullable, or fail retryably', async () => {
      // Something to collect while the pushes run.
      const doomed = newImage('doomed-again', [{ again: randomBytes(30_000) }]);
      expect((await push(doomed, 'doomed-again:latest')).code).toBe(0);
      expect((await images('rm', 'doomed-again:latest')).code).toBe(0);

      const pusherIds = [0, 1, 2];
      /** When the registry was read-write again: each pusher stops after one push started from then on. */
      let readWriteAgainAt = Number.POSITIVE_INFINITY;
      let stopping = false;
      // Well inside the test's timeout, so that pushers never outlive a failed test.
      const giveUpAt = Date.now() + 40_000;
      const going = () => !stopping && Date.now() < giveUpAt;
      const attempts: { reference: string; ok: boolean; stderr: string }[] = [];
      const pushed: { pusher: number; reference: string; image: OciImage; startedAt: number }[] = [];
      const pusher = async (id: number) => {
        // Staggered and paced: across the three, a push starts about every PUSH_INTERVAL_MS / 3.
        let nextStart = Date.now() + (id * PUSH_INTERVAL_MS) / pusherIds.length;
        for (let n = 0; going(); n++) {
          const reference = `pushed-${id}:${n}`;
          const image = newImage(`pusher-${id}`, [base, { [`pusher/${id}/${n}`]: randomBytes(8_000) }]);
          // A client retries what failed retryably (docker push does, 5 times); here until it succeeds.
          for (let attempt = 0; attempt < 60 && going(); attempt++) {
            await sleep(Math.max(0, nextStart - Date.now()));
            const startedAt = Date.now();
            const result = await push(image, reference);
            attempts.push({ reference, ok: result.code === 0, stderr: result.stderr });
            nextStart = startedAt + (result.code === 0 ? PUSH_INTERVAL_MS : RETRY_INTERVAL_MS);
            if (result.code === 0) {
              pushed.push({ pusher: id, reference, image, startedAt });
              if (startedAt >= readWriteAgainAt) return;
              break;
            }
          }
        }
      };
      const pushers = pusherIds.map(pusher);
      let timing: Awaited<ReturnType<typeof reclaim>>;
      try {
        // Every pusher has pushed before the registry goes read-only, and pushes again once it is read-write.
        while (!pusherIds.every((id) => pushed.some((entry) => entry.pusher === id))) {
          if (!going()) throw new Error(`not every pusher pushed: ${attempts.map((a) => a.stderr).join('\n')}`);
          await sleep(20);
        }
        timing = await reclaim(SWEEP_DELAY_MS);
        readWriteAgainAt = Date.now();
        await Promise.all(pushers);
      } finally {
        stopping = true;
        await Promise.all(pushers);
      }

      const failed = attempts.filter((attempt) => !attempt.ok);
      const notRetryable = failed.filter((attempt) => !RETRYABLE.test(attempt.stderr));
      expect(notRetryable.map((attempt) => attempt.stderr)).toEqual([]);
      // The pushes did run into the collection: some met the read-only registry.
      expect(failed.some((attempt) => /405, Method not allowed/.test(attempt.stderr))).toBe(true);
      // And out of it: each pusher pushed again once the registry was read-write.
      const pushedAfter = (id: number) =>
        pushed.some((entry) => entry.pusher === id && entry.startedAt >= readWriteAgainAt);
      expect(pusherIds.filter((id) => !pushedAfter(id))).toEqual([]);
      const lost: string[] = [];
      await Promise.all(
        pushed.map(async ({ reference, image }) => {
          const pulled = await pull(reference);
          if (pulled.digest !== image.manifestDigest) lost.push(`${reference}: ${pulled.stderr}`);
        }),
      );
      expect(lost).toEqual([]);
      expect(pushed.length).toBeGreaterThan(5);
      for (const image of keep) for (const digest of blobsOf(image)) expect(existsSync(blobFile(digest))).toBe(true);
      expect(existsSync(blobFile(doomed.layers[0].digest))).toBe(false);
      console.info(
        `pushes during reclaim: ${attempts.length} attempts, ${pushed.length} images pushed and pullable, ${failed.length} failed retryably (${failed.filter((a) => /405/.test(a.stderr)).length} read-only 405, ${failed.filter((a) => !/405/.test(a.stderr)).length} no registry while it restarted: ${[...new Set(failed.filter((a) => !/405/.test(a.stderr)).map((a) => RETRYABLE.exec(a.stderr)?.[0]))].join(', ')}), 0 lost; read-only after ${timing.readOnlyAfterMs} ms, gc ${timing.gcMs} ms (held ${SWEEP_DELAY_MS} ms), read-write after ${timing.totalMs} ms`,
      );
    });
    it('--delete-untagged (never used here) takes the children of a multi-arch image on 2.8 (distribution#3178)', async () => {
      const copy = path.join(work, 'storage-copy');
      expect((await run('cp', ['-a', storage, copy])).code).toBe(0);
      const config = path.join(work, 'registry-config.yml');
      const result = await run('docker-registry', ['garbage-collect', '--delete-untagged', config], {
        env: withPath({ ...env(), REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY: copy }),
      });
      expect(result.code, result.stderr).toBe(0);
      const inCopy = (digest: string) =>
        existsSync(path.join(copy, 'docker/registry/v2/blobs/sha256', digest.slice(7, 9), digest.slice(7), 'data'));
      expect(inCopy(multi.indexDigest)).toBe(true);
      // It unlinks the children (untagged manifests) and deletes their configs and layers: the index is broken.
      const childBlobs = multi.images.flatMap((child) => [child.configDigest, ...child.layers.map((l) => l.digest)]);
      expect(result.stdout + result.stderr).toContain(
        `manifest eligible for deletion: ${multi.images[0].manifestDigest}`,
      );
      expect(childBlobs.filter(inCopy)).toEqual([]);
      // Without the flag, the same storage keeps them (the reclaim above ran without it).
      expect(childBlobs.filter((digest) => !existsSync(blobFile(digest)))).toEqual([]);
    });

    // Last: the lost image leaves a tag on a missing manifest, which a later collection would stop at.
    it('read-write: a push that succeeds during a collection loses its image (why the registry must be read-only)', async () => {
      const gc = collectGarbage(SWEEP_DELAY_MS);
      await new Promise((resolve) => setTimeout(resolve, SWEEP_DELAY_MS / 4));
      const image = newImage('racing', [{ racing: randomBytes(3_000) }]);
      const pushed = await push(image, 'racing:latest');
      await gc;
      expect(pushed.code, pushed.stderr).toBe(0);
      const pulled = await pull('racing:latest');
      expect(pulled.ok).toBe(false);
      expect(pulled.stderr).toMatch(/manifest unknown|blob unknown/);
      expect(blobsOf(image).some((digest) => !existsSync(blobFile(digest)))).toBe(true);
    });
  },
);
