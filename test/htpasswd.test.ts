import * as bcrypt from 'bcryptjs';
import { describe, expect, it } from 'vitest';
import { DEFAULT_BCRYPT_COST } from '../lib';
import {
  bcryptCostOf,
  createHtpasswd,
  formatHtpasswd,
  hashPassword,
  parseHtpasswd,
  validatePassword,
  validateUsername,
  verifyPassword,
} from '../lib/htpasswd';
import { seededRandom } from './support/seeded-random';

describe('hashPassword', () => {
  it('makes a $2b$ bcrypt hash at the default cost that bcrypt verifies', () => {
    const hash = hashPassword('s3cret');
    expect(hash).toMatch(/^\$2b\$04\$[./A-Za-z0-9]{53}$/);
    expect(DEFAULT_BCRYPT_COST).toBe(4);
    expect(bcrypt.compareSync('s3cret', hash)).toBe(true);
    expect(bcrypt.compareSync('s3creT', hash)).toBe(false);
  });

  it('is byte-identical for the same random source, and differs for another', () => {
    expect(hashPassword('pw', 4, seededRandom('a'))).toBe(hashPassword('pw', 4, seededRandom('a')));
    expect(hashPassword('pw', 4, seededRandom('a'))).not.toBe(hashPassword('pw', 4, seededRandom('b')));
  });

  it('honours the cost', () => {
    expect(bcryptCostOf(hashPassword('pw', 7))).toBe(7);
  });

  it('refuses costs bcrypt does not have', () => {
    expect(() => hashPassword('pw', 3)).toThrow(
      "'bcryptCost' must be an integer in 4-31, got 3: bcrypt costs run from 4 (fastest) to 31",
    );
  });
});

describe('validateUsername / validatePassword', () => {
  it.each(['', 'a:b', 'a b', 'tab\there'])('refuses username %j', (username) => {
    expect(() => validateUsername(username)).toThrow(
      `'username' must be non-empty with no ':' or whitespace, got ${JSON.stringify(username)}: pick a name like "registry"`,
    );
  });

  it('accepts ordinary names', () => {
    expect(() => validateUsername('iris.dev-1')).not.toThrow();
  });

  it('refuses an empty password', () => {
    expect(() => validatePassword('', 'iris')).toThrow(
      `'password' for user "iris" must not be empty: give a password or let one be generated`,
    );
  });

  it('accepts 72 bytes and refuses 73, counting UTF-8 bytes not characters', () => {
    expect(() => validatePassword('x'.repeat(72))).not.toThrow();
    expect(() => validatePassword('x'.repeat(73))).toThrow(
      "'password' must be at most 72 bytes, got 73 bytes: bcrypt ignores everything after byte 72, so use a shorter password",
    );
    // 36 two-byte characters are 72 bytes; one more is 74.
    expect(() => validatePassword('é'.repeat(36))).not.toThrow();
    expect(() => validatePassword('é'.repeat(37))).toThrow('got 74 bytes');
  });
});

describe('createHtpasswd / parseHtpasswd / verifyPassword', () => {
  const users = [
    { username: 'iris', password: 'one' },
    { username: 'ci', password: 'two' },
  ];

  it('writes one line per user that round-trips and verifies', () => {
    const content = createHtpasswd(users, 4, seededRandom('x'));
    expect(content.split('\n')).toHaveLength(3);
    const entries = parseHtpasswd(content);
    expect(entries.map((entry) => entry.username)).toEqual(['iris', 'ci']);
    expect(formatHtpasswd(entries)).toBe(content);
    expect(verifyPassword(entries, 'iris', 'one')).toBe(true);
    expect(verifyPassword(entries, 'iris', 'two')).toBe(false);
    expect(verifyPassword(entries, 'nobody', 'one')).toBe(false);
  });

  it('refuses a user listed twice', () => {
    expect(() => createHtpasswd([users[0], users[0]], 4)).toThrow(`'users' lists "iris" twice: give each user once`);
  });

  it('accepts the $2a$ and $2y$ forms htpasswd tools write, and skips comments and blank lines', () => {
    const hash = hashPassword('pw', 4).slice(4);
    const entries = parseHtpasswd(`# users\n\na:$2a$${hash}\r\nb:$2y$${hash}\n`);
    expect(entries.map((entry) => entry.username)).toEqual(['a', 'b']);
  });

  it('refuses MD5 and SHA1 lines, which the registry rejects, naming the line', () => {
    expect(() => parseHtpasswd('iris:$apr1$abc$def\n', 'auth/htpasswd')).toThrow(
      'auth/htpasswd line 1 must be "user:<bcrypt hash>" ($2a$/$2b$/$2y$), got "iris:$apr1$abc$def": the registry rejects other hash types; recreate the user with bcrypt',
    );
    expect(() => parseHtpasswd(`ok:${hashPassword('pw', 4)}\niris:{SHA}abc=\n`)).toThrow('htpasswd line 2 must be');
  });

  it('refuses duplicate users in a file', () => {
    const line = `iris:${hashPassword('pw', 4)}\n`;
    expect(() => parseHtpasswd(line + line)).toThrow('htpasswd line 2 repeats user "iris": keep one line per user');
  });
});
