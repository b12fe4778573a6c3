import crypto, { createPrivateKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import { RSA_KEY_POOL_FILE } from '../fixtures/make-rsa-key-pool';

/**
 * Test-only: RSA-2048 keys from a committed pool instead of new ones (vitest.config.mts loads this file
 * before every test file). Generating one costs about 0.2 s of CPU here, and the suites make ~150 of them
 * (material, CA, renewals), most only to have some key: that was a fifth of `npm test`'s CPU.
 *
 * What the code under test sees is unchanged: the same call into `node:crypto` (generateKeyPairSync, or
 * generateKeyPair with a callback), answered with a genuine RSA-2048 key (e = 65537) in the encodings it asked
 * for, and within one test file never the same key twice, so "a new key differs from the old one" still holds. Any other request (another size, another type), and
 * every call once the pool is used up, goes to Node's real generator. Child processes (the bin, the synth
 * app) always generate. A test about generation itself runs inside `withRealKeyGeneration`
 * (test/certificates.test.ts does: fresh keys differ, 2048-bit, e = 65537, PKCS#1).
 */
const POOL: readonly string[] = readFileSync(RSA_KEY_POOL_FILE, 'utf8')
  .split(/(?=-----BEGIN RSA PRIVATE KEY-----)/)
  .filter((pem) => pem.trim() !== '');

type Generate = typeof crypto.generateKeyPairSync;
type GenerateAsync = typeof crypto.generateKeyPair;
interface PoolState {
  readonly original: Generate;
  readonly originalAsync: GenerateAsync;
  /** Pool keys handed out since the current test file started. */
  used: number;
  real: boolean;
}

// One state per process, whether or not vitest reuses the process for the next file.
const STATE_KEY = Symbol.for('cdk8s-private-registry.test.rsa-key-pool');
const holder = globalThis as typeof globalThis & { [STATE_KEY]?: PoolState };
const state: PoolState = holder[STATE_KEY] ?? {
  original: crypto.generateKeyPairSync,
  originalAsync: crypto.generateKeyPair,
  used: 0,
  real: false,
};
holder[STATE_KEY] = state;
state.used = 0;
state.real = false;

type PemEncoding = { type?: string; format?: string; cipher?: unknown };
const isPem = (encoding: PemEncoding | undefined): boolean =>
  encoding !== undefined && encoding.format === 'pem' && encoding.cipher === undefined;

function pooledKeyPair(type: unknown, options: any): { publicKey: string; privateKey: string } | undefined {
  if (state.real || state.used >= POOL.length || type !== 'rsa' || options?.modulusLength !== 2048) return undefined;
  if ((options.publicExponent ?? 0x10001) !== 0x10001) return undefined;
  if (!isPem(options.publicKeyEncoding) || !isPem(options.privateKeyEncoding)) return undefined;
  const privateKey = createPrivateKey(POOL[state.used++]);
  return {
    publicKey: crypto.createPublicKey(privateKey).export(options.publicKeyEncoding) as string,
    privateKey: privateKey.export(options.privateKeyEncoding) as string,
  };
}

const pooled = ((type: any, options: any) => pooledKeyPair(type, options) ?? state.original(type, options)) as Generate;
crypto.generateKeyPairSync = pooled;
// The callback form (generateRsaPrivateKey, generateMaterialKeys: keys made in Node's thread pool) takes from
// the same pool; like Node's, its callback runs later, never before the call returns.
const pooledAsync = ((type: any, options: any, callback: (...args: unknown[]) => void) => {
  const keys = typeof callback === 'function' ? pooledKeyPair(type, options) : undefined;
  if (keys === undefined) return state.originalAsync(type, options, callback);
  setImmediate(() => callback(null, keys.publicKey, keys.privateKey));
}) as GenerateAsync;
// util.promisify(generateKeyPair) resolves to { publicKey, privateKey } through a symbol on Node's function.
for (const symbol of Object.getOwnPropertySymbols(state.originalAsync))
  Object.defineProperty(pooledAsync, symbol, Object.getOwnPropertyDescriptor(state.originalAsync, symbol)!);
crypto.generateKeyPair = pooledAsync;
// Modules that did `import { generateKeyPairSync } from 'node:crypto'` see the ESM export: update it too.
syncBuiltinESMExports();

/** Runs `fn` with Node's own key generation, for a test that proves generation itself. */
export function withRealKeyGeneration<T>(fn: () => T): T {
  state.real = true;
  try {
    return fn();
  } finally {
    state.real = false;
  }
}

/** How many pool keys this test file has taken (for the pool's own test). */
export function pooledKeysUsed(): number {
  return state.used;
}

/** The pool's size. */
export const RSA_KEY_POOL_SIZE = POOL.length;
