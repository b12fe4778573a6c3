import type * as Bcrypt from 'bcryptjs';
import { bcryptHash, bcryptMatches, encodeBcryptBase64 } from './bcrypt-hash';
import { DEFAULT_BCRYPT_COST } from './defaults';
import { type RandomSource, secureRandom } from './random';
import { ValidationError, assertIntegerInRange } from './validate';

/** One `user:hash` line of an htpasswd file. */
export interface HtpasswdEntry {
  readonly username: string;
  readonly hash: string;
}

/** A username and its password in clear text. */
export interface Credentials {
  readonly username: string;
  readonly password: string;
}

const BCRYPT_HASH = /^\$2[aby]\$\d\d\$[./A-Za-z0-9]{53}$/;
const MAX_PASSWORD_BYTES = 72;

/**
 * The longest user name, in UTF-8 bytes. The registry reads htpasswd with Go's bufio.Scanner, whose lines
 * stop at 64 KiB: measured with Debian's docker-registry 2.8.2, a 65,474-byte name (a 65,536-byte line with
 * its bcrypt hash and newline) still logs in, one byte more and every login of every user gets 400. 255
 * keeps far inside that and is what other tools allow.
 */
export const MAX_USERNAME_BYTES = 255;

/** C0 and C1 control characters and DEL: a terminal acts on them when `user list` prints a name. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is the point.
const CONTROL_CHARACTER = /[\u0000-\u001f\u007f-\u009f]/;

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** A name the registry can carry in htpasswd and log in with; refused otherwise, with the reason. */
export function validateUsername(username: string, field = 'username'): void {
  const problem = usernameProblem(username);
  if (problem !== undefined) {
    throw new ValidationError(`'${field}' ${problem}, got ${preview(username)}: pick a name like "registry"`);
  }
}

/** Why the registry could not honour `username`, or undefined when it can. */
function usernameProblem(username: string): string | undefined {
  if (username.length === 0 || /[:\s]/.test(username)) return "must be non-empty with no ':' or whitespace";
  if (CONTROL_CHARACTER.test(username)) return 'must not hold control characters';
  if (username.startsWith('#')) return "must not start with '#' (the registry reads that htpasswd line as a comment)";
  if (LONE_SURROGATE.test(username)) return 'must be valid Unicode (it holds a lone surrogate)';
  const bytes = Buffer.byteLength(username, 'utf8');
  if (bytes > MAX_USERNAME_BYTES) return `must be at most ${MAX_USERNAME_BYTES} bytes (it has ${bytes})`;
  return undefined;
}

/** A value for an error message: JSON-quoted (control characters escaped), long ones cut. */
function preview(value: string): string {
  return value.length > 64
    ? `${JSON.stringify(value.slice(0, 32))}... (${value.length} characters)`
    : JSON.stringify(value);
}

/** Throws unless bcrypt can hash `password` whole: non-empty, at most 72 bytes. */
export function validatePassword(password: string, username?: string): void {
  const who = username === undefined ? '' : ` for user ${JSON.stringify(username)}`;
  if (password.length === 0) {
    throw new ValidationError(`'password'${who} must not be empty: give a password or let one be generated`);
  }
  const bytes = Buffer.byteLength(password, 'utf8');
  if (bytes > MAX_PASSWORD_BYTES) {
    throw new ValidationError(
      `'password'${who} must be at most ${MAX_PASSWORD_BYTES} bytes, got ${bytes} bytes: bcrypt ignores everything after byte ${MAX_PASSWORD_BYTES}, so use a shorter password`,
    );
  }
}

/** Throws unless `cost` is a bcrypt cost (4-31). */
export function validateBcryptCost(cost: number): void {
  assertIntegerInRange('bcryptCost', cost, 4, 31, 'bcrypt costs run from 4 (fastest) to 31');
}

/** A bcrypt hash in the `$2b$` form the registry accepts. The salt comes from `random`. */
export function hashPassword(
  password: string,
  cost: number = DEFAULT_BCRYPT_COST,
  random: RandomSource = secureRandom,
): string {
  validatePassword(password);
  validateBcryptCost(cost);
  const salt = `$2b$${String(cost).padStart(2, '0')}$${encodeBcryptBase64(random(16))}`;
  return bcryptHash(password, salt) ?? bcrypt().hashSync(password, salt);
}

/** The bcrypt lines of an htpasswd file; any other line is a ValidationError naming `source` and the line. */
export function parseHtpasswd(content: string, source = 'htpasswd'): HtpasswdEntry[] {
  const entries: HtpasswdEntry[] = [];
  content.split('\n').forEach((rawLine, index) => {
    const line = rawLine.replace(/\r$/, '');
    if (line.trim() === '' || line.startsWith('#')) return;
    const colon = line.indexOf(':');
    const username = colon < 0 ? '' : line.slice(0, colon);
    const hash = colon < 0 ? '' : line.slice(colon + 1);
    if (username === '' || !BCRYPT_HASH.test(hash)) {
      throw new ValidationError(
        `${source} line ${index + 1} must be "user:<bcrypt hash>" ($2a$/$2b$/$2y$), got ${JSON.stringify(line.slice(0, 40))}: the registry rejects other hash types; recreate the user with bcrypt`,
      );
    }
    const problem = usernameProblem(username);
    if (problem !== undefined) {
      throw new ValidationError(
        `${source} line ${index + 1}: the user name ${problem}, got ${preview(username)}: delete that line by hand, then add the user again with a valid name (private-registry user add)`,
      );
    }
    if (entries.some((entry) => entry.username === username)) {
      throw new ValidationError(
        `${source} line ${index + 1} repeats user ${JSON.stringify(username)}: keep one line per user`,
      );
    }
    entries.push({ username, hash });
  });
  return entries;
}

/** An htpasswd file: one `user:hash` line per entry. */
export function formatHtpasswd(entries: readonly HtpasswdEntry[]): string {
  return entries.map((entry) => `${entry.username}:${entry.hash}\n`).join('');
}

/** The entries of `users`, hashed, in the order given. */
export function createHtpasswd(
  users: readonly Credentials[],
  cost: number = DEFAULT_BCRYPT_COST,
  random: RandomSource = secureRandom,
): string {
  const seen = new Set<string>();
  return formatHtpasswd(
    users.map(({ username, password }) => {
      validateUsername(username);
      validatePassword(password, username);
      if (seen.has(username))
        throw new ValidationError(`'users' lists ${JSON.stringify(username)} twice: give each user once`);
      seen.add(username);
      return { username, hash: hashPassword(password, cost, random) };
    }),
  );
}

/**
 * True when `password` matches the line for `username`. Checked by bcrypt-hash.ts (a few milliseconds in a
 * fresh process, where bcryptjs needs about 20), by bcryptjs for what that does not cover.
 */
export function verifyPassword(entries: readonly HtpasswdEntry[], username: string, password: string): boolean {
  const entry = entries.find((candidate) => candidate.username === username);
  return entry !== undefined && (bcryptMatches(password, entry.hash) ?? bcrypt().compareSync(password, entry.hash));
}

/** The cost of a bcrypt hash ("$2b$05$..." is 5), read from the hash itself as bcrypt's getRounds does. */
export function bcryptCostOf(hash: string): number {
  const cost = /^\$2[aby]?\$(\d\d)\$/.exec(hash);
  if (cost === null) throw new ValidationError(`not a bcrypt hash: ${JSON.stringify(hash.slice(0, 7))}`);
  return Number(cost[1]);
}

/** bcryptjs, loaded only for what bcrypt-hash.ts leaves to it. */
function bcrypt(): typeof Bcrypt {
  return require('bcryptjs') as typeof Bcrypt;
}
