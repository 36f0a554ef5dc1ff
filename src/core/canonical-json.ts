/**
 * Whether a JSON text is already in the form `JSON.stringify(JSON.parse(text))` gives it: then the
 * text can be stored as it is, without building it again from the parsed value (the bulk ingest
 * path: src/ingest/stream-parse.ts, src/core/normalize.ts `sourceText`).
 *
 * One pass over the text, no allocation but for number tokens. It proves, for text that JSON.parse
 * accepted (the precondition: it does not check the grammar):
 * - no white space outside strings;
 * - no key twice in any object (JSON.parse keeps the last value of a repeated key; another parser
 *   may keep the first, so a repeated key must never reach the log as it came);
 * - no key that begins with a digit (an array-index key, which JS objects enumerate first, so its
 *   place after a round trip is not its place in the text);
 * - every escape in a string the one JSON.stringify writes (`\"`, `\\`, `\b`, `\f`, `\n`, `\r`,
 *   `\t`, and `\u00xx` in lower case for the other control characters); any other escape (`\/`,
 *   `\u0041`, a surrogate pair spelled out) is not proved;
 * - every number in its shortest round-trip form (`String(Number(token)) === token`: not `1.0`,
 *   `1E5`, `-0`, `1e400` or an integer past 2^53 that reads back as another);
 * - no lone surrogate in the text (JSON.stringify would escape it);
 * - nesting at most MAX_DEPTH deep and at most MAX_KEYS keys in one object (what the proof tracks;
 *   deeper or larger is not proved, and then the caller stringifies as before).
 *
 * It answers false whenever it cannot prove all of this: false only costs the caller its stringify.
 * Repeated keys are found by a 32-bit hash of each key's text compared with its object's other keys;
 * a collision answers false too. Not reentrant (module buffers), which a synchronous function on one
 * thread never needs.
 */

/** Nesting the proof follows; deeper text is not proved. */
export const MAX_DEPTH = 64;
/** Keys of one object the proof compares; an object with more is not proved. */
export const MAX_KEYS = 128;

/** Key hashes of the objects open on the path from the root, each object's after its parent's. */
const hashes = new Int32Array(MAX_DEPTH * MAX_KEYS);
/** Per open container: where its keys start in `hashes` (-1: an array). */
const starts = new Int32Array(MAX_DEPTH + 1);

const QUOTE = 0x22;
const BACKSLASH = 0x5c;

export function isCanonicalJson(text: string): boolean {
  if (!text.isWellFormed()) return false;
  const n = text.length;
  let depth = 0;
  let top = 0; // next free slot in `hashes`
  let i = 0;
  // The next backslash at or after the current string's scan position (n when there is none),
  // found once for the text rather than once per string.
  let bs = text.indexOf('\\');
  if (bs < 0) bs = n;
  while (i < n) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) {
      const start = i + 1;
      // The string's end: the next quote not escaped. Escapes are checked on the way.
      let j = start;
      for (;;) {
        const q = text.indexOf('"', j);
        if (q < 0) return false;
        if (bs < j) {
          bs = text.indexOf('\\', j);
          if (bs < 0) bs = n;
        }
        const b = bs;
        if (b > q) {
          j = q;
          break;
        }
        const e = text.charCodeAt(b + 1);
        if (e === 0x75) {
          // \u00xx, lower case, a control character without a short form.
          if (text.charCodeAt(b + 2) !== 0x30 || text.charCodeAt(b + 3) !== 0x30) return false;
          const h = text.charCodeAt(b + 4);
          const l = text.charCodeAt(b + 5);
          if (h !== 0x30 && h !== 0x31) return false;
          const lo = l >= 0x30 && l <= 0x39 ? l - 0x30 : l >= 0x61 && l <= 0x66 ? l - 0x57 : -1;
          if (lo < 0) return false;
          const code = (h - 0x30) * 16 + lo;
          if (code === 0x08 || code === 0x09 || code === 0x0a || code === 0x0c || code === 0x0d) return false;
          j = b + 6;
        } else if (e === QUOTE || e === BACKSLASH || e === 0x62 || e === 0x66 || e === 0x6e || e === 0x72 || e === 0x74) {
          j = b + 2;
        } else {
          return false;
        }
      }
      const end = j; // the closing quote
      i = end + 1;
      if (text.charCodeAt(i) === 0x3a) {
        // A key. Its first character must not be a digit; it must differ from its object's other keys.
        const first = text.charCodeAt(start);
        if (first >= 0x30 && first <= 0x39) return false;
        let h = 0x811c9dc5 ^ (end - start);
        for (let k = start; k < end; k++) h = Math.imul(h ^ text.charCodeAt(k), 0x01000193);
        const from = starts[depth]!;
        if (top - from >= MAX_KEYS) return false;
        for (let k = from; k < top; k++) if (hashes[k] === h) return false;
        hashes[top++] = h;
        i++;
      }
      continue;
    }
    if (c === 0x7b || c === 0x5b) {
      if (depth === MAX_DEPTH) return false;
      depth++;
      starts[depth] = c === 0x7b ? top : -1;
      i++;
      continue;
    }
    if (c === 0x7d || c === 0x5d) {
      if (depth === 0) return false;
      if (c === 0x7d) top = starts[depth]!;
      depth--;
      i++;
      continue;
    }
    if (c === 0x2c) {
      i++;
      continue;
    }
    if (c === 0x2d || (c >= 0x30 && c <= 0x39)) {
      let j = i + 1;
      for (; j < n; j++) {
        const d = text.charCodeAt(j);
        if (!((d >= 0x30 && d <= 0x39) || d === 0x2e || d === 0x65 || d === 0x45 || d === 0x2b || d === 0x2d)) break;
      }
      const token = text.slice(i, j);
      if (String(Number(token)) !== token) return false;
      i = j;
      continue;
    }
    if (c === 0x74 || c === 0x6e) {
      i += 4; // true, null
      continue;
    }
    if (c === 0x66) {
      i += 5; // false
      continue;
    }
    return false; // white space (or anything JSON.parse would not have accepted)
  }
  return true;
}
