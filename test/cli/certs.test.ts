import * as fs from 'node:fs';
import * as path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { certsRenew, certsShow } from '../../cli/commands/certs';
import { main } from '../../cli/main';
import {
  createCertificateAuthority,
  createServerCertificate,
  describeCertificate,
  isIssuedBy,
  keyMatchesCertificate,
  namesOutsideConstraints,
  permittedNamesOf,
} from '../../lib/certificates';
import { checkMaterial, readMaterialSnapshot } from '../../lib/material-checks';
import { NOW, captureIo, materialTemplate, read, treeHashes, write } from './helpers';

const DAY_MS = 86_400_000;

async function runCli(args: string[], now: Date): Promise<{ code: number; err: string }> {
  const io = captureIo({ now });
  const code = await main(args, io);
  return { code, err: io.err() };
}

describe('certs', () => {
  let template: ReturnType<typeof materialTemplate>;
  beforeAll(() => {
    template = materialTemplate();
  });

  describe('show', () => {
    it('prints subject, names, validity, days left and the SHA-256 fingerprint of both certificates', async () => {
      const io = captureIo();
      expect(await certsShow({ dir: template.dir, json: false }, io)).toBe(0);
      const ca = describeCertificate(read(template.dir, 'node/certs/ca.crt'), NOW);
      const tls = describeCertificate(read(template.dir, 'certs/tls.crt'), NOW);
      expect(io.out()).toBe(
        [
          `ca.crt  ${template.dir}/node/certs/ca.crt`,
          '  subject     CN=cdk8s-private-registry CA',
          '  issuer      CN=cdk8s-private-registry CA',
          '  names       -',
          '  valid       2025-01-02T02:59:05Z to 2034-12-31T03:04:05Z (3650 days left)',
          `  sha256      ${ca.sha256Fingerprint}`,
          `tls.crt  ${template.dir}/certs/tls.crt`,
          '  subject     CN=container-registry.local',
          '  issuer      CN=cdk8s-private-registry CA',
          '  names       container-registry.local, localhost, container-registry, container-registry.container-registry, container-registry.container-registry.svc, container-registry.container-registry.svc.cluster.local, 127.0.0.1',
          '  valid       2025-01-02T02:59:05Z to 2027-04-07T03:04:05Z (825 days left)',
          `  sha256      ${tls.sha256Fingerprint}`,
          '',
        ].join('\n'),
      );
      expect(io.err()).toBe('');
    });

    it('--json gives the same as data', async () => {
      const io = captureIo();
      expect(await main(['certs', 'show', '--json', '--dir', template.dir], io)).toBe(0);
      const [ca, tls] = JSON.parse(io.out()) as Record<string, unknown>[];
      expect(ca).toMatchObject({
        name: 'ca.crt',
        file: `${template.dir}/node/certs/ca.crt`,
        isCertificateAuthority: true,
        daysLeft: 3650,
      });
      expect(tls).toMatchObject({
        name: 'tls.crt',
        dnsNames: expect.arrayContaining(['localhost']),
        ipAddresses: ['127.0.0.1'],
        notAfter: '2027-04-07T03:04:05.000Z',
      });
      expect(tls.sha256Fingerprint).toMatch(/^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
    });

    it('warns on stderr when fewer than 30 days are left', async () => {
      const io = captureIo({ now: new Date(NOW.getTime() + 800 * DAY_MS) });
      expect(await certsShow({ dir: template.dir, json: false }, io)).toBe(0);
      expect(io.err()).toBe(
        `warning: ${template.dir}/certs/tls.crt expires in 25 days (2027-04-07T03:04:05Z): private-registry certs renew\n`,
      );
      const expired = captureIo({ now: new Date(NOW.getTime() + 3651 * DAY_MS) });
      await certsShow({ dir: template.dir, json: false }, expired);
      expect(expired.err()).toContain(
        `warning: ${template.dir}/node/certs/ca.crt expired on 2034-12-31T03:04:05Z: private-registry certs renew --rotate-ca\n`,
      );
    });
  });

  describe('renew', () => {
    it('issues a new server certificate from the same CA with the same names and keeps the old files', async () => {
      const dir = template.copy();
      const old = treeHashes(dir);
      const oldTls = describeCertificate(read(dir, 'certs/tls.crt'), NOW);
      const io = captureIo({ now: new Date('2025-03-04T05:06:07Z') });
      expect(await certsRenew({ dir, rotateCa: false, certDays: 90 }, io)).toBe(0);

      const tls = describeCertificate(read(dir, 'certs/tls.crt'), NOW);
      expect(tls.sha256Fingerprint).not.toBe(oldTls.sha256Fingerprint);
      expect(tls.dnsNames).toEqual(oldTls.dnsNames);
      expect(tls.ipAddresses).toEqual(oldTls.ipAddresses);
      expect(tls.notAfter.toISOString()).toBe('2025-06-02T05:06:07.000Z');
      expect(read(dir, 'node/certs/ca.crt')).toBe(read(template.dir, 'node/certs/ca.crt'));
      expect(isIssuedBy(read(dir, 'certs/tls.crt'), read(dir, 'node/certs/ca.crt'))).toBe(true);
      expect(keyMatchesCertificate(read(dir, 'certs/tls.crt'), read(dir, 'certs/tls.key'))).toBe(true);
      expect(fs.statSync(path.join(dir, 'certs/tls.key')).mode & 0o777).toBe(0o600);
      expect(read(dir, 'certs/tls.key')).not.toBe(read(template.dir, 'certs/tls.key'));

      const backup = `${dir}.backup-20250304T050607Z`;
      expect(treeHashes(backup)).toEqual(old);
      expect(io.err()).toContain(`kept the old files in ${backup}\n`);
      // Not the directory synth reads by itself, so the command tells it.
      expect(io.err()).toContain(
        `the registry serves it once you apply it (the pod restarts by itself): REGISTRY_MATERIAL_DIR=${dir} npx cdk8s synth && kubectl apply -f dist\n`,
      );
      expect(io.err()).not.toContain('warning');
      expect(checkMaterial(readMaterialSnapshot(dir), { now: io.now() }).filter((check) => !check.ok)).toEqual([]);
    });

    it('moves the registry to another namespace: refused on the constrained CA, done with --rotate-ca', async () => {
      const dir = template.copy();
      const before = treeHashes(dir);
      const now = new Date('2025-03-04T05:06:07Z');
      const refused = captureIo({ now });
      expect(await main(['certs', 'renew', '--dir', dir, '--namespace', 'platform'], refused)).toBe(2);
      expect(refused.err()).toContain(
        'not for container-registry.platform, container-registry.platform.svc, container-registry.platform.svc.cluster.local: a new hostname or namespace needs a new CA: private-registry certs renew --rotate-ca',
      );
      expect(treeHashes(dir)).toEqual(before);

      const io = captureIo({ now });
      expect(await main(['certs', 'renew', '--dir', dir, '--rotate-ca', '--namespace', 'platform'], io)).toBe(0);
      const tls = describeCertificate(read(dir, 'certs/tls.crt'), now);
      expect(tls.dnsNames).toContain('container-registry.platform.svc.cluster.local');
      const permitted = permittedNamesOf(read(dir, 'node/certs/ca.crt'));
      expect(permitted?.dnsNames).toContain('container-registry.platform.svc');
      expect(namesOutsideConstraints(tls, permitted!)).toEqual([]);
      expect(isIssuedBy(read(dir, 'certs/tls.crt'), read(dir, 'node/certs/ca.crt'))).toBe(true);
      expect((await runCli(['certs', 'renew', '--dir', dir, '--namespace', 'Not_A_Label'], now)).code).toBe(2);
    });

    it("adds the names a hand-made certificate lacks (the guide's CN-only certificate and unconstrained CA)", async () => {
      const dir = template.copy();
      const guideCa = createCertificateAuthority({ now: NOW });
      write(dir, 'node/certs/ca.crt', guideCa.certificatePem);
      write(dir, 'certs/ca.key', guideCa.privateKeyPem);
      const guideStyle = createServerCertificate({
        ca: guideCa,
        subjectAltNames: { dnsNames: ['docker-registry'], ipAddresses: [] },
        now: NOW,
      });
      write(dir, 'certs/tls.crt', guideStyle.certificatePem);
      write(dir, 'certs/tls.key', guideStyle.privateKeyPem);
      const io = captureIo();
      expect(await certsRenew({ dir, rotateCa: false, certDays: 825 }, io)).toBe(0);
      expect(describeCertificate(read(dir, 'certs/tls.crt'), NOW).dnsNames).toEqual([
        'docker-registry',
        'container-registry.local',
        'localhost',
        'container-registry',
        'container-registry.container-registry',
        'container-registry.container-registry.svc',
        'container-registry.container-registry.svc.cluster.local',
      ]);
      expect(io.err()).toContain(
        'added names the old certificate lacked: container-registry.local, localhost, container-registry, container-registry.container-registry, container-registry.container-registry.svc, container-registry.container-registry.svc.cluster.local, 127.0.0.1\n',
      );
    });

    it('drops an old name its name-constrained CA may not vouch for: a certificate naming it would be rejected', async () => {
      const dir = template.copy();
      const ca = { certificatePem: read(dir, 'node/certs/ca.crt'), privateKeyPem: read(dir, 'certs/ca.key') };
      const withStrayName = createServerCertificate({
        ca,
        subjectAltNames: { dnsNames: ['docker-registry', 'container-registry.local'], ipAddresses: ['10.0.0.1'] },
        now: NOW,
      });
      write(dir, 'certs/tls.crt', withStrayName.certificatePem);
      write(dir, 'certs/tls.key', withStrayName.privateKeyPem);
      expect(await certsRenew({ dir, rotateCa: false, certDays: 825 }, captureIo())).toBe(0);
      const renewed = describeCertificate(read(dir, 'certs/tls.crt'), NOW);
      expect(renewed.dnsNames).not.toContain('docker-registry');
      expect(renewed.ipAddresses).toEqual(['127.0.0.1']);
      expect(namesOutsideConstraints(renewed, permittedNamesOf(ca.certificatePem)!)).toEqual([]);
    });

    it('refuses a new hostname the CA may not vouch for, naming --rotate-ca; --rotate-ca then works', async () => {
      const dir = template.copy();
      write(
        dir,
        'node/certs/registries.yaml',
        read(dir, 'node/certs/registries.yaml').replaceAll('container-registry.local', 'images.local'),
      );
      const before = treeHashes(dir);
      const io = captureIo();
      expect(await main(['certs', 'renew', '--dir', dir], io)).toBe(2);
      expect(io.err()).toBe(
        `error: ${dir}/node/certs/ca.crt may vouch only for container-registry.local, localhost, container-registry, container-registry.container-registry, container-registry.container-registry.svc, container-registry.container-registry.svc.cluster.local, 127.0.0.1 (its name constraints), not for images.local: a new hostname or namespace needs a new CA: private-registry certs renew --rotate-ca, then give the nodes and desktops the new ca.crt\n`,
      );
      expect(treeHashes(dir)).toEqual(before);
      expect(await main(['certs', 'renew', '--dir', dir, '--rotate-ca'], captureIo())).toBe(0);
      expect(permittedNamesOf(read(dir, 'node/certs/ca.crt'))?.dnsNames[0]).toBe('images.local');
      expect(describeCertificate(read(dir, 'certs/tls.crt'), NOW).dnsNames).toContain('images.local');
    });

    it('repairs a server key that does not match (what doctor tells you to run)', async () => {
      const dir = template.copy();
      write(dir, 'certs/tls.key', read(dir, 'certs/ca.key'));
      expect(await certsRenew({ dir, rotateCa: false, certDays: 825 }, captureIo())).toBe(0);
      expect(keyMatchesCertificate(read(dir, 'certs/tls.crt'), read(dir, 'certs/tls.key'))).toBe(true);
    });

    it('--rotate-ca makes a new CA and warns that nodes and desktops need it', async () => {
      const dir = template.copy();
      const io = captureIo();
      expect(await main(['certs', 'renew', '--rotate-ca', '--ca-days', '400', '--dir', dir], io)).toBe(0);
      expect(read(dir, 'node/certs/ca.crt')).not.toBe(read(template.dir, 'node/certs/ca.crt'));
      expect(isIssuedBy(read(dir, 'certs/tls.crt'), read(dir, 'node/certs/ca.crt'))).toBe(true);
      expect(keyMatchesCertificate(read(dir, 'node/certs/ca.crt'), read(dir, 'certs/ca.key'))).toBe(true);
      expect(describeCertificate(read(dir, 'node/certs/ca.crt'), NOW).daysLeft).toBe(400);
      expect(io.err()).toContain(
        'warning: the CA changed, so everything that trusted the old one rejects the registry until it has the new one:\n' +
          '  - the nodes read /registry/certs/ca.crt through k3s at start: restart them (k3d cluster stop NAME && k3d cluster start NAME)\n' +
          '  - this machine: private-registry trust --write (as root)\n',
      );
      expect(checkMaterial(readMaterialSnapshot(dir), { now: NOW }).filter((check) => !check.ok)).toEqual([]);
    });

    describe('bad input exits 2, says what to fix, and leaves every file unchanged', () => {
      const cases: { name: string; args: string[]; prepare?: (dir: string) => void; error: (dir: string) => string }[] =
        [
          {
            name: '--ca-days without --rotate-ca',
            args: ['--ca-days', '10'],
            error: () => '--ca-days only applies with --rotate-ca: the CA is kept; drop it or rotate the CA',
          },
          {
            name: '--cert-days out of range',
            args: ['--cert-days', '4000'],
            error: () =>
              '--cert-days must be an integer in 1-3650, got 4000: give the server certificate lifetime in days',
          },
          {
            name: 'a CA key that belongs to another certificate',
            args: [],
            prepare: (dir) => write(dir, 'certs/ca.key', read(dir, 'certs/tls.key')),
            error: (dir) =>
              `${dir}/certs/ca.key does not belong to ${dir}/node/certs/ca.crt: restore the matching pair from a backup, or make a new CA with --rotate-ca`,
          },
          {
            name: 'a corrupted server certificate (its names are needed)',
            args: ['--rotate-ca'],
            prepare: (dir) =>
              write(dir, 'certs/tls.crt', '-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n'),
            error: (dir) => `${dir}/certs/tls.crt is not a PEM X.509 RSA certificate`,
          },
          {
            name: 'a missing CA key',
            args: [],
            prepare: (dir) => fs.rmSync(path.join(dir, 'certs/ca.key')),
            error: (dir) =>
              `${dir}/certs/ca.key is missing or unreadable: restore it from a backup (${dir}.backup-*), or create new material (private-registry init --force)`,
          },
        ];
      for (const { name, args, prepare, error } of cases) {
        it(name, async () => {
          const dir = template.copy();
          prepare?.(dir);
          const before = treeHashes(path.dirname(dir));
          const io = captureIo();
          expect(await main(['certs', 'renew', '--dir', dir, ...args], io)).toBe(2);
          expect(io.err().startsWith(`error: ${error(dir)}`), io.err()).toBe(true);
          expect(treeHashes(path.dirname(dir))).toEqual(before);
        });
      }
    });
  });
});
