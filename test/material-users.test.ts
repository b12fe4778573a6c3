import { describe, expect, it } from 'vitest';
import { withNodeCredentials } from '../lib/material-users';
import type { RegistriesConfig } from '../lib/registries-yaml';

describe('withNodeCredentials', () => {
  it("replaces only the nodes' auth: TLS settings, other hosts and mirrors stay", () => {
    const registries: RegistriesConfig = {
      mirrors: {
        'r.local:5000': { endpoint: ['https://r.local:5000'] },
        'docker.io': { endpoint: ['https://mirror.example'] },
      },
      configs: {
        'r.local:5000': { auth: { username: 'old', password: 'old' }, tls: { ca_file: '/registry/certs/ca.crt' } },
        'mirror.example': { tls: { insecure_skip_verify: true } },
      },
    };
    expect(withNodeCredentials(registries, { username: 'iris', password: 'new' })).toEqual({
      mirrors: registries.mirrors,
      configs: {
        'r.local:5000': { auth: { username: 'iris', password: 'new' }, tls: { ca_file: '/registry/certs/ca.crt' } },
        'mirror.example': { tls: { insecure_skip_verify: true } },
      },
    });
    expect(registries.configs?.['r.local:5000']?.auth?.username).toBe('old');
  });
});

describe('withNodeCredentials with pull-through caches', () => {
  it("gives every endpoint that logged in as the nodes' user the new credentials, and no other", () => {
    const nodes = { username: 'old', password: 'old-password' };
    const tls = { ca_file: '/registry/certs/ca.crt' };
    const registries: RegistriesConfig = {
      mirrors: {
        'r.local:5000': { endpoint: ['https://r.local:5000'] },
        'localhost:31113': { endpoint: ['https://r.local:5000'] },
        'docker.io': { endpoint: ['https://r.local:5100'] },
      },
      configs: {
        'r.local:5000': { auth: nodes, tls },
        'r.local:5100': { auth: nodes, tls },
        'elsewhere.example': { auth: { username: 'old', password: 'another' } },
      },
    };
    const updated = withNodeCredentials(registries, { username: 'iris', password: 'new' });
    expect(updated.configs?.['r.local:5100']).toEqual({ auth: { username: 'iris', password: 'new' }, tls });
    expect(updated.configs?.['r.local:5000']).toEqual({ auth: { username: 'iris', password: 'new' }, tls });
    expect(updated.configs?.['elsewhere.example']).toEqual({ auth: { username: 'old', password: 'another' } });
  });
});
