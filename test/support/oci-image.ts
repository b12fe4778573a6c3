import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, posix } from 'node:path';
import { gzipSync } from 'node:zlib';

export type FileContent = string | Uint8Array;
export type LayerFiles = Record<string, FileContent>;

export interface OciImageOptions {
  /** Files of a single layer, path inside the image → content. Use `layers` for several layers. */
  files?: LayerFiles;
  /** One entry per layer, bottom first. */
  layers?: LayerFiles[];
  cmd?: string[];
}

export interface OciLayerInfo {
  /** sha256 of the gzip blob (what the manifest and the registry name it by). */
  digest: string;
  /** sha256 of the uncompressed tar (rootfs.diff_ids). */
  diffId: string;
  size: number;
}

/** The layout holds one image, tagged "latest": push it as `oci:DIR:latest`. */
export interface OciImage {
  dir: string;
  manifestDigest: string;
  configDigest: string;
  layers: OciLayerInfo[];
}

const MEDIA_TYPE = {
  index: 'application/vnd.oci.image.index.v1+json',
  manifest: 'application/vnd.oci.image.manifest.v1+json',
  config: 'application/vnd.oci.image.config.v1+json',
  layer: 'application/vnd.oci.image.layer.v1.tar+gzip',
} as const;

const GO_ARCH: Readonly<Record<string, string>> = {
  x64: 'amd64',
  ia32: '386',
  arm64: 'arm64',
  arm: 'arm',
  ppc64: 'ppc64le',
  s390x: 's390x',
  riscv64: 'riscv64',
};

/** Layers larger than this are written as stored (level 0) gzip. */
const STORED_ABOVE_BYTES = 1024 * 1024;

// ---- minimal ustar writer -------------------------------------------------------------------

const BLOCK = 512;
// Fixed mtime so the same files always give the same digests.
const MTIME = 0;

function writeString(header: Buffer, offset: number, length: number, value: string): void {
  const bytes = Buffer.from(value, 'utf8');
  if (bytes.length > length) throw new Error(`tar header field too long (${bytes.length} > ${length}): ${value}`);
  bytes.copy(header, offset);
}

function writeOctal(header: Buffer, offset: number, length: number, value: number): void {
  // length-1 octal digits, zero padded, then NUL.
  const digits = value.toString(8).padStart(length - 1, '0');
  if (digits.length > length - 1) throw new Error(`tar numeric field overflow: ${value}`);
  writeString(header, offset, length, `${digits}\0`);
}

/** ustar splits long paths into prefix (≤155 bytes) + name (≤100 bytes) at a '/'. */
function splitTarPath(path: string): { name: string; prefix: string } {
  if (Buffer.byteLength(path) <= 100) return { name: path, prefix: '' };
  for (let i = path.indexOf('/'); i !== -1; i = path.indexOf('/', i + 1)) {
    const prefix = path.slice(0, i);
    const name = path.slice(i + 1);
    if (Buffer.byteLength(prefix) <= 155 && Buffer.byteLength(name) <= 100 && name !== '') return { name, prefix };
  }
  throw new Error(`path too long for ustar: ${path}`);
}

function tarHeader(path: string, type: 'file' | 'dir', size: number): Buffer {
  const header = Buffer.alloc(BLOCK);
  const { name, prefix } = splitTarPath(path);
  writeString(header, 0, 100, name);
  writeOctal(header, 100, 8, type === 'file' ? 0o644 : 0o755);
  writeOctal(header, 108, 8, 0); // uid
  writeOctal(header, 116, 8, 0); // gid
  writeOctal(header, 124, 12, size);
  writeOctal(header, 136, 12, MTIME);
  header.fill(' ', 148, 156); // checksum is computed with its own field as spaces
  writeString(header, 156, 1, type === 'file' ? '0' : '5');
  writeString(header, 257, 6, 'ustar\0');
  writeString(header, 263, 2, '00');
  writeString(header, 265, 32, 'root');
  writeString(header, 297, 32, 'root');
  writeString(header, 345, 155, prefix);
  let sum = 0;
  for (const byte of header) sum += byte;
  writeString(header, 148, 8, `${sum.toString(8).padStart(6, '0')}\0 `);
  return header;
}

function normalizeImagePath(path: string): string {
  const normalized = posix.normalize(path.replace(/^\/+/, ''));
  if (normalized === '.' || normalized === '' || normalized.startsWith('../') || normalized === '..') {
    throw new Error(`invalid path inside image: ${JSON.stringify(path)}`);
  }
  return normalized.replace(/\/+$/, '');
}

/** An uncompressed tar of these files (0644), with 0755 entries for their parent directories. */
function ustar(files: LayerFiles): Buffer {
  const entries = new Map<string, Buffer | null>(); // null = directory
  for (const [rawPath, content] of Object.entries(files)) {
    const path = normalizeImagePath(rawPath);
    const parts = path.split('/');
    for (let i = 1; i < parts.length; i++) entries.set(`${parts.slice(0, i).join('/')}/`, null);
    entries.set(path, Buffer.from(content));
  }
  const chunks: Buffer[] = [];
  // Sorted: a directory "a/" sorts before anything inside it, and output is deterministic.
  for (const path of [...entries.keys()].sort()) {
    const data = entries.get(path);
    if (data === null || data === undefined) {
      chunks.push(tarHeader(path, 'dir', 0));
      continue;
    }
    chunks.push(tarHeader(path, 'file', data.length), data);
    const padding = (BLOCK - (data.length % BLOCK)) % BLOCK;
    if (padding > 0) chunks.push(Buffer.alloc(padding));
  }
  chunks.push(Buffer.alloc(2 * BLOCK)); // end-of-archive marker
  return Buffer.concat(chunks);
}

// ---- OCI layout -------------------------------------------------------------------------------

function sha256(data: Uint8Array): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

function writeBlob(dir: string, data: Buffer): { digest: string; size: number } {
  const digest = sha256(data);
  writeFileSync(join(dir, 'blobs', 'sha256', digest.slice('sha256:'.length)), data);
  return { digest, size: data.length };
}

/** Builds an OCI image layout in `dir` (pushable with `skopeo copy oci:DIR:latest docker://...`); replaces one there. */
export function writeOciImage(dir: string, options: OciImageOptions): OciImage {
  if (options.files !== undefined && options.layers !== undefined) {
    throw new Error('writeOciImage: pass either files (one layer) or layers, not both');
  }
  const layerFiles = options.layers ?? (options.files !== undefined ? [options.files] : []);
  if (layerFiles.length === 0) throw new Error('writeOciImage: at least one layer is needed');

  mkdirSync(join(dir, 'blobs', 'sha256'), { recursive: true });
  writeFileSync(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));

  const layers: OciLayerInfo[] = layerFiles.map((files) => {
    const tar = ustar(files);
    // A big layer is gzip without compression (still tar+gzip to every client): the big layers here are random
    // bytes, which deflate cannot shrink, and trying costs 2 s of CPU per 64 MiB.
    const { digest, size } = writeBlob(dir, gzipSync(tar, { level: tar.length > STORED_ABOVE_BYTES ? 0 : undefined }));
    return { digest, size, diffId: sha256(tar) };
  });

  const config = {
    // This machine's, so containerd's platform match accepts the image.
    architecture: GO_ARCH[process.arch] ?? process.arch,
    os: 'linux',
    config: options.cmd !== undefined ? { Cmd: options.cmd } : {},
    rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) },
  };
  const configBlob = writeBlob(dir, Buffer.from(JSON.stringify(config)));

  const manifest = {
    schemaVersion: 2,
    mediaType: MEDIA_TYPE.manifest,
    config: { mediaType: MEDIA_TYPE.config, digest: configBlob.digest, size: configBlob.size },
    layers: layers.map((l) => ({ mediaType: MEDIA_TYPE.layer, digest: l.digest, size: l.size })),
  };
  const manifestBlob = writeBlob(dir, Buffer.from(JSON.stringify(manifest)));

  const index = {
    schemaVersion: 2,
    mediaType: MEDIA_TYPE.index,
    manifests: [
      {
        mediaType: MEDIA_TYPE.manifest,
        digest: manifestBlob.digest,
        size: manifestBlob.size,
        annotations: { 'org.opencontainers.image.ref.name': 'latest' },
      },
    ],
  };
  writeFileSync(join(dir, 'index.json'), JSON.stringify(index));

  return { dir, manifestDigest: manifestBlob.digest, configDigest: configBlob.digest, layers };
}

/** An image of `n` small, distinct layers (layer i holds /layers/layer-i.txt), e.g. for push benchmarks. */
export function writeOciImageWithLayers(
  dir: string,
  n: number,
  options: Omit<OciImageOptions, 'files' | 'layers'> = {},
): OciImage {
  if (!Number.isInteger(n) || n < 1) throw new Error(`writeOciImageWithLayers: n must be a positive integer, got ${n}`);
  const layers = Array.from({ length: n }, (_, i): LayerFiles => ({ [`layers/layer-${i}.txt`]: `layer ${i}\n` }));
  return writeOciImage(dir, { ...options, layers });
}
