import { Testing } from 'cdk8s';
import * as yaml from 'js-yaml';
import { describe, expect, it } from 'vitest';
import { RegistryChart } from '../lib';
import { readMaterial } from '../lib/material';
import { parseManifestYaml } from '../lib/manifest-yaml';
import { NOW, materialTemplate } from './cli/helpers';
import { seededRandom } from './support/seeded-random';

/** js-yaml's reading, or 'error' when it refuses the text. */
function jsYaml(text: string): unknown {
  try {
    return yaml.loadAll(text);
  } catch {
    return 'error';
  }
}

/** The property that makes the reader safe: whenever it answers, js-yaml gives exactly that. */
function expectAgreement(text: string): unknown {
  const fast = parseManifestYaml(text);
  if (fast !== undefined) expect(jsYaml(text), JSON.stringify(text)).toEqual(fast);
  return fast;
}

/** What `cdk8s synth` writes for a RegistryChart made from material in a temp directory. */
function synthesized(options: Parameters<typeof materialTemplate>[0] = {}): string {
  const material = readMaterial(materialTemplate(options).dir, { now: NOW });
  const app = Testing.app();
  new RegistryChart(app, 'registry', { material });
  return app.synthYaml();
}

describe('parseManifestYaml', () => {
  it('reads what cdk8s synth writes for the registry, exactly as js-yaml does', () => {
    for (const text of [synthesized(), synthesized({ caches: [{ upstream: 'docker.io' }, { upstream: 'ghcr.io' }] })]) {
      const documents = expectAgreement(text);
      expect(documents).toEqual(yaml.loadAll(text));
    }
  });

  it('reads the literal block scalars, sequences of maps and flow collections cdk8s writes', () => {
    const text = [
      'kind: ConfigMap',
      'data:',
      '  script: |',
      '    #!/bin/sh',
      '',
      '      indented: "kept" # as text',
      '    last',
      '',
      '',
      '  stripped: |-',
      '    one',
      '    two',
      'items:',
      '  - name: a',
      '    emptyDir: {}',
      '    args: []',
      '  - "quoted"',
      "  - 'it''s'",
      '  - 0.0.0.0:5000',
      '  - 10Gi',
      '  - 5000',
      '  - 9a69b7a9',
      '  - 0e12ab34',
      '  - true',
      '  - False',
      '  - 0 3 * * 0',
      '  - --namespace',
      '---',
      'kind: Secret',
      'data:',
      '  tls.crt: LS0tLS1CRUdJTg==',
      '',
    ].join('\n');
    expect(expectAgreement(text)).toEqual([
      {
        kind: 'ConfigMap',
        data: { script: '#!/bin/sh\n\n  indented: "kept" # as text\nlast\n', stripped: 'one\ntwo' },
        items: [
          { name: 'a', emptyDir: {}, args: [] },
          'quoted',
          "it's",
          '0.0.0.0:5000',
          '10Gi',
          5000,
          '9a69b7a9',
          '0e12ab34',
          true,
          false,
          '0 3 * * 0',
          '--namespace',
        ],
      },
      { kind: 'Secret', data: { 'tls.crt': 'LS0tLS1CRUdJTg==' } },
    ]);
  });

  it('leaves everything else to js-yaml: other YAML, and YAML that js-yaml refuses', () => {
    const outside = [
      '',
      '---\n',
      'a: 1\n---\n',
      '- a\n',
      'a: b\n# a comment\n',
      'a: b # a comment\n',
      'a:\n- b\n',
      'a:\n',
      'a: b\na: c\n',
      'a: &x b\n',
      'a: *x\n',
      'a: !!str 1\n',
      'a: >-\n  folded\n',
      'a: |+\n  kept\n',
      'a: |2\n    indented\n',
      'a: |\n\n  after an empty line\n',
      'a: |\n  x\n   \n  y\n',
      'a: "multi\n  line"\n',
      'a: plain\n  continued\n',
      'a: 1.5\n',
      'a: 0x1F\n',
      'a: 2001-12-14\n',
      'a: 2001-12-14t21:59:43.10-05:00\n',
      'a: null\n',
      'a: ~\n',
      'a: -1\n',
      'a: value \n',
      'a: [b, c]\n',
      'a: {b: c}\n',
      '"a": b\n',
      'true: b\n',
      '%YAML 1.2\n---\na: b\n',
      'a: b\n...\n',
      'a:\tb\n',
      'a: b\r\n',
      'a: caf\u00e9\n',
      'a: [\n',
    ];
    for (const text of outside) expect(expectAgreement(text), JSON.stringify(text)).toBeUndefined();
  });

  it('agrees with js-yaml on every scalar it reads, whatever the characters', () => {
    const random = seededRandom('manifest-yaml');
    const alphabet = 'aZ0159:/.-_ #"\'\\{}[],&*!|>%@`?~=+bfFeExXoOTtZzgG';
    const specials = [
      'yes',
      'No',
      'on',
      'Off',
      'y',
      '.inf',
      '.NaN',
      '0o17',
      '0b101',
      '1e5',
      '1_000',
      '0123',
      '12:30',
      '1:2:3',
      '007',
      '9007199254740993',
      '123456789012345',
      '1234567890123456',
      'http://a:b@c/d?e#f',
      'a:b',
      'a :b',
      'x\\y',
      '2001-1-1',
      '2001-12-14 21:59:43',
    ];
    const scalars = [...specials];
    for (let n = 0; n < 3000; n++) {
      const bytes = random(1 + (n % 8));
      scalars.push([...bytes].map((byte) => alphabet[byte % alphabet.length]).join(''));
    }
    let answered = 0;
    for (const scalar of scalars) {
      for (const text of [
        `a: ${scalar}\n`,
        `a:\n  - ${scalar}\n`,
        `${scalar}: b\n`,
        `a: "${scalar}"\n`,
        `a: '${scalar}'\n`,
      ]) {
        if (expectAgreement(text) !== undefined) answered++;
      }
    }
    // The comparison means something only if the reader answers for a good share of them.
    expect(answered).toBeGreaterThan(scalars.length);
  });

  it('agrees with js-yaml on every line of a synthesized file changed or removed', () => {
    const lines = synthesized({ caches: [{ upstream: 'docker.io' }] }).split('\n');
    const edits = [
      (line: string) => line.replace(/: /, ':  '),
      (line: string) => line.replace(/^ {2}/, ''),
      (line: string) => `  ${line}`,
      (line: string) => `${line} # note`,
      (line: string) => line.replace(/[a-z]/, ':'),
      () => '---',
      () => '',
    ];
    // Each line removed, and changed by one of the edits in turn (all of them on every line took seconds).
    for (let index = 0; index < lines.length; index++) {
      const edit = edits[index % edits.length];
      expectAgreement([...lines.slice(0, index), ...lines.slice(index + 1)].join('\n'));
      expectAgreement([...lines.slice(0, index), edit(lines[index]), ...lines.slice(index + 1)].join('\n'));
    }
  });
});
