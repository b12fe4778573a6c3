import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import * as bcrypt from 'bcryptjs';
import { describe, expect, it } from 'vitest';
import { bcryptHash, bcryptMatches, encodeBcryptBase64 } from '../lib/bcrypt-hash';
import { seededRandom } from './support/seeded-random';

const REPO = join(__dirname, '..');

/** A bcryptjs hash of `password` with a salt from `random`, written with the given minor version. */
function hashWith(password: string, cost: number, minor: 'a' | 'b' | 'y', random: (bytes: number) => Buffer): string {
  const salt = `$2b$${String(cost).padStart(2, '0')}$${bcrypt.encodeBase64(random(16), 16)}`;
  return bcrypt.hashSync(password, salt).replace(/^\$2b/, `$2${minor}`);
}

describe('bcryptHash', () => {
  it('makes the very hash bcryptjs makes from the same password and salt', () => {
    const random = seededRandom('bcrypt-hash-salts');
    for (const [index, password] of ['registry', 'ünïcödé 😀', 'x'.repeat(72), `${'y'.repeat(72)}ignored`].entries()) {
      const bytes = random(16);
      const salt = `$2b$0${4 + (index % 2)}$${encodeBcryptBase64(bytes)}`;
      expect(encodeBcryptBase64(bytes)).toBe(bcrypt.encodeBase64(bytes, 16));
      expect(bcryptHash(password, salt)).toBe(bcrypt.hashSync(password, salt));
    }
  });
});

describe('bcryptMatches', () => {
  it('agrees with bcryptjs on right and wrong passwords, every minor version, costs 4 and 5', () => {
    const random = seededRandom('bcrypt-hash');
    const passwords = [
      'iris',
      'x',
      'a'.repeat(71),
      'a'.repeat(72),
      // Past 72 bytes bcrypt ignores the rest: both implementations must.
      `${'b'.repeat(72)}tail`,
      'ünïcödé €uro 😀 emoji',
      'with spaces and "quotes" and \\ backslashes',
      ...Array.from({ length: 12 }, (_, index) => random(6 + index * 5).toString('base64')),
    ];
    let compared = 0;
    passwords.forEach((password, index) => {
      const hash = hashWith(password, 4 + (index % 2), (['a', 'b', 'y'] as const)[index % 3], random);
      for (const candidate of [password, `${password}x`, password.slice(1), password.toUpperCase()]) {
        expect(bcryptMatches(candidate, hash), `${JSON.stringify(candidate)} against ${hash}`).toBe(
          bcrypt.compareSync(candidate, hash),
        );
        compared++;
      }
      expect(bcryptMatches(password, hash)).toBe(true);
    });
    expect(compared).toBe(passwords.length * 4);
  });

  it('refuses a hash whose checksum or salt was changed by one character', () => {
    const hash = hashWith('iris', 4, 'b', seededRandom('one'));
    const flip = (at: number): string => `${hash.slice(0, at)}${hash[at] === 'A' ? 'B' : 'A'}${hash.slice(at + 1)}`;
    expect(bcryptMatches('iris', hash)).toBe(true);
    expect(bcryptMatches('iris', flip(hash.length - 2))).toBe(false); // checksum
    expect(bcryptMatches('iris', flip(10))).toBe(false); // salt
  });

  it('leaves to bcryptjs what it does not implement: costs outside 4-31, lone surrogates, other formats', () => {
    const hash = hashWith('iris', 4, 'b', seededRandom('two'));
    expect(bcryptMatches('iris', hash.replace('$04$', '$03$'))).toBeUndefined();
    expect(bcryptMatches('iris', hash.replace('$04$', '$32$'))).toBeUndefined();
    expect(bcryptMatches('\uD800iris', hash)).toBeUndefined();
    expect(bcryptMatches('iris', '$1$md5$whatever')).toBeUndefined();
    expect(bcryptMatches('iris', hash.slice(0, -1))).toBeUndefined();
  });

  it('is valid asm.js in the build, so V8 compiles it to WebAssembly (else it is only slow JavaScript)', () => {
    // V8 warns "Invalid asm.js: <reason>" and runs the function as plain JavaScript when validation fails.
    const script = `const { bcryptMatches } = require(${JSON.stringify(join(REPO, 'build', 'lib', 'bcrypt-hash.js'))});
      process.stdout.write(String(bcryptMatches('iris', ${JSON.stringify(hashWith('iris', 4, 'b', seededRandom('three')))})));`;
    const result = spawnSync('node', ['-e', script], { encoding: 'utf8' });
    expect(result.stderr).not.toMatch(/asm\.js/);
    expect(result.stdout).toBe('true');
  });
});
