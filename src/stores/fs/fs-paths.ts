/**
 * The boundary of a filesystem bucket: which keys name a file inside `<root>/<bucket>`, and whether
 * a path really resolves inside it (symlinks included). Shared by FsObjectStore and FsBucketReader.
 */
import { lstat, realpath } from 'node:fs/promises';
import { dirname, join, sep } from 'node:path';

export const META_SUFFIX = '.meta.json';
/** S3's limit on a key: 1024 bytes of UTF-8. */
export const MAX_KEY_BYTES = 1024;

/** Files FsObjectStore writes beside objects: metadata and in-flight temporaries. */
export function isSidecar(name: string): boolean {
  return name.endsWith(META_SUFFIX) || /\.tmp-\d+-\d+$/.test(name);
}

/**
 * Why a key cannot name an object of a filesystem bucket, or undefined when it can. A key maps to
 * `<bucket>/<key>` one to one only when it has no empty, `.` or `..` segment, no leading `/` and no
 * NUL; keys of the store's own sidecar files are refused too.
 */
export function keyProblem(key: string): string | undefined {
  if (key.length === 0) return 'the key is empty';
  if (key.includes('\0')) return 'the key contains NUL';
  if (!key.isWellFormed()) return 'the key is not valid Unicode';
  if (Buffer.byteLength(key) > MAX_KEY_BYTES) return `the key is longer than ${MAX_KEY_BYTES} bytes`;
  if (key.startsWith('/')) return 'the key starts with /';
  for (const segment of key.split('/')) {
    if (segment === '' || segment === '.' || segment === '..') return `the key has ${segment === '' ? 'an empty' : `a ${segment}`} path segment`;
  }
  if (isSidecar(key)) return 'the key names a metadata or temporary file of the store';
  return undefined;
}

/**
 * True when the key prefix's directory part (everything up to its last `/`) can exist in a bucket:
 * no empty, `.` or `..` segment, no leading `/`, no NUL. Other prefixes match no key.
 */
export function isListablePrefix(prefix: string): boolean {
  if (prefix.includes('\0') || prefix.startsWith('/')) return false;
  const slash = prefix.lastIndexOf('/');
  if (slash < 0) return true;
  return prefix.slice(0, slash).split('/').every((s) => s !== '' && s !== '.' && s !== '..');
}

/**
 * S3's key order (ascending UTF-8 bytes, which is code point order) without encoding: JavaScript's
 * `<` compares UTF-16 code units, which puts a character above U+FFFF (a surrogate pair) before
 * U+E000..U+FFFF; moving the surrogates above that range restores code point order.
 */
export function compareKeys(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    let x = a.charCodeAt(i);
    let y = b.charCodeAt(i);
    if (x === y) continue;
    if (x >= 0xd800) x = x >= 0xe000 ? x - 0x800 : x + 0x2000;
    if (y >= 0xd800) y = y >= 0xe000 ? y - 0x800 : y + 0x2000;
    return x - y;
  }
  return a.length - b.length;
}

/** `child` is `base` or below it (both already resolved). */
export function isWithin(base: string, child: string): boolean {
  return child === base || child.startsWith(base.endsWith(sep) ? base : base + sep);
}

function errno(e: unknown): string | undefined {
  return (e as { code?: string }).code;
}

/**
 * The real path of `path`'s deepest existing ancestor (or of `path` itself) is inside `realBase`:
 * no symlink on the way leads out of the bucket, and none dangles. `realBase` is the bucket
 * directory's real path. (A symlink swapped in between this check and the use is not defended:
 * the bucket directory belongs to the operator.)
 */
export async function resolvesWithin(realBase: string, path: string): Promise<boolean> {
  let p = path;
  for (;;) {
    try {
      return isWithin(realBase, await realpath(p));
    } catch (e) {
      // A name too long for the filesystem cannot exist either: judged by its ancestors.
      if (errno(e) !== 'ENOENT' && errno(e) !== 'ENOTDIR' && errno(e) !== 'ENAMETOOLONG') throw e;
      // A dangling symlink: where it would lead is unknown until something creates it.
      if (await lstat(p).then((st) => st.isSymbolicLink(), () => false)) return false;
      const up = dirname(p);
      if (up === p) return false;
      p = up;
    }
  }
}

/** The bucket directory `<root>/<bucket>` and its real path. */
export async function bucketPaths(root: string, bucket: string): Promise<{ dir: string; real: string }> {
  const dir = join(root, bucket);
  return { dir, real: await realpath(dir) };
}
