import { describe, expect, it } from 'vitest';
import { parseAuthChallenges } from '../lib/upstream-probe';

describe('parseAuthChallenges', () => {
  it("reads Docker Hub's Bearer challenge", () => {
    expect(
      parseAuthChallenges(
        'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/hello:pull"',
      ),
    ).toEqual([
      {
        scheme: 'Bearer',
        params: {
          realm: 'https://auth.docker.io/token',
          service: 'registry.docker.io',
          scope: 'repository:library/hello:pull',
        },
      },
    ]);
  });

  it('reads Basic, unquoted values, escapes, spaces and several challenges in one header', () => {
    expect(
      parseAuthChallenges('Basic realm="GitHub \\"Package\\" Registry", Bearer realm=https://x/token , service = s'),
    ).toEqual([
      { scheme: 'Basic', params: { realm: 'GitHub "Package" Registry' } },
      { scheme: 'Bearer', params: { realm: 'https://x/token', service: 's' } },
    ]);
  });

  it('gives nothing for an empty header and stops at an unterminated quote', () => {
    expect(parseAuthChallenges('')).toEqual([]);
    expect(parseAuthChallenges('Bearer realm="https://x')).toEqual([{ scheme: 'Bearer', params: {} }]);
  });
});
