import { describe, expect, it } from 'vitest';
import { formatBytes } from '../cli/commands/images';
import {
  type RepositoryImages,
  type TaggedImage,
  diskUsage,
  nextPage,
  parseImageReference,
} from '../lib/registry-images';

/** The real registry is in test/cli/images.real.test.ts; these are the pure parts. */
describe('registry-images', () => {
  it('follows a Link header to the next page, and stops without one', () => {
    expect(nextPage('</v2/_catalog?last=b&n=2>; rel="next"')).toBe('/v2/_catalog?last=b&n=2');
    expect(nextPage(['</v2/app/tags/list?last=v1&n=1>; rel=next'])).toBe('/v2/app/tags/list?last=v1&n=1');
    expect(nextPage('</v2/_catalog?n=2>; rel="prev"')).toBeUndefined();
    expect(nextPage(undefined)).toBeUndefined();
  });

  it.each([
    ['app:v1', { repository: 'app', tag: 'v1' }],
    ['team/app:1.0_rc-2', { repository: 'team/app', tag: '1.0_rc-2' }],
    [`app@sha256:${'a'.repeat(64)}`, { repository: 'app', digest: `sha256:${'a'.repeat(64)}` }],
    ['team/a.b__c-d:latest', { repository: 'team/a.b__c-d', tag: 'latest' }],
  ])('parses %s', (text, reference) => {
    expect(parseImageReference(text)).toEqual(reference);
  });

  it.each([
    ['app', 'name the tag (e.g. "app:latest") or the digest'],
    ['localhost:31113/app:v1', `give the repository without the registry's address, e.g. "app:v1"`],
    ['registry.local/app:v1', `give the repository without the registry's address, e.g. "app:v1"`],
    ['App:v1', 'a repository is lowercase letters and digits'],
    ['app/:v1', 'a repository is lowercase letters and digits'],
    ['app:', 'a tag is up to 128 letters'],
    [`app:${'x'.repeat(129)}`, 'a tag is up to 128 letters'],
    ['app@sha256:ABC', 'a digest is "sha256:" and 64 lowercase hex digits'],
    ['app:v1@sha256:abc', 'give the tag or the digest, not both, e.g. "app@sha256:abc"'],
    ['a.b/app:v1', `give the repository without the registry's address, e.g. "app:v1"`],
  ])('refuses %s, naming the value and the fix', (text, fix) => {
    expect(() => parseImageReference(text)).toThrow(
      `'image' must be REPOSITORY:TAG or REPOSITORY@sha256:<64 hex digits>, got ${JSON.stringify(text)}: ${fix}`,
    );
  });

  it('counts every blob once across tags and repositories, and what only one repository uses', () => {
    const image = (repository: string, tag: string, manifest: string, layers: [string, number][]): TaggedImage => {
      const config = { digest: `${manifest}-config`, size: 10 };
      const blobs = layers.map(([digest, size]) => ({ digest, size }));
      const size = 10 + layers.reduce((sum, [, layer]) => sum + layer, 0);
      return {
        repository,
        tag,
        digest: manifest,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        manifestSize: 1,
        isIndex: false,
        size,
        images: [{ digest: manifest, mediaType: '', manifestSize: 1, config, layers: blobs, size }],
      };
    };
    const repositories: RepositoryImages[] = [
      {
        repository: 'app',
        images: [
          image('app', 'v1', 'm1', [
            ['base', 1000],
            ['app1', 100],
          ]),
        ],
      },
      {
        repository: 'other',
        images: [
          image('other', 'a', 'm2', [
            ['base', 1000],
            ['o', 50],
          ]),
          image('other', 'b', 'm2', [
            ['base', 1000],
            ['o', 50],
          ]),
        ],
      },
    ];
    const usage = diskUsage(repositories);
    // base once; m1, m2 manifests (1 each) and configs (10 each); app1 and o.
    expect(usage).toMatchObject({ totalBytes: 1000 + 100 + 50 + 2 * 11, blobs: 7, apparentBytes: 1110 + 1060 * 2 });
    expect(usage.repositories).toEqual([
      { repository: 'app', tags: 1, bytes: 1111, exclusiveBytes: 111 },
      { repository: 'other', tags: 2, bytes: 1061, exclusiveBytes: 61 },
    ]);
  });

  it('prints sizes in binary units', () => {
    expect([0, 1023, 1024, 1536, 10 * 1024 ** 2, 3 * 1024 ** 3].map(formatBytes)).toEqual([
      '0 B',
      '1023 B',
      '1.0 KiB',
      '1.5 KiB',
      '10.0 MiB',
      '3.0 GiB',
    ]);
  });
});
