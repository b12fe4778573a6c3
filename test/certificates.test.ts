import { createPrivateKey } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type CertificateAndKey,
  certificateSerialHex,
  createCertificateAuthority,
  createServerCertificate,
  describeCertificate,
  generateRsaPrivateKey,
  isIssuedBy,
  keyMatchesCertificate,
  parseCertificate,
  parsePrivateKey,
  registrySubjectAltNames,
} from '../lib/certificates';
import { describeReal } from './support/real-software';
import { RSA_KEY_POOL_SIZE, pooledKeysUsed, withRealKeyGeneration } from './support/rsa-key-pool';
import { run } from './support/run';

const sans = registrySubjectAltNames('container-registry.local', 'container-registry', 'container-registry');
const now = new Date('2026-01-01T00:00:00Z');
let ca: CertificateAndKey;
let server: CertificateAndKey;

const rsaDetails = (pem: string) => {
  const key = createPrivateKey(pem);
  return { type: key.asymmetricKeyType, ...key.asymmetricKeyDetails };
};

beforeAll(() => {
  ca = createCertificateAuthority({ now });
  server = createServerCertificate({ ca, subjectAltNames: sans, now });
});

describe('registrySubjectAltNames', () => {
  it('lists every name a client uses: node name, localhost, 127.0.0.1 and the Service names', () => {
    expect(sans).toEqual({
      dnsNames: [
        'container-registry.local',
        'localhost',
        'container-registry',
        'container-registry.container-registry',
        'container-registry.container-registry.svc',
        'container-registry.container-registry.svc.cluster.local',
      ],
      ipAddresses: ['127.0.0.1'],
    });
  });
});

describe('createCertificateAuthority / createServerCertificate', () => {
  it('makes a CA and a server certificate it signs, with matching keys', () => {
    expect(describeCertificate(ca.certificatePem).isCertificateAuthority).toBe(true);
    expect(describeCertificate(server.certificatePem).isCertificateAuthority).toBe(false);
    expect(isIssuedBy(server.certificatePem, ca.certificatePem)).toBe(true);
    expect(keyMatchesCertificate(server.certificatePem, server.privateKeyPem)).toBe(true);
    expect(keyMatchesCertificate(server.certificatePem, ca.privateKeyPem)).toBe(false);
  });

  it('puts every name in the subjectAltName, not only the Common Name', () => {
    const summary = describeCertificate(server.certificatePem, now);
    expect(summary.dnsNames).toEqual(sans.dnsNames);
    expect(summary.ipAddresses).toEqual(['127.0.0.1']);
    expect(summary.subject).toBe('CN=container-registry.local');
    expect(summary.issuer).toBe('CN=cdk8s-private-registry CA');
  });

  it('uses the default validity periods and reports days left', () => {
    expect(describeCertificate(server.certificatePem, now).daysLeft).toBe(825);
    expect(describeCertificate(ca.certificatePem, now).daysLeft).toBe(3650);
    expect(describeCertificate(server.certificatePem, now).sha256Fingerprint).toMatch(
      /^([0-9A-F]{2}:){31}[0-9A-F]{2}$/,
    );
  });

  it('uses keys made ahead in the thread pool (generateRsaPrivateKey), and refuses one of another size', async () => {
    const [caKey, serverKey] = await Promise.all([generateRsaPrivateKey(), generateRsaPrivateKey()]);
    expect(caKey).toMatch(/^-----BEGIN RSA PRIVATE KEY-----\n/);
    const aheadCa = createCertificateAuthority({ now, privateKeyPem: caKey });
    const aheadServer = createServerCertificate({ ca: aheadCa, subjectAltNames: sans, now, privateKeyPem: serverKey });
    expect(aheadCa.privateKeyPem).toBe(caKey);
    expect(aheadServer.privateKeyPem).toBe(serverKey);
    expect(keyMatchesCertificate(aheadCa.certificatePem, caKey)).toBe(true);
    expect(keyMatchesCertificate(aheadServer.certificatePem, serverKey)).toBe(true);
    expect(isIssuedBy(aheadServer.certificatePem, aheadCa.certificatePem)).toBe(true);
    expect(describeCertificate(aheadServer.certificatePem, now).dnsNames).toEqual(sans.dnsNames);
    expect(() => createCertificateAuthority({ now, privateKeyPem: caKey, keySizeBits: 3072 })).toThrow(
      "'privateKeyPem' must be an RSA key of 3072 bits ('keySizeBits'), got 2048 bits: give a key of that size, or leave 'privateKeyPem' out to make one",
    );
    expect(() => createServerCertificate({ ca, subjectAltNames: sans, privateKeyPem: 'not a key' })).toThrow(
      /^'privateKeyPem' is not a PEM RSA private key/,
    );
  });

  it('is not signed by another CA', () => {
    const other = createCertificateAuthority({ now });
    expect(isIssuedBy(server.certificatePem, other.certificatePem)).toBe(false);
  });

  it('refuses bad options with the field, the value and the fix', () => {
    expect(() => createServerCertificate({ ca, subjectAltNames: { dnsNames: [], ipAddresses: [] } })).toThrow(
      "'subjectAltNames.dnsNames' must name at least one host, got []: add the registry hostname",
    );
    expect(() =>
      createServerCertificate({ ca, subjectAltNames: { dnsNames: ['a'], ipAddresses: ['localhost'] } }),
    ).toThrow(`'subjectAltNames.ipAddresses' must hold IP addresses, got "localhost": move host names to dnsNames`);
    expect(() => createCertificateAuthority({ keySizeBits: 1024 })).toThrow(
      "'keySizeBits' must be 2048, 3072 or 4096, got 1024: pick one of those RSA sizes",
    );
    expect(() => createServerCertificate({ ca, subjectAltNames: sans, validityDays: 0 })).toThrow(
      "'certValidityDays' must be an integer in 1-3650, got 0: give the server certificate lifetime in days",
    );
    expect(() => describeCertificate('not a pem', now, 'certs/tls.crt')).toThrow(
      /^certs\/tls.crt is not a PEM X.509 RSA certificate \(.*\): restore it or create new material$/,
    );
  });
});

describe("key generation (Node's own, not the test key pool)", () => {
  it('makes a new RSA-2048 key (e = 65537, PKCS#1 PEM) for every CA and server certificate', () => {
    const pooledBefore = pooledKeysUsed();
    const [first, second] = withRealKeyGeneration(() => [
      createCertificateAuthority({ now }),
      createCertificateAuthority({ now }),
    ]);
    const issued = withRealKeyGeneration(() => createServerCertificate({ ca: first, subjectAltNames: sans, now }));
    expect(pooledKeysUsed()).toBe(pooledBefore);
    const keys = [first, second, issued].map((made) => made.privateKeyPem);
    for (const pem of keys) {
      expect(pem).toMatch(/^-----BEGIN RSA PRIVATE KEY-----\n/);
      expect(rsaDetails(pem)).toEqual({ type: 'rsa', modulusLength: 2048, publicExponent: 65537n });
    }
    expect(new Set(keys).size).toBe(3);
    expect(keyMatchesCertificate(issued.certificatePem, issued.privateKeyPem)).toBe(true);
  });
});

describe('parseCertificate / parsePrivateKey', () => {
  it('parse a PEM once: the same text gives the same object, any other text is parsed and judged anew', () => {
    expect(parseCertificate(ca.certificatePem, 'a')).toBe(parseCertificate(ca.certificatePem, 'b'));
    expect(parseCertificate(server.certificatePem, 'x')).not.toBe(parseCertificate(ca.certificatePem, 'x'));
    expect(parsePrivateKey(ca.privateKeyPem, 'k')).toBe(parsePrivateKey(ca.privateKeyPem, 'k'));
    expect(keyMatchesCertificate(server.certificatePem, ca.privateKeyPem)).toBe(false);
    // One character changed: a new text, refused each time, naming the source given each time.
    const damaged = ca.certificatePem.replace('-----\nMII', '-----\nAII');
    expect(damaged).not.toBe(ca.certificatePem);
    expect(() => parseCertificate(damaged, 'ca.crt')).toThrow(/^ca\.crt is not a PEM X\.509 RSA certificate/);
    expect(() => parseCertificate(damaged, 'again')).toThrow(/^again is not a PEM X\.509 RSA certificate/);
    // A key where a certificate belongs, and the reverse, after both were parsed as what they are.
    expect(() => parseCertificate(ca.privateKeyPem, 'cert')).toThrow(/^cert is not a PEM X\.509 RSA certificate/);
    expect(() => parsePrivateKey(ca.certificatePem, 'key')).toThrow(/^key is not a PEM RSA private key/);
  });
});

describeReal(
  'certificates under openssl',
  ['openssl'],
  () => {
    let dir: string;
    beforeAll(() => {
      dir = mkdtempSync(join(tmpdir(), 'certs-openssl-'));
      writeFileSync(join(dir, 'ca.crt'), ca.certificatePem);
      writeFileSync(join(dir, 'tls.crt'), server.certificatePem);
    });
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    it.each(sans.dnsNames)('openssl -checkhost accepts %s', async (name) => {
      const result = await run('openssl', ['x509', '-noout', '-in', join(dir, 'tls.crt'), '-checkhost', name]);
      expect(result.stdout).toContain(`Hostname ${name} does match certificate`);
    });

    it('openssl -checkip accepts 127.0.0.1 and -checkhost refuses a name that is not there', async () => {
      expect(
        (await run('openssl', ['x509', '-noout', '-in', join(dir, 'tls.crt'), '-checkip', '127.0.0.1'])).stdout,
      ).toContain('IP 127.0.0.1 does match certificate');
      expect(
        (await run('openssl', ['x509', '-noout', '-in', join(dir, 'tls.crt'), '-checkhost', 'docker-registry'])).stdout,
      ).toContain('does NOT match certificate');
    });

    it('openssl verifies the chain for server use (serverAuth usage)', async () => {
      // -attime: the certificates were made "now" = 2026-01-01, so the test does not expire with them.
      const attime = String(now.getTime() / 1000 + 86_400);
      const result = await run('openssl', [
        'verify',
        '-attime',
        attime,
        '-purpose',
        'sslserver',
        '-CAfile',
        join(dir, 'ca.crt'),
        join(dir, 'tls.crt'),
      ]);
      expect(result.code, result.stderr).toBe(0);
      expect(result.stdout).toContain(': OK');
    });
  },
  { root: false },
);

describe('certificateSerialHex', () => {
  it('gives a positive, minimally encoded DER serial for every first byte (a leading 0x00 is not DER)', () => {
    for (let first = 0; first < 256; first++) {
      for (const second of [0x00, 0x7f, 0x80, 0xff]) {
        const random = Buffer.alloc(16, 0xa5);
        random[0] = first;
        random[1] = second;
        const serial = Buffer.from(certificateSerialHex(random), 'hex');
        expect(serial.length).toBe(16);
        expect(serial[0], `first byte ${first}`).toBeGreaterThanOrEqual(0x40);
        expect(serial[0], `first byte ${first}`).toBeLessThan(0x80);
        expect(serial.subarray(1).equals(random.subarray(1))).toBe(true);
      }
    }
  });

  it('keeps 126 random bits: the low 6 bits of the first byte come through', () => {
    const seen = new Set<number>();
    for (let first = 0; first < 256; first++)
      seen.add(Buffer.from(certificateSerialHex(Buffer.alloc(16, first)), 'hex')[0]);
    expect(seen.size).toBe(64);
  });

  it('every certificate made parses as DER, its serial as written', () => {
    for (let round = 0; round < 8; round++) {
      const made = createServerCertificate({ ca, subjectAltNames: sans, now });
      const serial = describeCertificate(made.certificatePem).serialNumber;
      expect(serial).toMatch(/^[4-7][0-9a-f]{31}$/);
    }
  });
});

// Last in the file: it uses up the key pool, and every key made after it would be made anew (~90 ms each).
describe('the test key pool (last: it uses the pool up)', () => {
  it('the test key pool (test/support/rsa-key-pool.ts) hands out each of its keys once per test file', () => {
    const pem = (made: CertificateAndKey) => made.privateKeyPem;
    const before = pooledKeysUsed();
    const made = Array.from({ length: RSA_KEY_POOL_SIZE - before + 1 }, () => pem(createCertificateAuthority({ now })));
    // The pool ran out on the last one, which Node generated.
    expect(pooledKeysUsed()).toBe(RSA_KEY_POOL_SIZE);
    expect(new Set([...made, ca.privateKeyPem, server.privateKeyPem]).size).toBe(made.length + 2);
    for (const key of made)
      expect(rsaDetails(key)).toEqual({ type: 'rsa', modulusLength: 2048, publicExponent: 65537n });
  });
});
