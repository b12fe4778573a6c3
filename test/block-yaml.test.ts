import * as yaml from 'js-yaml';
import { describe, expect, it } from 'vitest';
import { parsePlainBlockYaml, renderPlainBlockYaml, renderPlainYaml } from '../lib/block-yaml';
import { k3dClusterConfig } from '../lib/k3d-config';
import { type RegistriesConfig, nodeRegistriesConfig, renderRegistriesYaml } from '../lib/registries-yaml';
import { seededRandom } from './support/seeded-random';

/** js-yaml's reading, or 'error' when it refuses the document. */
function jsYaml(text: string): unknown {
  try {
    return yaml.load(text);
  } catch {
    return 'error';
  }
}

/** The property that makes the reader safe: whenever it answers, js-yaml gives exactly that. */
function expectAgreement(text: string): unknown {
  const fast = parsePlainBlockYaml(text);
  if (fast !== undefined) expect(jsYaml(text), JSON.stringify(text)).toEqual(fast);
  return fast;
}

const written: RegistriesConfig[] = [
  nodeRegistriesConfig({
    hostname: 'container-registry.local',
    registryPort: 5000,
    nodePort: 31113,
    credentials: { username: 'registry', password: 'jS7kQ2mZp9XvB4nR8tW3yH6c' },
    caFile: '/registry/certs/ca.crt',
  }),
  nodeRegistriesConfig({
    hostname: 'r.example',
    registryPort: 443,
    nodePort: 30500,
    credentials: { username: 'ci-bot_1', password: "p@ss w0rd #1 'quoted' {x}: [y], *z &a !t %u `v` |w >q" },
    caFile: '/registry/certs/ca.crt',
  }),
  {
    mirrors: {
      'docker.io': { endpoint: ['https://cache.local:5001', 'https://registry-1.docker.io'] },
      'localhost:31113': { endpoint: ['https://container-registry.local:5000'] },
    },
    configs: {
      'cache.local:5001': { auth: { username: 'u', password: 'p' }, tls: { ca_file: '/registry/certs/ca.crt' } },
    },
  },
];

describe('parsePlainBlockYaml', () => {
  it('reads what renderRegistriesYaml writes, exactly as js-yaml does', () => {
    for (const config of written) {
      const text = renderRegistriesYaml(config);
      expect(expectAgreement(text)).toEqual(config);
    }
  });

  it('leaves everything else to js-yaml: other YAML, and YAML that js-yaml refuses', () => {
    const text = renderRegistriesYaml(written[0]);
    const outside = [
      '',
      '# only a comment\n',
      'mirrors: {}\n', // flow style
      "mirrors:\n  a:\n    endpoint:\n      - 'https://a'\n", // single quotes
      'mirrors:\n  a:\n    endpoint:\n      - https://a\n', // plain value
      'configs:\n  a:\n    tls:\n      insecure_skip_verify: true\n', // a boolean
      'configs:\n  a:\n    tls:\n', // null
      'mirrors:\n  a: "x"\n  a: "y"\n', // duplicate key
      'true:\n  a: "x"\n',
      'null: "x"\n',
      '__proto__:\n  a: "x"\n',
      '1.5: "x"\n',
      '"quoted key": "x"\n',
      'a:\n    b: "x"\n  c: "y"\n', // bad indentation
      'a:\n- "x"\n', // a compact sequence
      'a: "x" # comment\n',
      'a: "tab\there"\n',
      'a: "escape \\n"\n',
      'a: "ünïcode"\n',
      '---\na: "x"\n',
      'a: &anchor "x"\nb: *anchor\n',
      text.replace(/\n/g, '\r\n'),
      `\uFEFF${text}`,
      text.replace('    endpoint:', '\tendpoint:'),
    ];
    for (const document of outside) expect(parsePlainBlockYaml(document), JSON.stringify(document)).toBeUndefined();
  });

  it('agrees with js-yaml on thousands of damaged copies of a registries.yaml', () => {
    const random = seededRandom('block-yaml');
    const pick = (n: number): number => random(4).readUInt32BE(0) % n;
    const alphabet = ' \n:-#"\'\\abc09._{}[]&*!|>%@`\t,?';
    const base = renderRegistriesYaml(written[2]);
    let answered = 0;
    for (let round = 0; round < 3000; round++) {
      let text = base;
      for (let edits = 1 + pick(3); edits > 0; edits--) {
        const at = pick(text.length + 1);
        const action = pick(4);
        if (action === 0) text = text.slice(0, at) + text.slice(at + 1);
        else if (action === 1) text = text.slice(0, at) + alphabet[pick(alphabet.length)] + text.slice(at);
        else if (action === 2) text = text.slice(0, at) + alphabet[pick(alphabet.length)] + text.slice(at + 1);
        else {
          const lines = text.split('\n');
          const line = pick(lines.length);
          lines.splice(pick(lines.length + 1), 0, lines[line]);
          text = lines.join('\n');
        }
      }
      if (expectAgreement(text) !== undefined) answered++;
    }
    // Many damaged copies are still plain documents it reads; the rest went to js-yaml.
    expect(answered).toBeGreaterThan(300);
    expect(answered).toBeLessThan(3000);
  });
});

describe('renderPlainBlockYaml', () => {
  const dump = (value: unknown): string =>
    yaml.dump(value, { lineWidth: -1, forceQuotes: true, quotingType: '"', noRefs: true });

  it("writes registries.yaml byte for byte as js-yaml's dump does", () => {
    for (const config of written) {
      expect(renderPlainBlockYaml(config as unknown as Record<string, unknown>)).toBe(dump(config));
    }
  });

  it('agrees with js-yaml on random documents, and leaves everything outside its subset to it', () => {
    const random = seededRandom('block-yaml-render');
    const pick = <T>(options: readonly T[]): T => options[random(4).readUInt32BE(0) % options.length];
    const keys = ['mirrors', 'a', 'docker.io', 'localhost:5000', 'ca_file', 'x-y_z', 'yes', 'on', 'N', 'null', 'True'];
    const more = ['*', '1x', '-a', 'a b', '#a', "'a'", 'ü', 'k'.repeat(1100), '__proto__x'];
    const strings = [
      '',
      'x',
      'https://a:1/b',
      "it's # not: a [comment]",
      ' spaced ',
      'q"uote',
      'back\\slash',
      'ü',
      'a\nb',
    ];
    const node = (depth: number): unknown => {
      const kind = depth > 2 ? 0 : random(1)[0] % 4;
      if (kind === 0) return pick(strings);
      if (kind === 1) return Array.from({ length: random(1)[0] % 3 }, () => pick(strings));
      const map: Record<string, unknown> = {};
      for (let n = random(1)[0] % 3; n >= 0; n--) map[pick(random(1)[0] % 5 === 0 ? more : keys)] = node(depth + 1);
      return map;
    };
    let written = 0;
    for (let round = 0; round < 2000; round++) {
      const value = { [pick(keys)]: node(0) };
      const text = renderPlainBlockYaml(value);
      if (text === undefined) continue;
      written++;
      expect(text, JSON.stringify(value)).toBe(dump(value));
      expect(parsePlainBlockYaml(text)).toEqual(value);
    }
    expect(written).toBeGreaterThan(200);
    expect(written).toBeLessThan(2000);
    expect(renderPlainBlockYaml({ a: { b: true } })).toBeUndefined();
    expect(renderPlainBlockYaml({ a: [] })).toBeUndefined();
    expect(renderPlainBlockYaml({ a: {} })).toBeUndefined();
  });
});

describe('renderPlainYaml', () => {
  const dump = (value: unknown): string => yaml.dump(value, { lineWidth: -1, noRefs: true });

  it("writes k3d configs byte for byte as js-yaml's dump does", () => {
    const configs = [
      k3dClusterConfig({ materialDir: '/home/me/registry' }),
      k3dClusterConfig({ materialDir: '/srv/reg_1/x-y.z+v=2', name: 'dev-2', servers: 3, agents: 2, nodePort: 30500 }),
      k3dClusterConfig({ materialDir: '/m', image: 'docker.io/rancher/k3s:v1.33.1-k3s1' }),
    ];
    for (const config of configs) {
      const value = config as unknown as Record<string, unknown>;
      expect(renderPlainYaml(value)).toBe(dump(config));
    }
  });

  it('agrees with js-yaml on random documents, and leaves everything outside its subset to it', () => {
    const random = seededRandom('plain-yaml-render');
    const pick = <T>(options: readonly T[]): T => options[random(4).readUInt32BE(0) % options.length];
    const anyCharacter = 'aZ019/.:-_*@+=#\' "`,[]{}&!|>%?~eExXoObT';
    const wordCharacter = 'aZ019/.:-_*@+=eExXoObT';
    const word = (): string => {
      const alphabet = random(1)[0] % 2 === 0 ? anyCharacter : wordCharacter;
      return Array.from(random(1 + (random(1)[0] % 8)), (byte) => alphabet[byte % alphabet.length]).join('');
    };
    // Mostly what it writes, sometimes what it must leave to js-yaml: one of those spoils the whole document.
    const sometimes = <T>(usual: readonly T[], rare: readonly T[]): T =>
      random(1)[0] % 6 === 0 ? pick(rare) : pick(usual);
    const keyOf = (): string =>
      sometimes(
        ['volumes', 'a', 'node.filters', 'x-y_z', 'Port2'],
        ['yes', 'on', 'N', 'null', 'True', '1', '-k', 'k:', word()],
      );
    const scalars = (): unknown =>
      sometimes<unknown>(
        [
          word(),
          word(),
          'server:*',
          '127.0.0.1:31113:31113',
          '1:30',
          '0x1F',
          '2025-01-02',
          '1e5',
          '--private-registry=/registry/certs/registries.yaml',
          '-1',
          "-it's",
          0,
          7,
        ],
        ['', -1, 1.5, true, null],
      );
    const node = (depth: number): unknown => {
      const kind = depth > 2 ? 0 : random(1)[0] % 4;
      if (kind === 0) return scalars();
      if (kind === 1) return Array.from({ length: random(1)[0] % 3 }, () => (depth < 2 ? node(depth + 1) : scalars()));
      const map: Record<string, unknown> = {};
      for (let n = random(1)[0] % 3; n >= 0; n--) map[keyOf()] = node(depth + 1);
      return map;
    };
    let written = 0;
    for (let round = 0; round < 4000; round++) {
      const value = { [keyOf()]: node(0) };
      const text = renderPlainYaml(value);
      if (text === undefined) continue;
      written++;
      expect(text, JSON.stringify(value)).toBe(dump(value));
    }
    expect(written).toBeGreaterThan(300);
    expect(written).toBeLessThan(4000);
    expect(renderPlainYaml({ a: [] })).toBeUndefined();
    expect(renderPlainYaml({ a: {} })).toBeUndefined();
  });

  it('leaves -0 to js-yaml, which writes it as -0.0 (k3d-config --agents -0)', () => {
    expect(renderPlainYaml({ agents: -0 })).toBeUndefined();
    expect(renderPlainYaml({ agents: 0 })).toBe(dump({ agents: 0 }));
  });
});
