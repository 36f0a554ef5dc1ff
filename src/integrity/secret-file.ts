/**
 * Secret key files in the data dir (the digest-signing keys' key-encryption key, the NextToken
 * key): exactly `size` random bytes, mode 0600, created once and never rewritten. A file that is
 * readable or writable by group or others, of another size, or not a regular file is refused with
 * a one-line reason, never "fixed".
 */
import { closeSync, constants, fsyncSync, openSync, readFileSync, statSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { randomBytes } from 'node:crypto';

export class SecretFileError extends Error {
  override name = 'SecretFileError';
}

/** The file's bytes, or undefined when it does not exist. */
export function readSecretFile(path: string, size: number, description: string): Buffer | undefined {
  let st;
  try {
    st = statSync(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new SecretFileError(`cannot read the ${description}: ${(e as Error).message}`);
  }
  if (!st.isFile()) throw new SecretFileError(`the ${description} is not a regular file`);
  if (process.platform !== 'win32' && (st.mode & 0o077) !== 0) {
    throw new SecretFileError(`the ${description} is accessible to group or others (mode ${(st.mode & 0o777).toString(8).padStart(4, '0')}); run chmod 600 on it`);
  }
  if (st.size !== size) throw new SecretFileError(`the ${description} must hold exactly ${size} bytes, not ${st.size}`);
  try {
    return readFileSync(path);
  } catch (e) {
    throw new SecretFileError(`cannot read the ${description}: ${(e as Error).message}`);
  }
}

/** Creates the file with `size` random bytes (never overwrites one), fsyncs it and its directory. */
export function createSecretFile(path: string, size: number, description: string): Buffer {
  const key = randomBytes(size);
  let fd: number;
  try {
    fd = openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
  } catch (e) {
    throw new SecretFileError(`cannot create the ${description}: ${(e as Error).message}`);
  }
  try {
    writeSync(fd, key);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  try {
    const dir = openSync(dirname(path), 'r');
    try {
      fsyncSync(dir);
    } finally {
      closeSync(dir);
    }
  } catch {
    // Directories cannot be opened for fsync on some platforms; the file itself is synced.
  }
  return key;
}

/** The file's bytes, created first when it does not exist. */
export function loadOrCreateSecretFile(path: string, size: number, description: string): Buffer {
  return readSecretFile(path, size, description) ?? createSecretFile(path, size, description);
}
