import crypto, { createPrivateKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import { RSA_KEY_POOL_FILE } from '../fixtures/make-rsa-key-pool';

/**
 * Test-only: the primes of RSA-2048 keys from a committed pool instead of new ones (vitest.config.mts loads
 * this file before every test file). lib/rsa-key.ts makes a key from two 1024-bit primes of Node's
 * `generatePrimeSync` (about 90 ms of CPU a key here), and the suites make ~150 keys (material, CA,
 * renewals), most only to have some key.
 *
 * What the code under test sees is unchanged: the same call into `node:crypto` (generatePrimeSync, or
 * generatePrime with a callback), answered with a genuine 1024-bit prime of a committed key, from which
 * lib/rsa-key.ts builds, checks and tests a real key; within one test file never the same prime twice, so
 * "a new key differs from the old one" still holds. Any other request (another size, bigint not asked for,
 * `add`/`rem`/`safe`), and every call once the pool is used up, goes to Node's real generator; so do child
 * processes (the bin, the synth app). A test about generation itself runs inside `withRealKeyGeneration`
 * (test/certificates.test.ts and test/rsa-key.test.ts do: fresh keys differ, 2048-bit, e = 65537, PKCS#1).
 */
/** A committed key (OpenSSL made it with generateKeyPairSync) and its two primes. */
export interface PoolKey {
  readonly pem: string;
  readonly p: bigint;
  readonly q: bigint;
}

type GeneratePrime = typeof crypto.generatePrimeSync;
type GeneratePrimeAsync = typeof crypto.generatePrime;
interface PoolState {
  readonly original: GeneratePrime;
  readonly originalAsync: GeneratePrimeAsync;
  /** Read once per process: parsing 24 keys for each test file cost ~20 ms a file. */
  readonly keys: readonly PoolKey[];
  /** Pool primes handed out since the current test file started. */
  used: number;
  real: boolean;
}

// One state per process, whether or not vitest reuses the process for the next file.
const STATE_KEY = Symbol.for('cdk8s-private-registry.test.rsa-prime-pool');
const holder = globalThis as typeof globalThis & { [STATE_KEY]?: PoolState };
const state: PoolState = holder[STATE_KEY] ?? {
  original: crypto.generatePrimeSync,
  originalAsync: crypto.generatePrime,
  keys: readPoolKeys(),
  used: 0,
  real: false,
};
holder[STATE_KEY] = state;
state.used = 0;
state.real = false;

/** The committed keys, each with its two primes. */
export const RSA_KEY_POOL: readonly PoolKey[] = state.keys;
const POOL_PRIMES: readonly bigint[] = RSA_KEY_POOL.flatMap(({ p, q }) => [p, q]);

function readPoolKeys(): PoolKey[] {
  return readFileSync(RSA_KEY_POOL_FILE, 'utf8')
    .split(/(?=-----BEGIN RSA PRIVATE KEY-----)/)
    .filter((pem) => pem.trim() !== '')
    .map((pem) => {
      const jwk = createPrivateKey(pem).export({ format: 'jwk' });
      const integer = (base64Url: string | undefined) =>
        BigInt(`0x${Buffer.from(base64Url as string, 'base64url').toString('hex')}`);
      return { pem, p: integer(jwk.p), q: integer(jwk.q) };
    });
}

function pooledPrime(size: number, options: crypto.GeneratePrimeOptions): bigint | undefined {
  if (state.real || state.used >= POOL_PRIMES.length || size !== 1024 || options.bigint !== true) return undefined;
  if (options.add !== undefined || options.rem !== undefined || options.safe === true) return undefined;
  return POOL_PRIMES[state.used++];
}

const pooled = ((size: number, options: crypto.GeneratePrimeOptions = {}) =>
  pooledPrime(size, options) ?? state.original(size, options)) as GeneratePrime;
crypto.generatePrimeSync = pooled;
// The callback form (generateRsaPrivateKey, generateMaterialKeys: primes made in Node's thread pool) takes from
// the same pool; like Node's, its callback runs later, never before the call returns, with no error.
crypto.generatePrime = ((size: number, options: crypto.GeneratePrimeOptions, callback: unknown) => {
  const prime = typeof callback === 'function' ? pooledPrime(size, options) : undefined;
  if (prime === undefined) return (state.originalAsync as (...args: unknown[]) => void)(size, options, callback);
  setImmediate(() => (callback as (error: undefined, prime: bigint) => void)(undefined, prime));
}) as GeneratePrimeAsync;
// Modules that did `import { generatePrimeSync } from 'node:crypto'` see the ESM export: update it too.
syncBuiltinESMExports();

/**
 * Runs `fn` (or, if it returns a promise, until it settles) with Node's own key generation, for a test that
 * proves generation itself.
 */
export function withRealKeyGeneration<T>(fn: () => T): T {
  state.real = true;
  let result: T;
  try {
    result = fn();
  } catch (error) {
    state.real = false;
    throw error;
  }
  // Keys made in the thread pool: real until they are made (a key whose primes fail a check draws again).
  if (result instanceof Promise) return result.finally(() => (state.real = false)) as T;
  state.real = false;
  return result;
}

/** How many pool keys (two primes each) this test file has taken (for the pool's own test). */
export function pooledKeysUsed(): number {
  return state.used / 2;
}

/** The pool's size, in keys. */
export const RSA_KEY_POOL_SIZE = POOL_PRIMES.length / 2;
