import path from 'node:path';
import type { Credentials } from './htpasswd';
import { basicAuthorization, type HttpsAnswer, httpsRequest } from './https-request';
import { materialAddressesOf, nodeCredentialsOf } from './material-addresses';
import { MATERIAL_FILES } from './material-files';
import { assertMaterialDir, readMaterialText } from './material-dir';
import { parseRegistriesYaml } from './registries-yaml';
import { defaultProbeUrl, registryApiUrl, requestFailure } from './registry-probe';
import { ValidationError } from './validate';

/** How to reach the registry's HTTP API v2: its URL, the only CA trusted, and a user. */
export interface RegistryClient {
  /** e.g. https://localhost:31113/v2/ (a bare https://host:port means its /v2/). */
  readonly url: string;
  readonly caCertificatePem: string;
  readonly credentials: Credentials;
  /** @default 30000 */
  readonly timeoutMs?: number;
  /** Entries asked for per page of _catalog and tags/list; the registry caps it (1000 by default). @default 100 */
  readonly pageSize?: number;
}

/**
 * A client for the registry of the material in `dir`: its CA, its nodes' credentials, and `url` or
 * https://localhost:<nodePort> from its registries.yaml.
 */
export function materialRegistryClient(dir: string, options: { url?: string; pageSize?: number } = {}): RegistryClient {
  const url = options.url === undefined ? undefined : registryApiUrl(options.url);
  assertMaterialDir(dir);
  const read = (relativePath: string): string =>
    readMaterialText(
      path.join(dir, relativePath),
      `restore it from a backup (${dir}.backup-*), or point 'dir' at the material directory`,
    );
  const registriesFile = path.join(dir, MATERIAL_FILES.registriesYaml);
  const registries = parseRegistriesYaml(read(MATERIAL_FILES.registriesYaml), registriesFile);
  return {
    url: url ?? defaultProbeUrl(materialAddressesOf(registries, registriesFile).nodePort),
    caCertificatePem: read(MATERIAL_FILES.caCertificate),
    credentials: nodeCredentialsOf(registries, registriesFile),
    pageSize: options.pageSize,
  };
}

/** The media types of manifests and indexes: a HEAD or GET without them gets another digest, or a 404. */
export const MANIFEST_MEDIA_TYPES = [
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json',
] as const;
const INDEX_MEDIA_TYPES: readonly string[] = MANIFEST_MEDIA_TYPES.slice(0, 2);

/** One blob a manifest refers to. */
export interface BlobRef {
  readonly digest: string;
  readonly size: number;
}

/** A single-platform image: its manifest and what it refers to. */
export interface ImageManifest {
  readonly digest: string;
  readonly mediaType: string;
  /** Size of the manifest itself. */
  readonly manifestSize: number;
  /** os/arch[/variant], from an index's entry. @default - absent for a manifest that is not in an index */
  readonly platform?: string;
  readonly config: BlobRef;
  readonly layers: readonly BlobRef[];
  /** config + layers: what this image's blobs weigh (shared layers included). */
  readonly size: number;
}

/** What a tag points to: one image, or an index (multi-arch) of images. */
export interface TaggedImage {
  readonly repository: string;
  /** Empty when described by digest. */
  readonly tag: string;
  readonly digest: string;
  readonly mediaType: string;
  /** Size of the manifest or index itself. */
  readonly manifestSize: number;
  /** True for an image index / manifest list: `images` are its children. */
  readonly isIndex: boolean;
  /** config + layers; for an index, the sum over its children. */
  readonly size: number;
  /** The image itself, or each child of an index with its own size. */
  readonly images: readonly ImageManifest[];
  /** Set when the manifest (or a child) could not be read: the tag is listed, its size is not known. */
  readonly error?: string;
}

/** A repository and its tags, in the registry's order. */
export interface RepositoryImages {
  readonly repository: string;
  readonly images: readonly TaggedImage[];
}

/** An error talking to the registry; `fix` says what to do. The CLI reports it and exits 1. */
export class RegistryApiError extends Error {
  constructor(
    message: string,
    public readonly fix: string,
    public readonly status?: number,
  ) {
    super(message);
    this.name = 'RegistryApiError';
  }
}

type Response = HttpsAnswer;

/** One request to the registry with our CA and basic auth; rejects with a diagnosis when there is no answer. */
function send(
  client: RegistryClient,
  method: string,
  pathAndQuery: string,
  headers: Record<string, string> = {},
): Promise<Response> {
  const url = new URL(pathAndQuery, registryApiUrl(client.url)).toString();
  const { username } = client.credentials;
  return httpsRequest(url, {
    method,
    ca: client.caCertificatePem,
    headers: { ...headers, authorization: basicAuthorization(client.credentials) },
    timeoutMs: client.timeoutMs ?? 30_000,
  }).then(
    (response) => {
      if (response.status === 401) {
        throw new RegistryApiError(
          `${method} ${url}: 401 Unauthorized: the registry rejects ${JSON.stringify(username)}`,
          'the registry runs another htpasswd than the material: npx cdk8s synth && kubectl apply -f dist (check the password with private-registry user verify)',
          401,
        );
      }
      return response;
    },
    (error: NodeJS.ErrnoException) => {
      const failure = requestFailure(method, url, error);
      throw new RegistryApiError(failure.detail, failure.fix);
    },
  );
}

/** The registry's error codes and messages from a JSON error body, e.g. "UNSUPPORTED: The operation is unsupported." */
function registryErrors(body: Buffer): string {
  try {
    const parsed = JSON.parse(body.toString('utf8')) as { errors?: { code?: string; message?: string }[] };
    return (parsed.errors ?? []).map((error) => `${error.code}: ${error.message}`).join('; ');
  } catch {
    return body.toString('utf8').trim().slice(0, 200);
  }
}

function unexpected(method: string, what: string, response: Response): RegistryApiError {
  const errors = registryErrors(response.body);
  return new RegistryApiError(
    `${method} ${what}: HTTP ${response.status}${errors ? ` (${errors})` : ''}`,
    'check that the URL is the registry and look at its log (kubectl -n container-registry logs deploy/container-registry)',
    response.status,
  );
}

/** A JSON answer; anything else is not what a registry sends. */
function parseJson<T>(response: Response, method: string, what: string): T {
  try {
    return JSON.parse(response.body.toString('utf8')) as T;
  } catch {
    throw new RegistryApiError(
      `${method} ${what}: HTTP ${response.status} but the body is not JSON: not what a registry answers`,
      'check that the URL is the registry (kubectl -n container-registry get svc,pods)',
      response.status,
    );
  }
}

/** The next page from a Link header (`</v2/_catalog?last=b&n=2>; rel="next"`), if any. */
export function nextPage(link: string | string[] | undefined): string | undefined {
  const value = Array.isArray(link) ? link.join(',') : link;
  const match = value === undefined ? null : /<([^>]+)>\s*;\s*rel="?next"?/.exec(value);
  return match === null ? undefined : match[1];
}

/** GETs `first` and every page its Link headers point to, collecting `key` of each JSON page. */
async function paginate(client: RegistryClient, first: string, key: 'repositories' | 'tags'): Promise<string[]> {
  const items: string[] = [];
  const seen = new Set<string>();
  for (let page: string | undefined = first; page !== undefined && !seen.has(page); ) {
    seen.add(page);
    const response = await send(client, 'GET', page);
    if (response.status !== 200) throw unexpected('GET', page, response);
    items.push(...(parseJson<Record<string, string[] | null>>(response, 'GET', page)[key] ?? []));
    page = nextPage(response.headers.link);
  }
  return items;
}

/** Every repository in the registry's catalog, through all its pages. */
export function listRepositories(client: RegistryClient): Promise<string[]> {
  return paginate(client, `/v2/_catalog?n=${client.pageSize ?? 100}`, 'repositories');
}

/** A repository's tags; none (not an error) once its last tag is deleted. */
export async function listTags(client: RegistryClient, repository: string): Promise<string[]> {
  try {
    return await paginate(client, `/v2/${repository}/tags/list?n=${client.pageSize ?? 100}`, 'tags');
  } catch (error) {
    if (error instanceof RegistryApiError && error.status === 404) return [];
    throw error;
  }
}

interface FetchedManifest {
  readonly digest: string;
  readonly mediaType: string;
  readonly size: number;
  readonly json: {
    mediaType?: string;
    config?: BlobRef;
    layers?: BlobRef[];
    manifests?: (BlobRef & {
      mediaType?: string;
      platform?: { os?: string; architecture?: string; variant?: string };
    })[];
  };
}

const ACCEPT = { accept: MANIFEST_MEDIA_TYPES.join(', ') };

async function fetchManifest(client: RegistryClient, repository: string, reference: string): Promise<FetchedManifest> {
  const what = `/v2/${repository}/manifests/${reference}`;
  const response = await send(client, 'GET', what, ACCEPT);
  if (response.status !== 200) throw unexpected('GET', what, response);
  const json = parseJson<FetchedManifest['json']>(response, 'GET', what);
  return {
    digest: String(response.headers['docker-content-digest'] ?? reference),
    mediaType: json.mediaType ?? String(response.headers['content-type'] ?? ''),
    size: response.body.length,
    json,
  };
}

function imageOf(manifest: FetchedManifest, platform?: string): ImageManifest {
  const config = manifest.json.config ?? { digest: '', size: 0 };
  const layers = manifest.json.layers ?? [];
  return {
    digest: manifest.digest,
    mediaType: manifest.mediaType,
    manifestSize: manifest.size,
    ...(platform === undefined ? {} : { platform }),
    config: { digest: config.digest, size: config.size },
    layers: layers.map((layer) => ({ digest: layer.digest, size: layer.size })),
    size: config.size + layers.reduce((sum, layer) => sum + layer.size, 0),
  };
}

function isIndex(manifest: FetchedManifest): boolean {
  return INDEX_MEDIA_TYPES.includes(manifest.mediaType) || manifest.json.manifests !== undefined;
}

/** What `repository:tag` (or `repository@digest`) is, with the sizes of its blobs and an index's children. */
export async function describeImage(
  client: RegistryClient,
  repository: string,
  reference: string,
): Promise<TaggedImage> {
  const tag = reference.startsWith('sha256:') ? '' : reference;
  const broken = (digest: string, error: unknown): TaggedImage => {
    // A manifest that went away between the listing and this request is a finding, not a failure.
    if (!(error instanceof RegistryApiError) || error.status === undefined || error.status === 401) throw error;
    return {
      repository,
      tag,
      digest,
      mediaType: '',
      manifestSize: 0,
      isIndex: false,
      size: 0,
      images: [],
      error: error.message,
    };
  };
  let manifest: FetchedManifest;
  try {
    manifest = await fetchManifest(client, repository, reference);
  } catch (error) {
    return broken('', error);
  }
  const described = {
    repository,
    tag,
    digest: manifest.digest,
    mediaType: manifest.mediaType,
    manifestSize: manifest.size,
  };
  if (!isIndex(manifest)) {
    const image = imageOf(manifest);
    return { ...described, isIndex: false, size: image.size, images: [image] };
  }
  const images: ImageManifest[] = [];
  for (const entry of manifest.json.manifests ?? []) {
    const platform = entry.platform
      ? [entry.platform.os, entry.platform.architecture, entry.platform.variant].filter(Boolean).join('/')
      : undefined;
    try {
      images.push(imageOf(await fetchManifest(client, repository, entry.digest), platform));
    } catch (error) {
      return {
        ...broken(manifest.digest, error),
        ...described,
        isIndex: true,
        error: `child ${entry.digest}: ${(error as Error).message}`,
      };
    }
  }
  return { ...described, isIndex: true, size: images.reduce((sum, image) => sum + image.size, 0), images };
}

/** Every repository, every tag, what each points to and its size. */
export async function listImages(client: RegistryClient): Promise<RepositoryImages[]> {
  const result: RepositoryImages[] = [];
  for (const repository of await listRepositories(client)) {
    const images: TaggedImage[] = [];
    for (const tag of await listTags(client, repository)) images.push(await describeImage(client, repository, tag));
    result.push({ repository, images });
  }
  return result;
}

/** What the images occupy on the registry's storage: every blob once, however many tags and repositories share it. */
export interface DiskUsage {
  /** Sum of the distinct blobs (manifests, configs, layers) that tagged images refer to. */
  readonly totalBytes: number;
  readonly blobs: number;
  /** Sum over tags of their sizes, as if nothing were shared: what `list` adds up to. */
  readonly apparentBytes: number;
  readonly repositories: readonly {
    readonly repository: string;
    readonly tags: number;
    /** Distinct blobs of this repository. */
    readonly bytes: number;
    /** Of those, the bytes no other repository refers to: about what deleting the repository (and a GC) frees. */
    readonly exclusiveBytes: number;
  }[];
}

/** The disk usage of what `listImages` found: each blob once, per repository and in total. */
export function diskUsage(repositories: readonly RepositoryImages[]): DiskUsage {
  const blobsOf = (images: readonly TaggedImage[]): Map<string, number> => {
    const blobs = new Map<string, number>();
    for (const tagged of images) {
      if (tagged.digest !== '') blobs.set(tagged.digest, tagged.manifestSize);
      for (const image of tagged.images) {
        blobs.set(image.digest, image.manifestSize);
        for (const blob of [image.config, ...image.layers]) if (blob.digest !== '') blobs.set(blob.digest, blob.size);
      }
    }
    return blobs;
  };
  const perRepository = repositories.map((entry) => ({ entry, blobs: blobsOf(entry.images) }));
  const owners = new Map<string, number>();
  const all = new Map<string, number>();
  for (const { blobs } of perRepository) {
    for (const [digest, size] of blobs) {
      owners.set(digest, (owners.get(digest) ?? 0) + 1);
      all.set(digest, size);
    }
  }
  const sum = (sizes: Iterable<number>): number => [...sizes].reduce((total, size) => total + size, 0);
  return {
    totalBytes: sum(all.values()),
    blobs: all.size,
    apparentBytes: sum(repositories.flatMap((entry) => entry.images.map((image) => image.size))),
    repositories: perRepository.map(({ entry, blobs }) => ({
      repository: entry.repository,
      tags: entry.images.length,
      bytes: sum(blobs.values()),
      exclusiveBytes: sum([...blobs].filter(([digest]) => owners.get(digest) === 1).map(([, size]) => size)),
    })),
  };
}

/** `REPO:TAG` or `REPO@sha256:<hex>`, as `rm` takes it. */
export interface ImageReference {
  readonly repository: string;
  readonly tag?: string;
  readonly digest?: string;
}

// distribution's reference grammar: path components of lowercase alphanumerics joined by separators.
const REPOSITORY = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$/;
const TAG = /^[\w][\w.-]{0,127}$/;
const DIGEST = /^sha256:[a-f0-9]{64}$/;

/** `REPO:TAG` or `REPO@sha256:...` as typed; a ValidationError naming `field`, the value and the fix otherwise. */
export function parseImageReference(text: string, field = 'image'): ImageReference {
  const fail = (why: string): never => {
    throw new ValidationError(
      `'${field}' must be REPOSITORY:TAG or REPOSITORY@sha256:<64 hex digits>, got ${JSON.stringify(text)}: ${why}`,
    );
  };
  const at = text.indexOf('@');
  const [name, digest] = at === -1 ? [text, undefined] : [text.slice(0, at), text.slice(at + 1)];
  const colon = digest === undefined ? name.lastIndexOf(':') : -1;
  const repository = colon > name.lastIndexOf('/') ? name.slice(0, colon) : name;
  const tag = colon > name.lastIndexOf('/') ? name.slice(colon + 1) : undefined;
  if (digest !== undefined && name.lastIndexOf(':') > name.lastIndexOf('/'))
    fail(
      `give the tag or the digest, not both, e.g. ${JSON.stringify(`${name.slice(0, name.lastIndexOf(':'))}@${digest}`)}`,
    );
  const first = repository.split('/')[0];
  if (repository.includes('/') && (first.includes(':') || first.includes('.') || first === 'localhost'))
    fail(`give the repository without the registry's address, e.g. ${JSON.stringify(text.slice(first.length + 1))}`);
  if (!REPOSITORY.test(repository))
    fail('a repository is lowercase letters and digits, separated by ".", "_", "-" or "/", like "team/app"');
  if (digest !== undefined) {
    if (!DIGEST.test(digest)) fail('a digest is "sha256:" and 64 lowercase hex digits, as `images list --json` shows');
    return { repository, digest };
  }
  if (tag === undefined) fail(`name the tag (e.g. ${JSON.stringify(`${repository}:latest`)}) or the digest`);
  if (!TAG.test(tag as string))
    fail('a tag is up to 128 letters, digits, "_", "." and "-", not starting with "." or "-"');
  return { repository, tag };
}

/** `REPO:TAG` / `REPO@DIGEST` for messages. */
export function formatImageReference(reference: ImageReference): string {
  return reference.digest === undefined
    ? `${reference.repository}:${reference.tag}`
    : `${reference.repository}@${reference.digest}`;
}

/** HEAD with every manifest media type: the digest a tag points to, as the registry stores it. */
export async function resolveDigest(client: RegistryClient, repository: string, tag: string): Promise<string> {
  const what = `/v2/${repository}/manifests/${tag}`;
  const response = await send(client, 'HEAD', what, ACCEPT);
  if (response.status === 404) {
    throw new RegistryApiError(
      `${repository}:${tag} is not in the registry (HEAD ${what}: 404)`,
      'see what is there: private-registry images list',
      404,
    );
  }
  const digest = response.headers['docker-content-digest'];
  if (response.status !== 200 || typeof digest !== 'string') throw unexpected('HEAD', what, response);
  return digest;
}

/** What `deleteImage` deleted. */
export interface DeletedImage {
  readonly repository: string;
  readonly digest: string;
  /** Tags that pointed to the digest: deleting a manifest removes every tag on it. */
  readonly tags: readonly string[];
  /** Children of a deleted index that no remaining tag of the repository refers to, deleted with it. */
  readonly children: readonly string[];
}

/** The fix when the registry answers 405 UNSUPPORTED to a DELETE. */
export const DELETE_DISABLED_FIX =
  "the registry runs with deletion disabled: set REGISTRY_STORAGE_DELETE_ENABLED=true (the RegistryServer prop 'deleteEnabled', true by default), synthesize and apply (npx cdk8s synth && kubectl apply -f dist), then run this again";

async function deleteManifest(client: RegistryClient, repository: string, digest: string): Promise<void> {
  const what = `/v2/${repository}/manifests/${digest}`;
  const response = await send(client, 'DELETE', what);
  if (response.status === 202 || response.status === 200) return;
  const errors = registryErrors(response.body);
  if (response.status === 405 && /UNSUPPORTED/.test(errors)) {
    throw new RegistryApiError(`DELETE ${what}: 405 (${errors}): deletion is disabled`, DELETE_DISABLED_FIX, 405);
  }
  if (response.status === 405) {
    throw new RegistryApiError(
      `DELETE ${what}: 405${errors ? ` (${errors})` : ''}: the registry is read-only (maintenance: garbage collection)`,
      'wait for the garbage collection to end (kubectl -n container-registry get jobs) and run this again',
      405,
    );
  }
  if (response.status === 404) {
    throw new RegistryApiError(
      `${repository}@${digest} is not in the registry (DELETE ${what}: 404)`,
      'see what is there: private-registry images list',
      404,
    );
  }
  throw unexpected('DELETE', what, response);
}

/**
 * Deletes an image by digest (a tag is resolved first): the manifest, every tag on it, and for an index the
 * children no other tag of the repository still refers to. The blobs stay until a garbage collection.
 */
export async function deleteImage(client: RegistryClient, reference: ImageReference): Promise<DeletedImage> {
  const { repository } = reference;
  const digest = reference.digest ?? (await resolveDigest(client, repository, reference.tag as string));
  const target = await describeImage(client, repository, digest);
  if (target.error !== undefined && target.digest === '') {
    throw new RegistryApiError(
      `${repository}@${digest} is not in the registry: ${target.error}`,
      'see what is there: private-registry images list',
      404,
    );
  }
  const tagged = await Promise.all(
    (await listTags(client, repository)).map(async (tag) => ({
      tag,
      digest: await resolveDigest(client, repository, tag),
    })),
  );
  const tags = tagged.filter((entry) => entry.digest === digest).map((entry) => entry.tag);
  await deleteManifest(client, repository, digest);
  const children: string[] = [];
  if (target.isIndex) {
    // What the remaining tags still need, including the children of other indexes.
    const kept = new Set<string>();
    for (const entry of tagged.filter((other) => other.digest !== digest)) {
      kept.add(entry.digest);
      for (const image of (await describeImage(client, repository, entry.digest)).images) kept.add(image.digest);
    }
    for (const image of target.images) {
      if (kept.has(image.digest) || children.includes(image.digest)) continue;
      await deleteManifest(client, repository, image.digest);
      children.push(image.digest);
    }
  }
  return { repository, digest, tags, children };
}
