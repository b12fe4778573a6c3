import { createHash } from 'node:crypto';
import type { RandomSource } from '../../lib';

/** A repeatable RandomSource (SHA-256 in counter mode) so hashed output is byte-identical in tests. */
export function seededRandom(seed: string): RandomSource {
  let counter = 0;
  return (length) => {
    const chunks: Buffer[] = [];
    let total = 0;
    while (total < length) {
      const chunk = createHash('sha256').update(`${seed}:${counter++}`).digest();
      chunks.push(chunk);
      total += chunk.length;
    }
    return Buffer.concat(chunks).subarray(0, length);
  };
}
