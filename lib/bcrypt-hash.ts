/**
 * bcrypt (`$2a$`, `$2b$`, `$2y$`) without bcryptjs. A synth, doctor and the user commands each hash or check
 * a password or two in a fresh process: there bcryptjs spends 15-25 ms warming up its JavaScript, not
 * computing. The same algorithm written as an asm.js module is compiled by V8 to WebAssembly before its
 * first call and takes a few milliseconds. The tests check it against bcryptjs on many passwords, salts and
 * costs; what it does not cover (see bcryptHash) is left to bcryptjs by its callers (htpasswd.ts).
 */

/** The Blowfish P-array (18 words) and S-boxes (4 x 256), the hex digits of pi, as big-endian words. */
const BLOWFISH_INIT = [
  'JD9qiIWjCNMTGYouA3BzRKQJOCIpnzHQCC76mOxObIlFKCHmONATd75UZs806QxswKwpt8l8UN0/hNW1tUcJF5IW1dmJefsb0TEL',
  'ppjftawv/XLb0Brft7jhr+1qJn6WunyQRfEsf5kkoZlHs5Fs9wgB8uKFjvwWY2kg2HFXTmmkWP6j9JM9fg2VdI9yjrZYcYvNWIIV',
  'Su57VKQdwlpZtZww1Tkq8mATxdGwIyhghfDKQXkYuNs474553LBgOhgObJ4Oi7Aeij7XFXfBvTFLJ3ivL9pVYFxg5lUl86pVq5RX',
  'SJhiY+gUQFXKOWoqqxC2tMxcNBFB6M6hVIavfHLpk7PuFBFjb7wqK6nFXXQYMfbOXD4Wm4eTHq/WujNsJM9cejJTgSiVhnc7j0iY',
  'a0u5r8S/6BtmKCGTYdgJzPshqZFIfKxgXeyAMu+EXV3phXWx3CYjAutlG4gjiT6B05asxQ9tb/OD9EI5LgtEgqSEIARpyPBKnh+b',
  'XiHGaEL26WyaZwycYavTiPBqUaDS2FQvaJYPpyirUTOjbu8LbBN6O+S6O/BQfvsqmKHxZR05rwF2ZspZPoJDDoiM7oYZRW+ftH2E',
  'pcM7i16+4G912IXBIHNAGkSfVsFqpk7TqmI2P3cGG/7fckKbAj030Nck0AoSSNsP6tNJ8cCbB1NyyYCZG3sl1HnY9uje9+P+UBq2',
  'eUw7l2zgvQTABrrBqU+2QJ9gxF5cnsIZaiRjaPtvrz5sU7UTObLrO1Lsb238UR+bMJUszIFFRK9evQm+49AE3jNK/WYPKAcZLkuz',
  'wMuoV0XIdA/SC185udP721V5wL0aYDIK1qEAxkAscnlnnyX++x+jzI6l6fjbMiL4PHUW3/1haxUvUB7IrQVSqzI9tfr9I4dgUzF7',
  'SD4A34KeXFe7ym+MoBqHVi7fF2nb1UKo9ih+/8OsZzLGjE9Vc2lbJ7C7yljI4f+jXbjwEaAQ+j2Y/SGDuEr8tWwt0dNbmlPkebb4',
  'RWXSjkm8S/uXkOHd8tqky34zYvsTQc7kxujvIMraNndMAdB+nv4r8R+0ldvaTa6QkZjqrY5xa5PVoNCO0dCvxyXgjjxbL451lLeP',
  '9uL78hIrZIiIuBKQDfAcT61eoGiPwxzRz/GRs6jBrS8vIhi+Dhd36nUt/osCH6HloMwPtW906Bis89bOieKZtKhP4P0T4Ld8xDuB',
  '0q2o2RZfomaAlXcFk8xzFCEaFHfmrSBld7X6hsdUQvX7nTXP682vDHs+iaDWQRvTrh5+SQAlDi0gcbNeImgAu1e44K8kZDab8Am5',
  'HlVjkR1Z36aqeMFDidlaU38gfVuiAuW5xYMmA3Zilc+pEcgZaE5zSkGzRy3KexSpShtRAFKaUykV1g9XP7ybxuQrYKR2geZ0AAi6',
  'b7VXG+kf8pbsayoN2RW2Y2Uh57n5tv80BS7FhVZkU7AtXamfj6EIukeZboUHakt6cOm1sylE23UJLsQZJiOtbqawSafffZzuYLiP',
  '7bJm7KqMcWmaF/9WZFJswrGe4Rk2AqV1CUwpoFkTQOQYOj4/VJiaW0KdZWuP5NaZ9z/WodKcB+/oMPVNLTjm8CVdwUzdIIaEcOsm',
  'Y4LpxgIezF4JaGs/PrrvyTyXGBRranChaH81hFKg4oa3nFMFqlAHNz4HhBx/3q5cjn1E7FcW8riwOto38FAMDfAcHwQCALP/rgz1',
  'Gjy1dLIlg3pY3AkhvdGRE/l8qS/2lDJHcyL1RwE65eWBN8La3Mi1djSa892nqURhRg/QAw7syMc+pHUeQeI4zZk76g4vMoC7oRg+',
  'szFOVIs4T225CG9CDQP2CgS/LLgSkCSXfHlWebByvK+Jr96adx/ZkwgQs4uuEtzPPy5VEnIfLmtxJFAa3eafhM2HelhHGHQI2he8',
  'n5q86Ut9jOx67DrbhR36YwlDZsRkw9LvHBhHMhXZCN1DOzckwroWEqFNQyplxFFQlAACEzrk3XHf+J4QMU5Vgax31l8RGZsENVbx',
  '16PHazwRGDtZJKUJ8o/m7Zfx+/qeur8sHhU8bobjRXDq6W+xhg5eClo+KrN3H+ccTj0G+ill3LmZ5x0PgD6J1lJmyCUuTMl4nBCz',
  'asYVDrqU4up4pfw8Ux4KLfTy906nNh0rPRk5Jg8ZwnlgUiOnCPcTErbrrf5u6sMfZuO8RZWme8iDsX830QGM/yjDMt3vvmxapWVY',
  'IYVoq5gC7s6lD9svlTsq732tW24vhBUhtigpB2Fw7N1HdWGfFRATzKgw62G9lgM0/h6qA2PPtXNckExwojnVnp4Ly6reFO7Mhrxg',
  'YiynnKtcq7LzhG5kix6vGb3wyqAjabllWrtQQGhaMjwqtLMxnunVwCG495tUCxmHX6CZlfeZfmI9faj4N4ial+MtdxHtk18WaBKB',
  'DjWIKcfmH9aW3t+heFi6mVf1hKUbInJjm4PD/xrCRpbNswrrUy4wVI/ZSORtvDEoWOvy7zTG/+r+KO1h7nw8c11KFNnoZLfjQhBd',
  'FCA+E+BF7uK2o6qr6ttsTxX6y0/Qx0L0Qu9qu7VlTzsdQc0hBdgeeZ6GhU3H5EtHaj2BYlDPYqHyW40mRvyIg6DBx7ajfxUkw2nL',
  'dJJHhIoLVpKyhQlbvwCtGUidFGKxdCOCDgBYQo0qDFX16h2t9D4jP3BhM3Lwko2TfkHWX+zxbCI723zeN1nL7nRgQIXyp853Mm6m',
  'B4CEGfhQnujv2FVh2Zc1qWmnqsUMBsJaBKv8gAvK3J5Eei7DRTSE/dVnBQ4ensnbc9vTEFWIzWdf2nnjZ0NAxcQ0ZXE+ONg9KPie',
  '8W3/IBU+IeePsD1K5uOfK9uDrffpPVpolIFA9/ZMJhyUaSk0QRUg93YC1Pe89Gsu1KIAaNQIJHEzIPRqQ7fUt1AAYa8eOfYulyRF',
  'RhQhT3S/i4hATZX8HZa1ka9w9N3TZqAvRb+8CewDvZeFf6xt0DHLhQSW6yezVf05QdolR+arygqaKFB4JVMEKfQKLIba6bZt+2jc',
  'FGLXSGkAaA7ApCehje5PP/6i6IetjLWM4AZ69Na2qs4efNM3X+zOeKOZQGsqQiD+njXZ84W57jnXqzsSTosdyfr3S20YViajZjHq',
  '45eyOm76dN1bQzJoQef3yngg+/sK9U7Y/rOXRUBWrLpIlSdVUzo6IIONh/5rqbfQlpVLVahnvKEVmljMqSljmeHbM6YqSlY/MSX5',
  'XvR+HJApMXz9+OgCBCcvcIC7FVwFKCzjlcEVSOTGbSJIwRM/xw+G3Af5ye5BBB8PQEd5pF2IbhcyX1Hr1ZvA0fK8wY9BETVkJXt4',
  'NGAqnGDf+OijH2NsGw4StMIC4TKer2ZP0crRgRVrI5XgMz6S4TskC2LuvrkihbKiDua6DZnecgyMLaL3KNASeEWVt5T9ZH0IYufM',
  '9fBUSaNvh31I+sOd/SfzPo0eCkdjQZku/3Q6b26r9Pj9N6gS3GCh6934mRvhTNtuaw3Ge1UQbWcsNydl1Dvc0OgE8SkNx8wA/6O1',
  'OQ+SaQ/tC2Z7n/vO232coJHPC9kVXqO7Ey+IUVutJHuUeb92O9brNzkus8wRWXmAJuKX9C4xLWhCrafGais7EnVMzHgu8RxqEkI3',
  't5JR5wahu+ZL+2NQGmsQGBHK7fo9Jb3Y4uHDyURCFlkKEhOG2QzsbtWr6ipkr2dO2oaoX76/6Yhk5MP+nbyAV/D3wIZgeHv4YANg',
  'TdH9g0b2OB+wd0WuBNc2/MyDQmsz8B6rcbCAQYc8AF5fd6BXvr3oriRVRkKZv1guYU5Y9I/y3f2i9HTvOIeJvcJTZvnDyLOOdLR1',
  '8lVG/Nm5eusmYYsd34SEag55kV+V4kZuWY4gtFdwjNVVkckC3ky5C6zhu4IF0BGoYkh1dKmet38ZtuCp3AlmLQmhxDJGM+haHwIJ',
  '8L6MSpmgJR1u/hAauT0dC6Wk36GG8g8oaPFp3Lfag1c5Bv6h4s6bT81/UlARXgGnBoP6oAK1xA3m0Cea+Iwndz+GQcNgTAZhqAa1',
  '8Bd6KMD1huAAYFiqMNx9YhHmntcjOOpjU8LdlMLCFjS7y+5WkLy23uv8faHOWR12bwXkCUt8AYg5cgo9fJJ8JIbjcl9yTZ25GsFb',
  'tNOeuPztVFV4CPyltdg9fNNNrQ/EHlDvXrFh5viihRTZbFETPG/Vx+dW4U7ENiq/zt3GyDfXmjI0kmOCEmcO+o5AYADgOjnON9P6',
  '9c+rwnc3WsUtG1ywZ55PozdC04InQJm8m77VEY6dvw9zFdYtHH7HAMR7t4wbayGhkEWybrG+ajZutFdIqy+8lG55xqN20mVJwshT',
  'D/juRo3efdVzCh1M0E3GKTm726m6RlCslSbovl7jBKH61fBqLVGaY++M4pqG7iLAicK4QyQu9qUeA6qc8tCkg8Bhupvpak2P5RVQ',
  'umRb1igmovmnOjrhS6mVhu9VYunHL+/T91L32j8Eb2l3+gpZgOSpFYewhgGbCeatOz7lk+mQ/VqeNNeXLPC32QIri1GW1aw6AX2m',
  'fdHPPtZ8fS0oH58lz63yuJta1rRyWoj1TOAprHHgGaXmR7Cs/e2T+pvo08SNKDtXzPjVZil5Ey4oeF8Bke11YFX3lg5E49NejBUF',
  'bdSI9G26A6FhJQVk8L3D654VPJBXopcnGuypOgcqGz9tmx5jIfX1nGb7JtzzGXUz2SixVf31A1Y0goq6PLsoUXcRwgrZ+KvMUWfM',
  'rZJfTegXUTgw3I43nVhikyD5kep6kML7PnvOUSHOZHdPvjKotuN+wyk9RkjeU2lkE+aAoq4IEN1tsiRphS39CQchZrOaRgpkRcDd',
  'WGzezxwgyK5bvvfdG1iNQMzSAX9rtOO73aJqfjpZ/0U+NQpEvLTN1XLqzqj6ZIS7jWYSrr88b0fSm+RjVC9dnq7Cdxv2TmNwdA4N',
  'jedbE1f4chZxr1N9XUBAywhOtOLMNNJGagEVr4ThsAQolZg6HQa4n7TObqBIbz87gjUgq4IBGh1LJ3In+GEVYLHnkz/cuzp5KzRF',
  'Jb2giDnhUc55Sy8yybegH7rJ4BzIfrzH0fbPARHDoeiqxxqQh0nUT72a0Nrey9UK2jgDOcMqxpE2Z435MXzgsStP955Zt0P1uzry',
  '1Rn/J9lFnL+XIiwV5vwqD5H8cZuUFSX65ZNhzrac68KoZFkSuqjRtsEHXuMFagwQ0lBlywOkQuDsbg4WmNs7TJigvjJ46WSfH5Uy',
  '4NOS39OgNCuJcfIeGwp0QUujNIzFvnEgw3Yy2N81n42bmS8u5gtvRw/j8R3lTNpUHtrYkc5iec/NPn5vFhixZv0sHQWEj9LF9vsi',
  'mfUj81emMnYjk6g1MVbMzQKs8IFiWnXrtW4WNpeI0nPM3pZikoG5SdBMUJAbccZWFObGx70yehQKReHQBsPye5rJqlP9YqgPALsl',
  'v+I1vdL2cRJpBbIEAiK2y898zXacK1MRPsAWQOPTOKu9YCVHrfC6OCCc90bOdnevocUgdWBghcv+Torojdh6qvmwTPmqfhlIwlwC',
  '+4qMAcNq5Nbr4fmQ1PhpplzeoD8JJS3CCOaft05hMs534ltXj9/jOsNy5g==',
].join('');

/** "OrpheanBeholderScryDoubt": what bcrypt encrypts 64 times with the expensive key schedule. */
const MAGIC = [0x4f727068, 0x65616e42, 0x65686f6c, 0x64657253, 0x63727944, 0x6f756274];

// Where everything lives in the module's memory, in bytes: P (and right after it the S-boxes, so the key
// schedule rewrites both in one pass), the two key streams, the salt's four words, then the 24-byte text.
const P_AT = 0;
const KEY_STREAM_AT = 4168;
const SALT_STREAM_AT = 4240;
const SALT_WORDS_AT = 4312;
const TEXT_AT = 4328;
/** asm.js wants a power-of-two memory of at least 64 KiB. */
const MEMORY_BYTES = 0x10000;

/**
 * The expensive key schedule (EksBlowfish) and the 64 encryptions of the magic text, as asm.js: every
 * value an int32, every access to memory through `H`. Layout as in the constants above; the S-boxes start
 * at byte 72, right after the 18 words of P.
 */
function bcryptAsm(stdlib: { Int32Array: Int32ArrayConstructor }, _foreign: unknown, heap: ArrayBuffer) {
  'use asm';
  const H = new stdlib.Int32Array(heap);
  var L = 0;
  var R = 0;
  function f(x: number): number {
    x = x | 0;
    return (
      ((((H[(72 + ((x >>> 22) & 1020)) >> 2] | 0) + (H[(1096 + ((x >>> 14) & 1020)) >> 2] | 0)) ^
        (H[(2120 + ((x >>> 6) & 1020)) >> 2] | 0)) +
        (H[(3144 + ((x << 2) & 1020)) >> 2] | 0)) |
      0
    );
  }
  function encipher(): void {
    var l = 0;
    var r = 0;
    var i = 0;
    l = L ^ H[0];
    r = R;
    for (i = 4; (i | 0) <= 60; i = (i + 8) | 0) {
      r = r ^ (f(l) | 0) ^ H[i >> 2];
      l = l ^ (f(r) | 0) ^ H[(i + 4) >> 2];
    }
    L = r ^ H[17];
    R = l;
  }
  /** P ^= the key's stream at `key`; then re-key P and the S-boxes, mixing in the salt's words when `salt` is not 0. */
  function expand(key: number, salt: number): void {
    key = key | 0;
    salt = salt | 0;
    var i = 0;
    var j = 0;
    for (i = 0; (i | 0) < 72; i = (i + 4) | 0) H[i >> 2] = H[i >> 2] ^ H[(key + i) >> 2];
    L = 0;
    R = 0;
    for (i = 0; (i | 0) < 4168; i = (i + 8) | 0) {
      if (salt) {
        L = L ^ H[(salt + (j & 12)) >> 2];
        R = R ^ H[(salt + ((j + 4) & 12)) >> 2];
        j = (j + 8) | 0;
      }
      encipher();
      H[i >> 2] = L;
      H[(i + 4) >> 2] = R;
    }
  }
  function crypt(rounds: number): void {
    rounds = rounds | 0;
    var i = 0;
    var j = 0;
    expand(4168, 4312);
    for (i = 0; i >>> 0 < rounds >>> 0; i = (i + 1) | 0) {
      expand(4168, 0);
      expand(4240, 0);
    }
    for (i = 0; (i | 0) < 64; i = (i + 1) | 0) {
      for (j = 4328; (j | 0) < 4352; j = (j + 8) | 0) {
        L = H[j >> 2] | 0;
        R = H[(j + 4) >> 2] | 0;
        encipher();
        H[j >> 2] = L;
        H[(j + 4) >> 2] = R;
      }
    }
  }
  return crypt;
}

const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;
const BASE64 = './ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
/** A bcrypt setting: version, two-digit cost and 22 characters of salt; a whole hash has 31 more. */
const SETTING = /^\$2([aby])\$(\d\d)\$([./A-Za-z0-9]{22})/;
const HASH = /^\$2[aby]\$\d\d\$[./A-Za-z0-9]{53}$/;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/**
 * The bcrypt hash of `password` with the version, cost and salt of `setting` (a setting or a whole hash),
 * exactly what bcryptjs's hashSync gives; undefined for what this does not implement (a cost outside 4-31,
 * a password that is not well-formed Unicode): ask bcryptjs then.
 */
export function bcryptHash(password: string, setting: string): string | undefined {
  const parts = SETTING.exec(setting);
  if (parts === null || LONE_SURROGATE.test(password)) return undefined;
  const [, minor, costText, saltText] = parts;
  const cost = Number(costText);
  if (cost < 4 || cost > 31) return undefined;
  const salt = decodeBase64(saltText, 16);
  // $2a$, $2b$ and $2y$ all hash the password's UTF-8 with a terminating NUL; only the first 72 bytes count.
  const key = Buffer.from(`${password}\0`, 'utf8');
  const heap = new ArrayBuffer(MEMORY_BYTES);
  const memory = new Int32Array(heap);
  // The big-endian words, byte-swapped natively where the memory is little-endian (Int32Array uses the CPU's order).
  const init = Buffer.from(BLOWFISH_INIT, 'base64');
  if (LITTLE_ENDIAN) init.swap32();
  new Uint8Array(heap).set(init, P_AT);
  memory.set(wordStream(key), KEY_STREAM_AT / 4);
  memory.set(wordStream(salt), SALT_STREAM_AT / 4);
  memory.set(wordStream(salt).subarray(0, 4), SALT_WORDS_AT / 4);
  memory.set(MAGIC, TEXT_AT / 4);
  bcryptAsm(globalThis, undefined, heap)(2 ** cost);
  const output = Buffer.alloc(24);
  for (let word = 0; word < 6; word++) output.writeInt32BE(memory[TEXT_AT / 4 + word], word * 4);
  return `$2${minor}$${costText}$${encodeBcryptBase64(salt)}${encodeBcryptBase64(output.subarray(0, 23))}`;
}

/** True when `password` matches `hash`, as bcryptjs's compareSync says; undefined where bcryptHash is. */
export function bcryptMatches(password: string, hash: string): boolean | undefined {
  if (!HASH.test(hash)) return undefined;
  const computed = bcryptHash(password, hash);
  return computed === undefined ? undefined : computed === hash;
}

/** 18 words from `bytes` read cyclically, big-endian: how Blowfish's key schedule consumes a key. */
function wordStream(bytes: Uint8Array): Int32Array {
  const words = new Int32Array(18);
  for (let word = 0, offset = 0; word < 18; word++) {
    for (let byte = 0; byte < 4; byte++, offset = (offset + 1) % bytes.length) {
      words[word] = (words[word] << 8) | bytes[offset];
    }
  }
  return words;
}

/** bcrypt's base64 (its own alphabet, no padding), `length` bytes from the front of `text`. */
function decodeBase64(text: string, length: number): Buffer {
  const bytes = Buffer.alloc(length);
  let bits = 0;
  let accumulator = 0;
  let count = 0;
  for (const character of text) {
    accumulator = ((accumulator << 6) | BASE64.indexOf(character)) & 0xffffff;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      bytes[count++] = (accumulator >> bits) & 0xff;
      if (count === length) break;
    }
  }
  return bytes;
}

/** bcrypt's base64 of `bytes` (its own alphabet, no padding): 16 bytes of salt make 22 characters. */
export function encodeBcryptBase64(bytes: Uint8Array): string {
  let text = '';
  for (let i = 0; i < bytes.length; i += 3) {
    const [b1, b2 = 0, b3 = 0] = [bytes[i], bytes[i + 1], bytes[i + 2]];
    text += BASE64[b1 >> 2] + BASE64[((b1 & 3) << 4) | (b2 >> 4)];
    if (i + 1 < bytes.length) text += BASE64[((b2 & 15) << 2) | (b3 >> 6)];
    if (i + 2 < bytes.length) text += BASE64[b3 & 63];
  }
  return text;
}
