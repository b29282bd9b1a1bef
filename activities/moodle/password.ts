import * as path from 'node:path';
import { createHash, randomInt } from 'node:crypto';
import { projectRoot } from '../env';

/**
 * Passwords hashed as Moodle 5.1 hashes them (hash_internal_user_password): SHA-512 crypt with
 * 10,000 rounds and a 16-character salt, `$6$rounds=10000$<salt>$<hash>`, so Moodle's own login
 * accepts them. The C library's crypt_r (native/sha512crypt, built at install) runs on libuv's
 * thread pool; a pure TypeScript version of the same algorithm is the fallback.
 */

const ROUNDS = 10000;
const SALT_CHARS = './0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

type NativeCrypt = { crypt(password: string, setting: string): Promise<string> };

function loadNative(): NativeCrypt | undefined {
  try {
    return require(path.join(projectRoot, 'native', 'sha512crypt', 'build', 'Release', 'sha512crypt.node')) as NativeCrypt;
  } catch {
    return undefined;
  }
}

const native = process.env.MOODLE_SYNC_PURE_CRYPT === '1' ? undefined : loadNative();

/** Which implementation hashes here (for the benchmark and the worker's start-up line). */
export const passwordHasher = native ? 'native crypt_r' : 'TypeScript sha512crypt';

export function newSalt(): string {
  let s = '';
  for (let i = 0; i < 16; i++) s += SALT_CHARS[randomInt(SALT_CHARS.length)];
  return s;
}

/** A new Moodle password hash for `password`. */
export function hashPassword(password: string, salt = newSalt()): Promise<string> {
  const setting = `$6$rounds=${ROUNDS}$${salt}$`;
  return native ? native.crypt(password, setting) : Promise.resolve(sha512crypt(password, setting));
}

/** True when `password` matches a stored `$6$` hash (used by tests against Moodle's own hashes). */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const computed = native ? await native.crypt(password, stored) : sha512crypt(password, stored);
  return computed === stored;
}

// ---- SHA-512 crypt (Ulrich Drepper's specification), the fallback ----

const B64 = './0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
const ORDER = [
  [0, 21, 42], [22, 43, 1], [44, 2, 23], [3, 24, 45], [25, 46, 4], [47, 5, 26], [6, 27, 48],
  [28, 49, 7], [50, 8, 29], [9, 30, 51], [31, 52, 10], [53, 11, 32], [12, 33, 54], [34, 55, 13],
  [56, 14, 35], [15, 36, 57], [37, 58, 16], [59, 17, 38], [18, 39, 60], [40, 61, 19], [62, 20, 41],
];

const sha512 = (...parts: Buffer[]) => {
  const h = createHash('sha512');
  for (const p of parts) h.update(p);
  return h.digest();
};

/** `len` bytes made of `block` repeated. */
const repeatTo = (block: Buffer, len: number) => {
  const out = Buffer.alloc(len);
  for (let i = 0; i < len; i += block.length) block.copy(out, i, 0, Math.min(block.length, len - i));
  return out;
};

export function sha512crypt(password: string, setting: string): string {
  const m = /^\$6\$(?:rounds=(\d+)\$)?([^$]{0,16})/.exec(setting);
  if (!m) throw new Error('not a SHA-512 crypt setting');
  const rounds = m[1] ? Math.min(999999999, Math.max(1000, Number(m[1]))) : 5000;
  const P = Buffer.from(password, 'utf8');
  const S = Buffer.from(m[2], 'utf8');
  const B = sha512(P, S, P);
  const a = createHash('sha512').update(P).update(S);
  a.update(repeatTo(B, P.length));
  for (let n = P.length; n > 0; n >>= 1) a.update(n & 1 ? B : P);
  const A = a.digest();
  let dp = createHash('sha512');
  for (let i = 0; i < P.length; i++) dp.update(P);
  const Pp = repeatTo(dp.digest(), P.length);
  const ds = createHash('sha512');
  for (let i = 0; i < 16 + A[0]; i++) ds.update(S);
  const Sp = repeatTo(ds.digest(), S.length);
  let C = A;
  for (let i = 0; i < rounds; i++) {
    const c = createHash('sha512');
    c.update(i & 1 ? Pp : C);
    if (i % 3) c.update(Sp);
    if (i % 7) c.update(Pp);
    c.update(i & 1 ? C : Pp);
    C = c.digest();
  }
  let out = '';
  const put = (w: number, n: number) => { for (let i = 0; i < n; i++, w >>= 6) out += B64[w & 0x3f]; };
  for (const [x, y, z] of ORDER) put((C[x] << 16) | (C[y] << 8) | C[z], 4);
  put(C[63], 2);
  return `$6$${m[1] ? `rounds=${rounds}$` : ''}${m[2]}$${out}`;
}
