import { randomBytes } from 'node:crypto';

/**
 * The one seam for randomness (passwords, bcrypt salts). Tests pass a seeded source so output is
 * byte-identical; everything else uses the operating system's CSPRNG.
 */
export type RandomSource = (length: number) => Buffer;

/** The operating system's CSPRNG. */
export const secureRandom: RandomSource = (length) => randomBytes(length);

/** A password of `length` characters from an alphabet without look-alikes (no 0/O, 1/l/I). */
export function generatePassword(random: RandomSource = secureRandom, length = 24): string {
  const alphabet = 'abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789';
  // Rejection sampling keeps every character equally likely.
  const limit = 256 - (256 % alphabet.length);
  let password = '';
  while (password.length < length) {
    for (const byte of random(length)) {
      if (byte < limit && password.length < length) password += alphabet[byte % alphabet.length];
    }
  }
  return password;
}
