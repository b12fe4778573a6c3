import { describe, expect, it } from 'vitest';
import type { RegistriesConfig } from '../lib';
import { HOSTS_TOML_HEADER, containerdHostsFiles, tomlString } from '../lib/containerd-hosts';

const H = HOSTS_TOML_HEADER;

/** The registries.yaml this project writes for k3d nodes (see FIELD-NOTES). */
const DEFAULT_CONFIG: RegistriesConfig = {
  mirrors: {
    'localhost:31113': { endpoint: ['https://container-registry.local:5000'] },
    'container-registry.local:5000': { endpoint: ['https://container-registry.local:5000'] },
  },
  configs: {
    'container-registry.local:5000': {
      auth: { username: 'iris', password: 'p@ss"word' },
      tls: { ca_file: '/registry/certs/ca.crt' },
    },
  },
};

const asMap = (
  config: RegistriesConfig,
  options?: Parameters<typeof containerdHostsFiles>[1],
): Record<string, string> => Object.fromEntries(containerdHostsFiles(config, options).map((f) => [f.host, f.content]));

describe('containerdHostsFiles', () => {
  it('renders the default k3d config exactly as k3s lays it out', () => {
    expect(containerdHostsFiles(DEFAULT_CONFIG)).toEqual([
      {
        host: 'container-registry.local:5000',
        content: [
          H,
          'server = "https://container-registry.local:5000/v2"',
          'capabilities = ["pull", "resolve", "push"]',
          'ca = ["/registry/certs/ca.crt"]',
          '',
          '[host]',
          '',
        ].join('\n'),
      },
      {
        host: 'localhost:31113',
        content: [
          H,
          // k3s: localhost on a port other than 443 defaults to plain http.
          'server = "http://localhost:31113/v2"',
          'capabilities = ["pull", "resolve", "push"]',
          '',
          '[host]',
          '',
          '[host."https://container-registry.local:5000/v2"]',
          '  capabilities = ["pull", "resolve"]',
          '  ca = ["/registry/certs/ca.crt"]',
          '',
        ].join('\n'),
      },
    ]);
  });

  it('never writes credentials (k3s keeps them in config.toml)', () => {
    const all = containerdHostsFiles(DEFAULT_CONFIG)
      .map((f) => f.content)
      .join('\n');
    expect(all).not.toContain('iris');
    expect(all).not.toContain('p@ss');
    expect(all).not.toMatch(/auth|username|password/);
  });

  it('writes one [host] per endpoint, in order, with each endpoint host’s own TLS config', () => {
    const files = asMap({
      mirrors: {
        'docker.io': {
          endpoint: ['https://mirror-a.example:5000', 'mirror-b.example', 'http://10.0.0.7:8080/', 'docker.io'],
        },
      },
      configs: {
        'mirror-a.example:5000': { tls: { ca_file: '/certs/a.crt' } },
        'mirror-b.example': { tls: { insecure_skip_verify: true } },
      },
    });
    expect(Object.keys(files)).toEqual(['docker.io', 'mirror-a.example:5000', 'mirror-b.example']);
    expect(files['docker.io']).toBe(
      [
        H,
        // The last endpoint is docker.io's own default: folded into `server`, not a [host] entry.
        'server = "https://registry-1.docker.io/v2"',
        'capabilities = ["pull", "resolve", "push"]',
        '',
        '[host]',
        '',
        '[host."https://mirror-a.example:5000/v2"]',
        '  capabilities = ["pull", "resolve"]',
        '  ca = ["/certs/a.crt"]',
        '',
        '[host."https://mirror-b.example/v2"]',
        '  capabilities = ["pull", "resolve"]',
        '  skip_verify = true',
        '',
        '[host."http://10.0.0.7:8080/v2"]',
        '  capabilities = ["pull", "resolve"]',
        '',
      ].join('\n'),
    );
    // configs keys get their own directory (k3s#9839), TLS at the top level for the default endpoint.
    expect(files['mirror-b.example']).toBe(
      [
        H,
        'server = "https://mirror-b.example/v2"',
        'capabilities = ["pull", "resolve", "push"]',
        'skip_verify = true',
        '',
        '[host]',
        '',
      ].join('\n'),
    );
  });

  it('normalizes endpoints like k3s: scheme, /v2, override_path, localhost, duplicates', () => {
    const files = asMap({
      mirrors: {
        'example.org': {
          endpoint: [
            'registry.example.com',
            'https://registry.example.com/v2',
            'https://registry.example.com/',
            'registry.example.com:443',
            'localhost:5000',
            'https://localhost:5001',
            '127.0.0.1:5002',
            'https://registry.example.com/prefix/v2',
          ],
        },
      },
    });
    const hosts = [...files['example.org'].matchAll(/^\[host\.(".*")\]$/gm)].map((m) => JSON.parse(m[1]) as string);
    expect(hosts).toEqual([
      'https://registry.example.com/v2',
      'https://registry.example.com:443/v2',
      'http://localhost:5000/v2',
      'https://localhost:5001/v2',
      'http://127.0.0.1:5002/v2',
      'https://registry.example.com/prefix/v2',
    ]);
    expect(files['example.org']).toContain(
      '[host."https://registry.example.com/prefix/v2"]\n  capabilities = ["pull", "resolve"]\n  override_path = true\n',
    );
  });

  it('leaves the endpoint without its CA when configs is keyed by the mirror name (the classic mistake)', () => {
    const files = asMap({
      mirrors: { 'localhost:31113': { endpoint: ['https://container-registry.local:5000'] } },
      configs: { 'localhost:31113': { tls: { ca_file: '/registry/certs/ca.crt' } } },
    });
    expect(files['localhost:31113']).toBe(
      [
        H,
        'server = "http://localhost:31113/v2"',
        'capabilities = ["pull", "resolve", "push"]',
        'ca = ["/registry/certs/ca.crt"]', // applies to the plain-http default only
        '',
        '[host]',
        '',
        '[host."https://container-registry.local:5000/v2"]',
        '  capabilities = ["pull", "resolve"]',
        '',
      ].join('\n'),
    );
  });

  it('maps ca, client cert and key paths through mapPath', () => {
    const files = asMap(
      {
        mirrors: { 'localhost:31113': { endpoint: ['https://container-registry.local:5000'] } },
        configs: {
          'container-registry.local:5000': {
            tls: {
              ca_file: '/registry/certs/ca.crt',
              cert_file: '/registry/certs/client.crt',
              key_file: '/registry/certs/client.key',
            },
          },
        },
      },
      { mapPath: (p) => p.replace(/^\/registry\//, '/tmp/sandbox-42/registry/') },
    );
    expect(files['localhost:31113']).toContain(
      [
        '[host."https://container-registry.local:5000/v2"]',
        '  capabilities = ["pull", "resolve"]',
        '  ca = ["/tmp/sandbox-42/registry/certs/ca.crt"]',
        '  client = [["/tmp/sandbox-42/registry/certs/client.crt", "/tmp/sandbox-42/registry/certs/client.key"]]',
      ].join('\n'),
    );
    expect(files['container-registry.local:5000']).toContain('\nca = ["/tmp/sandbox-42/registry/certs/ca.crt"]\n');
    expect(Object.values(files).join('')).not.toMatch(/"\/registry\//);
  });

  it('writes client = [[cert, ""]] when only one of cert/key is given, as k3s does', () => {
    const files = asMap({ mirrors: {}, configs: { 'r.example': { tls: { cert_file: '/c.crt' } } } });
    expect(files['r.example']).toContain('\nclient = [["/c.crt", ""]]\n');
  });

  it('is deterministic: same files whatever the key order, sorted by directory', () => {
    const reversed: RegistriesConfig = {
      configs: { ...DEFAULT_CONFIG.configs },
      mirrors: {
        'container-registry.local:5000': DEFAULT_CONFIG.mirrors['container-registry.local:5000'],
        'localhost:31113': DEFAULT_CONFIG.mirrors['localhost:31113'],
        'b.example': { endpoint: ['https://z.example'] },
        'a.example': { endpoint: ['https://z.example'] },
      },
    };
    const first = containerdHostsFiles(reversed);
    expect(first.map((f) => f.host)).toEqual([
      'a.example',
      'b.example',
      'container-registry.local:5000',
      'localhost:31113',
    ]);
    expect(
      containerdHostsFiles({ ...reversed, mirrors: Object.fromEntries(Object.entries(reversed.mirrors).reverse()) }),
    ).toEqual(first);
    expect(containerdHostsFiles(reversed)).toEqual(first);
  });

  it('escapes quotes and backslashes in TOML strings', () => {
    const files = asMap(
      { mirrors: {}, configs: { 'r.example': { tls: { ca_file: 'C:\\certs\\"odd" ca.crt' } } } },
      { mapPath: (p) => `${p}\n` },
    );
    expect(files['r.example']).toContain('\nca = ["C:\\\\certs\\\\\\"odd\\" ca.crt\\n"]\n');
  });

  it('renders rewrites under their host, sorted by pattern, escaped', () => {
    const files = asMap({
      mirrors: {
        'docker.io': {
          endpoint: ['https://mirror.example'],
          rewrite: { '^library/(.*)$': 'dockerhub/$1', '^(.*)$': 'all/\\1' },
        },
      },
    });
    expect(files['docker.io']).toContain(
      [
        '[host."https://mirror.example/v2"]',
        '  capabilities = ["pull", "resolve"]',
        '  [host."https://mirror.example/v2".rewrite]',
        '    "^(.*)$" = "all/\\\\1"',
        '    "^library/(.*)$" = "dockerhub/$1"',
      ].join('\n'),
    );
  });

  it('skips a registry whose only content would be its unconfigured default endpoint', () => {
    expect(containerdHostsFiles({ mirrors: { 'r.example': { endpoint: ['https://r.example'] } } })).toEqual([]);
    expect(containerdHostsFiles({ mirrors: { 'docker.io': { endpoint: [] } } })).toEqual([]);
    expect(containerdHostsFiles({ mirrors: {} })).toEqual([]);
  });

  it('finds docker.io settings under registry-1.docker.io too', () => {
    const files = asMap({
      mirrors: { 'docker.io': { endpoint: ['docker.io'] } },
      configs: { 'registry-1.docker.io': { tls: { ca_file: '/hub.crt' } } },
    });
    expect(files['docker.io']).toBe(
      [
        H,
        'server = "https://registry-1.docker.io/v2"',
        'capabilities = ["pull", "resolve", "push"]',
        'ca = ["/hub.crt"]',
        '',
        '[host]',
        '',
      ].join('\n'),
    );
  });

  it('supports --disable-default-registry-endpoint and the * wildcard (_default directory)', () => {
    const files = asMap(
      { mirrors: { 'r.example': { endpoint: ['https://m.example'] }, '*': { endpoint: ['https://m.example'] } } },
      { noDefaultEndpoint: true },
    );
    expect(Object.keys(files)).toEqual(['_default', 'r.example']);
    expect(files['r.example']).toBe(
      [H, '', '[host]', '', '[host."https://m.example/v2"]', '  capabilities = ["pull", "resolve"]', ''].join('\n'),
    );
    expect(asMap({ mirrors: { '*': { endpoint: ['https://m.example'] } } })._default).not.toContain('server');
  });

  it('rejects an endpoint that is not a URL or host[:port]', () => {
    expect(() => containerdHostsFiles({ mirrors: { x: { endpoint: ['https://'] } } })).toThrow(
      /cannot parse registry endpoint "https:\/\/"/,
    );
    expect(() => containerdHostsFiles({ mirrors: { x: { endpoint: ['r.example:https'] } } })).toThrow(
      /invalid port "https"/,
    );
  });
});

describe('tomlString', () => {
  it('escapes backslash, quote and control characters', () => {
    expect(tomlString('plain')).toBe('"plain"');
    expect(tomlString('a"b')).toBe('"a\\"b"');
    expect(tomlString('a\\b')).toBe('"a\\\\b"');
    expect(tomlString('\t\n\r\b\f')).toBe('"\\t\\n\\r\\b\\f"');
    expect(tomlString('\u0000\u001f\u007f')).toBe('"\\u0000\\u001F\\u007F"');
    expect(tomlString('ünïcødé ✓')).toBe('"ünïcødé ✓"');
  });

  it('agrees with JSON string syntax on printable text (both are basic-string escapes)', () => {
    for (const s of ['/registry/certs/ca.crt', 'C:\\x\\"y"', 'https://h:5000/v2', '^(.*)$'])
      expect(tomlString(s)).toBe(JSON.stringify(s));
  });
});
