import {
  type DiskUsage,
  RegistryApiError,
  type RepositoryImages,
  deleteImage,
  diskUsage,
  formatImageReference,
  listImages,
  materialRegistryClient,
  parseImageReference,
} from '../../lib/registry-images';
import type { CommandBody } from '../command-line';
import { withFlagNames } from '../flags';
import { type CliIo, EXIT_CHECK_FAILED, EXIT_OK, type ExitCode } from '../io';

export interface ImagesArgs {
  readonly dir: string;
  readonly url?: string;
  /** Entries per page of _catalog and tags/list (tests use 1 to exercise the Link headers). */
  readonly pageSize?: number;
}

export interface ImagesListArgs extends ImagesArgs {
  readonly json: boolean;
}

export interface ImagesRmArgs extends ImagesArgs {
  readonly images: readonly string[];
}

export interface ImagesDuArgs extends ImagesArgs {
  readonly json: boolean;
}

const FLAGS = { url: '--url', image: 'IMAGE' };

/** A registry that answers, but not as hoped, is a failed check (1); its diagnosis names the fix. */
async function talking(io: CliIo, fn: () => Promise<ExitCode>): Promise<ExitCode> {
  return withFlagNames(FLAGS, async () => {
    try {
      return await fn();
    } catch (error) {
      if (!(error instanceof RegistryApiError)) throw error;
      io.stderr.write(`error: ${error.message}; fix: ${error.fix}\n`);
      return EXIT_CHECK_FAILED;
    }
  });
}

const clientFor = (args: ImagesArgs) => materialRegistryClient(args.dir, { url: args.url, pageSize: args.pageSize });

/** Repositories, tags, digests and sizes (config + layers; an index's children one by one). */
export async function imagesList(args: ImagesListArgs, io: CliIo): Promise<ExitCode> {
  return talking(io, async () => {
    const repositories = await listImages(clientFor(args));
    if (args.json) io.stdout.write(`${JSON.stringify(repositories, null, 2)}\n`);
    else io.stdout.write(listTable(repositories));
    const tags = repositories.reduce((sum, entry) => sum + entry.images.length, 0);
    io.stderr.write(`${plural(repositories.length, 'repository', 'repositories')}, ${plural(tags, 'tag')}\n`);
    const broken = repositories.flatMap((entry) => entry.images.filter((image) => image.error !== undefined));
    for (const image of broken) io.stderr.write(`warning: ${image.repository}:${image.tag}: ${image.error}\n`);
    return broken.length === 0 ? EXIT_OK : EXIT_CHECK_FAILED;
  });
}

/** Deletes each image by digest; the disk space comes back with the next garbage collection. */
export async function imagesRm(args: ImagesRmArgs, io: CliIo): Promise<ExitCode> {
  return talking(io, async () => {
    // Every reference is checked before anything is deleted.
    const references = args.images.map((image) => parseImageReference(image));
    const client = clientFor(args);
    for (const reference of references) {
      const deleted = await deleteImage(client, reference);
      io.stdout.write(`${deleted.repository}@${deleted.digest}\n`);
      const tags = deleted.tags.length === 0 ? 'no tags' : `tags ${deleted.tags.join(', ')}`;
      const children =
        deleted.children.length === 0 ? '' : ` and ${plural(deleted.children.length, 'child image')} of the index`;
      io.stderr.write(`deleted ${formatImageReference(reference)} (${deleted.digest}, ${tags})${children}\n`);
    }
    // The chart's default names; another namespace or service name changes both.
    const job = `gc-${Math.floor(io.now().getTime() / 1000)}`;
    io.stderr.write(
      `the layers stay on disk until a garbage collection: kubectl -n container-registry create job --from=cronjob/container-registry-gc ${job} (see "See and reclaim disk" in the README)\n`,
    );
    return EXIT_OK;
  });
}

/** What the tagged images occupy, each blob once across repositories. */
export async function imagesDu(args: ImagesDuArgs, io: CliIo): Promise<ExitCode> {
  return talking(io, async () => {
    const usage = diskUsage(await listImages(clientFor(args)));
    if (args.json) io.stdout.write(`${JSON.stringify(usage, null, 2)}\n`);
    else io.stdout.write(duTable(usage));
    io.stderr.write(
      `${formatBytes(usage.totalBytes)} in ${plural(usage.blobs, 'blob')} (shared layers counted once; the tags add up to ${formatBytes(usage.apparentBytes)}). Deleted images and interrupted uploads take disk until a garbage collection.\n`,
    );
    return EXIT_OK;
  });
}

function listTable(repositories: readonly RepositoryImages[]): string {
  const rows: string[][] = [['REPOSITORY', 'TAG', 'DIGEST', 'SIZE', '']];
  for (const entry of repositories) {
    for (const image of entry.images) {
      const what = image.error !== undefined ? 'unreadable' : image.isIndex ? `index of ${image.images.length}` : '';
      rows.push([entry.repository, image.tag, shortDigest(image.digest), formatBytes(image.size), what]);
      if (image.isIndex)
        for (const child of image.images)
          rows.push(['', `  ${child.platform ?? '?'}`, shortDigest(child.digest), formatBytes(child.size), '']);
    }
  }
  return table(rows);
}

function duTable(usage: DiskUsage): string {
  const rows: string[][] = [['REPOSITORY', 'TAGS', 'SIZE', 'ONLY HERE']];
  for (const entry of usage.repositories)
    rows.push([entry.repository, String(entry.tags), formatBytes(entry.bytes), formatBytes(entry.exclusiveBytes)]);
  rows.push(['total', '', formatBytes(usage.totalBytes), '']);
  return table(rows);
}

function table(rows: readonly string[][]): string {
  const widths = rows[0].map((_, column) => Math.max(...rows.map((row) => row[column].length)));
  return rows
    .map(
      (row) =>
        `${row
          .map((cell, column) => cell.padEnd(widths[column]))
          .join('  ')
          .trimEnd()}\n`,
    )
    .join('');
}

const shortDigest = (digest: string): string => digest.slice(0, 'sha256:'.length + 12);

/** 1536 → "1.5 KiB": binary units, as `du -h` and Kubernetes quantities (Gi) count. */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return unit === 0 ? `${bytes} B` : `${value.toFixed(1)} ${units[unit]}`;
}

const plural = (count: number, one: string, many = `${one}s`): string => `${count} ${count === 1 ? one : many}`;

export const imagesCommand: CommandBody = {
  flags: {
    url: { type: 'string', describe: 'Registry URL (default https://localhost:<nodePort> from the material)' },
    // Entries per page of _catalog and tags/list: for tests of the Link headers, not in --help.
    'page-size': { type: 'number' },
  },
  subcommands: [
    {
      name: 'list',
      describe: 'Repositories, tags, digests and sizes (config + layers; multi-arch children too)',
      flags: { json: { type: 'boolean', default: false, describe: 'Print JSON' } },
      run: imagesList,
    },
    {
      name: 'rm',
      describe: 'Delete REPO:TAG or REPO@sha256:... by digest (every tag on that digest goes with it)',
      positionals: [{ name: 'images', variadic: true, describe: 'REPO:TAG or REPO@DIGEST' }],
      epilog:
        'The disk comes back with a garbage collection (the registry is read-only meanwhile):\n  kubectl -n container-registry create job --from=cronjob/container-registry-gc gc-$(date +%s)',
      run: imagesRm,
    },
    {
      name: 'du',
      describe: 'What the tagged images occupy, each blob counted once across repositories',
      flags: { json: { type: 'boolean', default: false, describe: 'Print JSON' } },
      run: imagesDu,
    },
  ],
};
