import {
  type KeyObject,
  createPrivateKey,
  createPublicKey,
  generatePrime,
  generatePrimeSync,
  sign,
  verify,
} from 'node:crypto';

/**
 * RSA private keys made from two primes of OpenSSL's own (Node's `generatePrime`: its private random
 * generator, 64 Miller-Rabin rounds, the top two bits set), by FIPS 186-4 B.3.3 ("random primes that are
 * probably prime"), one of the methods SP 800-56B (6.3.1) allows for RSA key pairs.
 *
 * Why not Node's `generateKeyPair('rsa')`: for 2048 bits and more, OpenSSL 3 makes its primes by FIPS 186-4
 * B.3.6 (probable primes with conditions, each built around auxiliary primes; rsa_gen.c calls
 * ossl_rsa_sp800_56b_generate_key). That spends 2.7 times the CPU (measured here: 200 ms on average for
 * RSA-2048, p90 392 ms, up to 594 ms; a 1024-bit prime 37 ms on average) and buys nothing against today's
 * attacks: the conditions guard against p-1 and p+1 factoring, which random 1024-bit primes defeat anyway.
 * The key is the same kind of key: a modulus of the full size, e = 65537, PKCS#1, with every condition of
 * B.3.1 checked here (186-4 lists 2048 and 3072 bits; 4096-bit keys get the same checks), each value checked
 * as numbers, and SP 800-56B's pairwise consistency test. One difference: the arithmetic on the primes is
 * V8's BigInt, not constant-time as OpenSSL's is; it runs once, on your machine, when the key is made, with
 * nobody else timing it. Primes instead of whole keys also spread the work: the two keys of new material are
 * four primes made at the same time in Node's thread pool.
 */

/** The public exponent every key here has (and OpenSSL's default). */
const PUBLIC_EXPONENT = 65537n;

/** A new RSA private key of `keySizeBits` (PKCS#1 PEM), its primes made in Node's thread pool. */
export async function generateRsaPrivateKey(keySizeBits: number): Promise<string> {
  for (;;) {
    const [p, q] = await Promise.all([randomPrime(keySizeBits / 2), randomPrime(keySizeBits / 2)]);
    const key = rsaPrivateKeyFromPrimes(p, q, keySizeBits);
    if (key !== undefined) return key;
  }
}

/** As generateRsaPrivateKey, on the caller's thread. */
export function generateRsaPrivateKeySync(keySizeBits: number): string {
  for (;;) {
    const p = generatePrimeSync(keySizeBits / 2, { bigint: true });
    const q = generatePrimeSync(keySizeBits / 2, { bigint: true });
    const key = rsaPrivateKeyFromPrimes(p, q, keySizeBits);
    if (key !== undefined) return key;
  }
}

function randomPrime(bits: number): Promise<bigint> {
  return new Promise((resolve, reject) =>
    // The callback's error is undefined, not null, on success.
    generatePrime(bits, { bigint: true }, (error, prime) => (error ? reject(error) : resolve(prime))),
  );
}

/**
 * The RSA private key (PKCS#1 PEM) of modulus p·q with e = 65537, or undefined when the two primes fail a
 * condition of FIPS 186-4 B.3.1 (rsaPrimesProblem; the caller then draws new ones: with OpenSSL's primes
 * about 1 pair in 33,000, nearly all for gcd(p-1, e) > 1). That they are prime is OpenSSL's part.
 */
export function rsaPrivateKeyFromPrimes(p: bigint, q: bigint, keySizeBits: number): string | undefined {
  if (rsaPrimesProblem(p, q, keySizeBits) !== undefined) return undefined;
  const e = PUBLIC_EXPONENT;
  // OpenSSL's order: p the larger, so qInv = q^-1 mod p.
  const [large, small] = p > q ? [p, q] : [q, p];
  const d = privateExponent(large, small);
  const values = { n: large * small, e, d, p: large, q: small, dp: d % (large - 1n), dq: d % (small - 1n) };
  const qi = modularInverse(small, large);
  assertRsaArithmetic({ ...values, qi });
  const jwk = Object.fromEntries(Object.entries({ ...values, qi }).map(([name, value]) => [name, base64Url(value)]));
  const key = createPrivateKey({ format: 'jwk', key: { kty: 'RSA', ...jwk } });
  assertPairwiseConsistent(key);
  return key.export({ type: 'pkcs1', format: 'pem' }) as string;
}

/** Which condition of FIPS 186-4 B.3.1 the primes p and q of a key of `keySizeBits` fail, or undefined. */
export function rsaPrimesProblem(p: bigint, q: bigint, keySizeBits: number): string | undefined {
  const half = BigInt(keySizeBits / 2);
  // Each prime at least sqrt(2)·2^(half-1), so that p·q has all its bits, and below 2^half: p² ≥ 2^(2·half-1).
  const inRange = (prime: bigint) => prime < 1n << half && prime * prime >= 1n << (2n * half - 1n);
  if (!inRange(p) || !inRange(q)) return `a prime is not in [sqrt(2)·2^${half - 1n}, 2^${half})`;
  // Primes this close would let Fermat's method factor the modulus.
  if ((p > q ? p - q : q - p) <= 1n << (half - 100n)) return `|p - q| is not above 2^${half - 100n}`;
  if (gcd(p - 1n, PUBLIC_EXPONENT) !== 1n || gcd(q - 1n, PUBLIC_EXPONENT) !== 1n) return 'e divides p-1 or q-1';
  if (privateExponent(p, q) <= 1n << half) return `d is not above 2^${half}`;
  return undefined;
}

/** d = e^-1 mod λ(n), λ(n) = lcm(p-1, q-1), as SP 800-56B has it (and OpenSSL 3 makes it). */
function privateExponent(p: bigint, q: bigint): bigint {
  const lambda = ((p - 1n) * (q - 1n)) / gcd(p - 1n, q - 1n);
  return modularInverse(PUBLIC_EXPONENT, lambda);
}

/**
 * Each value of the key checked as numbers, in microseconds. The pairwise test below cannot do this alone:
 * OpenSSL checks every CRT result and falls back to d when it is wrong, so a key with a wrong d, or wrong
 * CRT values, can still sign and verify. Unreachable with the arithmetic above; a key that fails must never
 * be used.
 */
function assertRsaArithmetic(key: Record<'n' | 'e' | 'd' | 'p' | 'q' | 'dp' | 'dq' | 'qi', bigint>): void {
  const { n, e, d, p, q, dp, dq, qi } = key;
  const holds = [
    n === p * q,
    (e * d) % (((p - 1n) * (q - 1n)) / gcd(p - 1n, q - 1n)) === 1n,
    (e * dp) % (p - 1n) === 1n && dp === d % (p - 1n),
    (e * dq) % (q - 1n) === 1n && dq === d % (q - 1n),
    (q * qi) % p === 1n,
  ];
  if (holds.includes(false)) throw new Error('the new RSA key failed its arithmetic check');
}

/**
 * SP 800-56B's pairwise consistency test: what the private key signs, its public key verifies. With the
 * arithmetic checked above, it proves the key survived its encoding into OpenSSL.
 */
function assertPairwiseConsistent(key: KeyObject): void {
  const message = Buffer.from('pairwise consistency test');
  if (!verify('sha256', message, createPublicKey(key), sign('sha256', message, key))) {
    throw new Error('the new RSA key failed its pairwise consistency test');
  }
}

function gcd(a: bigint, b: bigint): bigint {
  while (b !== 0n) [a, b] = [b, a % b];
  return a;
}

/** a^-1 mod m, for a and m coprime (extended Euclid). */
function modularInverse(a: bigint, m: bigint): bigint {
  let [oldR, r] = [a % m, m];
  let [oldS, s] = [1n, 0n];
  while (r !== 0n) {
    const quotient = oldR / r;
    [oldR, r] = [r, oldR - quotient * r];
    [oldS, s] = [s, oldS - quotient * s];
  }
  if (oldR !== 1n) throw new Error('modularInverse: the numbers share a factor');
  return ((oldS % m) + m) % m;
}

/** A non-negative integer as JWK writes it: big-endian bytes, no leading zero byte, base64url. */
function base64Url(value: bigint): string {
  const hex = value.toString(16);
  return Buffer.from(hex.length % 2 === 0 ? hex : `0${hex}`, 'hex').toString('base64url');
}
