import { createHash } from 'node:crypto';
import { statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type LayerFiles, type OciImage, writeOciImage } from './oci-image';

export interface MultiArchImage {
  dir: string;
  indexDigest: string;
  indexSize: number;
  /** One per platform, in index order, with its manifest's size. */
  images: (OciImage & { platform: string; manifestSize: number; configSize: number })[];
}

/** The size of a blob in an OCI layout. */
export const blobSize = (dir: string, digest: string): number =>
  statSync(join(dir, 'blobs', 'sha256', digest.slice('sha256:'.length))).size;

/**
 * An OCI layout whose "latest" is an image index of one image per platform (push it with skopeo --all):
 * what `docker buildx --platform a,b` pushes.
 */
export function writeMultiArchImage(dir: string, platforms: Record<string, LayerFiles>): MultiArchImage {
  const images = Object.entries(platforms).map(([platform, files]) => {
    // Each call rewrites index.json; the blobs accumulate in the one layout.
    const image = writeOciImage(dir, { files });
    return {
      ...image,
      platform,
      manifestSize: blobSize(dir, image.manifestDigest),
      configSize: blobSize(dir, image.configDigest),
    };
  });
  const index = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.index.v1+json',
      manifests: images.map((image) => {
        const [os, architecture] = image.platform.split('/');
        return {
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          digest: image.manifestDigest,
          size: image.manifestSize,
          platform: { os, architecture },
        };
      }),
    }),
  );
  const indexDigest = `sha256:${createHash('sha256').update(index).digest('hex')}`;
  writeFileSync(join(dir, 'blobs', 'sha256', indexDigest.slice('sha256:'.length)), index);
  writeFileSync(
    join(dir, 'index.json'),
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.index.v1+json',
      manifests: [
        {
          mediaType: 'application/vnd.oci.image.index.v1+json',
          digest: indexDigest,
          size: index.length,
          annotations: { 'org.opencontainers.image.ref.name': 'latest' },
        },
      ],
    }),
  );
  return { dir, indexDigest, indexSize: index.length, images };
}

/** config + layers of an OciImage written by writeOciImage. */
export function ociImageSize(image: OciImage): number {
  return blobSize(image.dir, image.configDigest) + image.layers.reduce((sum, layer) => sum + layer.size, 0);
}
