import * as fs from 'node:fs';
import * as path from 'node:path';
import Ajv from 'ajv';
import * as yaml from 'js-yaml';
import { beforeAll, describe, expect, it } from 'vitest';
import { type K3dConfigArgs, k3dConfig } from '../../cli/commands/k3d-config';
import { main } from '../../cli/main';
import { materialTemplate, captureIo, tempDir, treeHashes } from './helpers';

// k3d's own schema for its config file, vendored with its source and license (see that directory's README).
const SCHEMA_FILE = path.resolve(__dirname, '../fixtures/vendor/k3d/k3d-v1alpha5.schema.json');

/** The schema is draft-07, which is what Ajv's default class speaks; its two formats are added by hand. */
function k3dSchemaValidator(): (data: unknown) => string[] {
  const ajv = new Ajv({ allErrors: true });
  ajv.addFormat('hostname', /^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/i);
  ajv.addFormat('ipv4', /^(\d{1,3}\.){3}\d{1,3}$/);
  const schema = JSON.parse(fs.readFileSync(SCHEMA_FILE, 'utf8')) as { $schema: string };
  expect(schema.$schema).toBe('http://json-schema.org/draft-07/schema#');
  const validate = ajv.compile(schema);
  return (data) =>
    validate(data) ? [] : (validate.errors ?? []).map((error) => `${error.instancePath} ${error.message}`);
}

const ARGS: Omit<K3dConfigArgs, 'dir'> = { name: 'k3s-default', servers: 1, agents: 0, printCommand: false };

describe('k3d-config', () => {
  let template: ReturnType<typeof materialTemplate>;
  let schemaErrors: (data: unknown) => string[];
  beforeAll(() => {
    template = materialTemplate();
    schemaErrors = k3dSchemaValidator();
  });

  it("prints a k3d.io/v1alpha5 Simple config that k3d's schema accepts", async () => {
    const io = captureIo();
    expect(await k3dConfig({ ...ARGS, dir: template.dir }, io)).toBe(0);
    const config = yaml.load(io.out());
    expect(schemaErrors(config)).toEqual([]);
    expect(config).toEqual({
      apiVersion: 'k3d.io/v1alpha5',
      kind: 'Simple',
      metadata: { name: 'k3s-default' },
      servers: 1,
      agents: 0,
      image: 'rancher/k3s:v1.32.5-k3s1',
      volumes: [{ volume: `${template.dir}/node:/registry:ro`, nodeFilters: ['server:*', 'agent:*'] }],
      ports: [{ port: '127.0.0.1:31113:31113', nodeFilters: ['loadbalancer'] }],
      options: {
        k3s: {
          extraArgs: [
            { arg: '--private-registry=/registry/certs/registries.yaml', nodeFilters: ['server:*', 'agent:*'] },
          ],
        },
      },
    });
    expect(io.out()).toMatch(/^# k3d cluster with the private registry: k3d cluster create --config <this file>\n/);
  });

  it('mounts and configures agents too, and takes the NodePort from the material', async () => {
    const custom = materialTemplate({ nodePort: 30999 });
    const io = captureIo();
    expect(
      await main(['k3d-config', '--dir', custom.dir, '--name', 'dev', '--servers', '3', '--agents', '2'], io),
    ).toBe(0);
    const config = yaml.load(io.out()) as Record<string, unknown>;
    expect(schemaErrors(config)).toEqual([]);
    expect(config).toMatchObject({
      metadata: { name: 'dev' },
      servers: 3,
      agents: 2,
      volumes: [{ volume: `${custom.dir}/node:/registry:ro`, nodeFilters: ['server:*', 'agent:*'] }],
      ports: [{ port: '127.0.0.1:30999:30999', nodeFilters: ['loadbalancer'] }],
      options: {
        k3s: {
          extraArgs: [
            { arg: '--private-registry=/registry/certs/registries.yaml', nodeFilters: ['server:*', 'agent:*'] },
          ],
        },
      },
    });
  });

  it('resolves a relative --dir to the absolute path k3d needs', async () => {
    const io = captureIo();
    const relative = path.relative(process.cwd(), template.dir);
    expect(await main(['k3d-config', '--dir', relative], io)).toBe(0);
    expect((yaml.load(io.out()) as { volumes: { volume: string }[] }).volumes[0].volume).toBe(
      `${template.dir}/node:/registry:ro`,
    );
  });

  it('--out writes the file (0644) and says how to use it', async () => {
    const out = path.join(tempDir(), 'k3d.yaml');
    const io = captureIo();
    expect(await main(['k3d-config', '--dir', template.dir, '--out', out], io)).toBe(0);
    expect(io.out()).toBe('');
    expect(io.err()).toBe(`wrote ${out}: k3d cluster create --config ${out}\n`);
    expect(schemaErrors(yaml.load(fs.readFileSync(out, 'utf8')))).toEqual([]);
    expect(fs.statSync(out).mode & 0o777).toBe(0o644);
  });

  it('--out never replaces an existing config, and says when it has k3d registries: settings, which k3s would ignore', async () => {
    const out = path.join(tempDir(), 'k3d.yaml');
    const existing =
      'apiVersion: k3d.io/v1alpha5\nkind: Simple\nregistries:\n  use: [k3d-myregistry:5000]\noptions:\n  k3s:\n    extraArgs:\n      - arg: --private-registry=/registry/certs/registries.yaml\n';
    fs.writeFileSync(out, existing);
    const io = captureIo();
    expect(await main(['k3d-config', '--dir', template.dir, '--out', out], io)).toBe(2);
    expect(io.err()).toContain(
      `error: --out ${out} already exists (and it has k3d "registries:" settings and --private-registry: k3s reads only --private-registry, so k3d's registries (create, use, config) are silently ignored`,
    );
    expect(fs.readFileSync(out, 'utf8')).toBe(existing);
  });

  it('--k3s-image overrides the pinned image and refuses a broken one', async () => {
    const io = captureIo();
    expect(await main(['k3d-config', '--dir', template.dir, '--k3s-image', 'rancher/k3s:v1.31.4-k3s1'], io)).toBe(0);
    expect((yaml.load(io.out()) as { image: string }).image).toBe('rancher/k3s:v1.31.4-k3s1');
    const broken = captureIo();
    expect(await main(['k3d-config', '--dir', template.dir, '--k3s-image', 'rancher/k3s:v1.26.15-k3s1'], broken)).toBe(
      2,
    );
    expect(broken.err()).toMatch(
      /^error: --k3s-image is "rancher\/k3s:v1\.26\.15-k3s1": k3s v1\.26 .*: use rancher\/k3s:v1\.32\.5-k3s1 or any k3s from v1\.29\.4 on\n$/,
    );
  });

  it('--print-command prints the same cluster as one quoted k3d command line', async () => {
    const io = captureIo();
    expect(await main(['k3d-config', '--dir', template.dir, '--agents', '1', '--print-command'], io)).toBe(0);
    expect(io.out()).toBe(
      `k3d cluster create k3s-default --servers 1 --agents 1 --image rancher/k3s:v1.32.5-k3s1 --volume '${template.dir}/node:/registry:ro@server:*;agent:*' ` +
        `--port 127.0.0.1:31113:31113@loadbalancer --k3s-arg '--private-registry=/registry/certs/registries.yaml@server:*;agent:*'\n`,
    );
  });

  it('quotes a material directory with spaces and quotes for the shell', async () => {
    const dir = path.join(tempDir(), "my 'dev' registry");
    fs.cpSync(template.dir, dir, { recursive: true });
    const io = captureIo();
    expect(await main(['k3d-config', '--dir', dir, '--print-command'], io)).toBe(0);
    expect(io.out()).toContain(`--volume '${dir.replace(/'/g, `'\\''`)}/node:/registry:ro@server:*;agent:*'`);
  });

  describe('bad input exits 2 and names the flag', () => {
    const cases: { name: string; args: string[]; error: string }[] = [
      {
        name: 'a cluster name k3d rejects',
        args: ['--name', 'Dev_1'],
        error: `--name must be a DNS label (lowercase letters, digits and '-', starting and ending with a letter or digit, at most 63 characters), got "Dev_1": pick a name like "container-registry"`,
      },
      {
        name: 'a cluster name over 32 characters',
        args: ['--name', 'a'.repeat(33)],
        error: `--name must be at most 32 characters (k3d's limit), got "${'a'.repeat(33)}" (33): pick a shorter name`,
      },
      {
        name: 'no servers',
        args: ['--servers', '0'],
        error: '--servers must be an integer in 1-99, got 0: give the number of server nodes, usually 1 (3 for HA)',
      },
      {
        name: 'a fractional agent count',
        args: ['--agents', '1.5'],
        error: '--agents must be an integer in 0-99, got 1.5: give the number of agent nodes, e.g. 0 or 2',
      },
      {
        name: '--out in a missing directory',
        args: ['--out', '/nonexistent-dir-4f1c/k3d.yaml'],
        error:
          '--out /nonexistent-dir-4f1c/k3d.yaml: directory /nonexistent-dir-4f1c does not exist: create it or write somewhere else',
      },
    ];
    for (const { name, args, error } of cases) {
      it(name, async () => {
        const before = treeHashes(template.dir);
        const io = captureIo();
        expect(await main(['k3d-config', '--dir', template.dir, ...args], io)).toBe(2);
        expect(io.err()).toBe(`error: ${error}\n`);
        expect(io.out()).toBe('');
        expect(treeHashes(template.dir)).toEqual(before);
      });
    }

    it('--out an existing directory', async () => {
      const out = tempDir();
      const io = captureIo();
      expect(await main(['k3d-config', '--dir', template.dir, '--out', out], io)).toBe(2);
      expect(io.err()).toBe(`error: --out ${out} is a directory: name a file, e.g. --out ${out}/k3d.yaml\n`);
      expect(fs.readdirSync(out)).toEqual([]);
    });

    it('--out under a file', async () => {
      const parent = tempDir();
      fs.writeFileSync(path.join(parent, 'file'), '');
      const out = path.join(parent, 'file/k3d.yaml');
      const io = captureIo();
      expect(await main(['k3d-config', '--dir', template.dir, '--out', out], io)).toBe(2);
      expect(io.err()).toBe(
        `error: --out ${out} cannot be written (ENOTDIR: not a directory): pick a file in a directory you can write to\n`,
      );
      expect(fs.readdirSync(parent)).toEqual(['file']);
    });

    it('a material directory k3d cannot mount', async () => {
      const dir = path.join(tempDir(), 'registry:v2');
      fs.cpSync(template.dir, dir, { recursive: true });
      const io = captureIo();
      expect(await main(['k3d-config', '--dir', dir], io)).toBe(2);
      expect(io.err()).toBe(
        `error: --dir must be an absolute path without ':', '@', ';' or ',', got ${JSON.stringify(dir)}: k3d cannot mount it; move the material directory\n`,
      );
    });

    it('missing material', async () => {
      const dir = path.join(tempDir(), 'registry');
      const io = captureIo();
      expect(await main(['k3d-config', '--dir', dir], io)).toBe(2);
      expect(io.err()).toBe(
        `error: no material directory at ${dir}: create it with "private-registry init" (or npx cdk8s synth), or point --dir at it\n`,
      );
    });
  });
});
