import { createPrivateKey, generatePrimeSync } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  generateRsaPrivateKey,
  generateRsaPrivateKeySync,
  rsaPrimesProblem,
  rsaPrivateKeyFromPrimes,
} from '../lib/rsa-key';
import { describeReal } from './support/real-software';
import { RSA_KEY_POOL, withRealKeyGeneration } from './support/rsa-key-pool';
import { run } from './support/run';
import { tempDir } from './support/temp-dir';

/** The keys OpenSSL made with `generateKeyPairSync` (the committed test pool), and their primes. */
const OPENSSL_KEYS = RSA_KEY_POOL;

/** A 1024-bit prime ≡ 1 (mod 65537) of at least sqrt(2)·2^1023 (OpenSSL sets only the top bit when given `add`). */
function primeOneModE(): bigint {
  for (;;) {
    const prime = generatePrimeSync(1024, { bigint: true, add: 2n * 65537n, rem: 1n });
    if (prime * prime >= 1n << 2047n) return prime;
  }
}

const details = (pem: string) => {
  const key = createPrivateKey(pem);
  return { type: key.asymmetricKeyType, ...key.asymmetricKeyDetails };
};

describe('RSA keys from two primes (lib/rsa-key.ts)', () => {
  it("rebuilds each of OpenSSL's own keys byte for byte from its primes: the same n, e, d, CRT values and PKCS#1", () => {
    expect(OPENSSL_KEYS.length).toBeGreaterThanOrEqual(24);
    for (const { pem, p, q } of OPENSSL_KEYS) {
      expect(rsaPrivateKeyFromPrimes(p, q, 2048)).toBe(pem);
      // The order the primes come in does not matter.
      expect(rsaPrivateKeyFromPrimes(q, p, 2048)).toBe(pem);
    }
  });

  it('refuses primes that fail a condition of FIPS 186-4 B.3.1, naming it', () => {
    const [{ p, q }] = OPENSSL_KEYS;
    expect(rsaPrimesProblem(p, q, 2048)).toBeUndefined();
    // Below sqrt(2)·2^1023 (the product would be short of 2048 bits), or of 1025 bits.
    const low = (1n << 1023n) + 1n;
    expect(rsaPrimesProblem(low, q, 2048)).toBe('a prime is not in [sqrt(2)·2^1023, 2^1024)');
    expect(rsaPrimesProblem(p, (1n << 1024n) + 1n, 2048)).toBe('a prime is not in [sqrt(2)·2^1023, 2^1024)');
    // Too close together: Fermat's method would factor n.
    expect(rsaPrimesProblem(p, p, 2048)).toBe('|p - q| is not above 2^924');
    expect(rsaPrimesProblem(p, p + (1n << 924n), 2048)).toBe('|p - q| is not above 2^924');
    // A real prime with p ≡ 1 (mod 65537), in range: e has no inverse mod p-1.
    const congruent = primeOneModE();
    expect((congruent - 1n) % 65537n).toBe(0n);
    expect(rsaPrimesProblem(congruent, q, 2048)).toBe('e divides p-1 or q-1');
    expect(rsaPrimesProblem(p, congruent, 2048)).toBe('e divides p-1 or q-1');
    for (const [a, b] of [
      [low, q],
      [p, p],
      [congruent, q],
    ])
      expect(rsaPrivateKeyFromPrimes(a, b, 2048)).toBeUndefined();
  });

  it('makes new keys from new primes: 2048 bits, e = 65537, PKCS#1, each different', async () => {
    const made = [
      ...(await withRealKeyGeneration(() => Promise.all([generateRsaPrivateKey(2048), generateRsaPrivateKey(2048)]))),
      ...withRealKeyGeneration(() => [generateRsaPrivateKeySync(2048), generateRsaPrivateKeySync(2048)]),
    ];
    for (const pem of made) {
      expect(pem).toMatch(/^-----BEGIN RSA PRIVATE KEY-----\n/);
      expect(details(pem)).toEqual({ type: 'rsa', modulusLength: 2048, publicExponent: 65537n });
    }
    expect(new Set(made).size).toBe(4);
    expect(new Set(OPENSSL_KEYS.map((key) => key.pem).concat(made)).size).toBe(OPENSSL_KEYS.length + 4);
  });
});

describeReal('OpenSSL checks the keys (openssl rsa -check)', ['openssl'], () => {
  it('finds p and q prime, n = p·q, d·e ≡ 1 and the CRT values right, in new keys of both ways and two sizes', async () => {
    const dir = tempDir('rsa-key-');
    const keys = [
      ...(await withRealKeyGeneration(() => Promise.all([generateRsaPrivateKey(2048), generateRsaPrivateKey(3072)]))),
      withRealKeyGeneration(() => generateRsaPrivateKeySync(2048)),
    ];
    const sizes = [2048, 3072, 2048];
    for (const [index, pem] of keys.entries()) {
      expect(details(pem)).toEqual({ type: 'rsa', modulusLength: sizes[index], publicExponent: 65537n });
      const file = join(dir, `key-${index}.pem`);
      writeFileSync(file, pem, { mode: 0o600 });
      const checked = await run('openssl', ['rsa', '-check', '-noout', '-in', file]);
      expect(checked.code, checked.stderr).toBe(0);
      expect(checked.stdout.trim()).toBe('RSA key ok');
      const text = await run('openssl', ['rsa', '-text', '-noout', '-in', file]);
      expect(text.stdout).toContain(`Private-Key: (${sizes[index]} bit, 2 primes)`);
      expect(text.stdout).toContain('publicExponent: 65537 (0x10001)');
    }
  });
});
