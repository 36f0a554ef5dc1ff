/**
 * Incremental splitting of a bulk body into records, with every size bounded while parsing.
 *
 * A body is a CloudTrail log file `{"Records":[...]}`, a JSON array, or NDJSON (one JSON value per
 * line). Text arrives in pieces; the parser finds where each record's text ends (a small scanner
 * over strings, escapes and nesting depth for the array forms, newlines for NDJSON) and parses
 * each record on its own with JSON.parse, so no call ever parses the whole body at once and the
 * caller can yield to the event loop between pieces (parseBulkChunks does).
 *
 * Limits: at most `maxRecords` entries (BulkLimitError, thrown as soon as one more begins) and at
 * most `maxRecordChars` characters of text per record (a longer one is skipped, not buffered, and
 * becomes a RecordTooLargeEntry in its place).
 */

export class BulkBodyError extends Error {
  override name = 'BulkBodyError';
}

/** The body holds more records than allowed; thrown while parsing, before the rest is read. */
export class BulkLimitError extends Error {
  override name = 'BulkLimitError';
}

/** A record whose text is longer than maxRecordChars: rejected on its own, never parsed. */
export class RecordTooLargeEntry {
  readonly chars: number;
  readonly limit: number;
  constructor(chars: number, limit: number) {
    this.chars = chars;
    this.limit = limit;
  }
  get message(): string {
    return `the record's text is over ${this.limit} characters; the limit for a stored record is 262144 bytes`;
  }
}

export interface BulkParseLimits {
  /** Entries (records, broken lines, oversize records) allowed in one body. */
  maxRecords: number;
  /** Characters of text one record may span (whitespace included). */
  maxRecordChars: number;
}

export const DEFAULT_PARSE_LIMITS: BulkParseLimits = { maxRecords: 5000, maxRecordChars: 1024 * 1024 };

/** Leading text kept while deciding the body's form, and after a log file's Records list. */
const MAX_HEAD_CHARS = 64 * 1024;
const LOG_HEAD = /^\{\s*"Records"\s*:\s*/;
const WS = /^[\s\uFEFF]*$/;

type Mode = 'detect' | 'array' | 'log' | 'ndjson' | 'tail';

const notJson = (why: string) => new BulkBodyError(`the body is not valid JSON: ${why}`);

/**
 * Turns each entry into what the caller keeps, as soon as it is parsed (the bulk endpoint admits
 * it there: the parsed objects then die young instead of waiting for the whole body). `text`, for
 * an entry JSON.parse made, is the text it was parsed from (the record's own text in the body,
 * which normalising may store as it is: src/core/normalize.ts).
 */
export type EntryMap<T> = (entry: unknown, text?: string) => T;

export class BulkBodyParser<T = unknown> {
  readonly records: T[] = [];
  private mode: Mode = 'detect';
  private head = '';
  /** Array forms: which form, and what follows the list. */
  private form: 'array' | 'log' = 'array';
  private tail = '';
  // Scanner state (array forms).
  private depth = 0;
  private inString = false;
  /** Backslashes in a row just before the current position, inside a string. */
  private escaped = false;
  private pending = '';
  private pendingChars = 0;
  private oversize = false;
  private commas = 0;
  // NDJSON state.
  private line = '';
  private lineChars = 0;

  private readonly limits: BulkParseLimits;
  private readonly map: EntryMap<T> | undefined;
  constructor(limits: BulkParseLimits = DEFAULT_PARSE_LIMITS, map?: EntryMap<T>) {
    this.limits = limits;
    this.map = map;
  }

  /** Feeds the next piece of text. */
  push(text: string): void {
    if (text.length === 0) return;
    switch (this.mode) {
      case 'detect': return this.detect(text, false);
      case 'array': case 'log': return this.scan(text);
      case 'ndjson': return this.lines(text);
      case 'tail': return this.addTail(text);
    }
  }

  /** Ends the body; returns the entries (records, SyntaxError for broken lines, RecordTooLargeEntry). */
  end(): T[] {
    if (this.mode === 'detect') this.detect('', true);
    if (this.mode === 'array' || this.mode === 'log') throw notJson('the list is not closed');
    if (this.mode === 'ndjson') {
      if (this.lineChars > 0 || this.line.length > 0) this.endLine();
    }
    if (this.mode === 'tail') {
      if (this.form === 'array') {
        if (!WS.test(this.tail)) throw notJson('unexpected text after the list');
      } else {
        let doc: unknown;
        try {
          doc = JSON.parse(`{"Records":[]${this.tail}`);
        } catch (e) {
          throw notJson((e as Error).message);
        }
        if (typeof doc !== 'object' || doc === null) throw notJson('not an object');
      }
    }
    return this.records;
  }

  /** Throws BulkLimitError when no further entry is allowed. */
  private room(): void {
    if (this.records.length >= this.limits.maxRecords) {
      throw new BulkLimitError(`the body holds more than ${this.limits.maxRecords} records; send at most ${this.limits.maxRecords} per request`);
    }
  }

  private add(entry: unknown, text?: string): void {
    this.room();
    this.records.push(this.map ? this.map(entry, text) : (entry as T));
  }

  private detect(text: string, final: boolean): void {
    this.head += text;
    const start = this.head.search(/[^\s\uFEFF]/);
    if (start < 0) {
      if (this.head.length > MAX_HEAD_CHARS) this.head = '';
      if (final) this.mode = 'ndjson';
      return;
    }
    const h = this.head.slice(start);
    if (h[0] === '[') {
      this.head = '';
      this.form = 'array';
      this.mode = 'array';
      this.scan(h.slice(1));
      return;
    }
    if (h[0] === '{') {
      const m = LOG_HEAD.exec(h);
      if (m && m[0].length < h.length) {
        this.head = '';
        if (h[m[0].length] !== '[') throw new BulkBodyError('a log-file body needs "Records" to be a list');
        this.form = 'log';
        this.mode = 'log';
        this.scan(h.slice(m[0].length + 1));
        return;
      }
      // Undecided while the text so far could still begin `{"Records": [`.
      const couldBe = !m && /^\{\s*("(R(e(c(o(r(d(s("\s*)?)?)?)?)?)?)?)?)?$/.test(h);
      if ((m || couldBe) && !final && h.length < MAX_HEAD_CHARS) return;
      if (m) throw new BulkBodyError('a log-file body needs "Records" to be a list');
    }
    this.head = '';
    this.mode = 'ndjson';
    this.lines(h);
  }

  /** The array scanner: finds each element's end at depth 0, outside strings. */
  private scan(text: string): void {
    let from = 0;
    let i = 0;
    const n = text.length;
    while (i < n) {
      if (this.inString) {
        // Jump to the next quote; it ends the string unless an odd run of backslashes precedes it.
        if (this.escaped) {
          this.escaped = false;
          i++;
          continue;
        }
        const q = text.indexOf('"', i);
        let k = (q < 0 ? n : q) - 1;
        while (k >= i && text.charCodeAt(k) === 0x5c) k--;
        const oddRun = (((q < 0 ? n : q) - 1 - k) & 1) === 1;
        if (q < 0) {
          this.escaped = oddRun;
          i = n;
          break;
        }
        if (!oddRun) this.inString = false;
        i = q + 1;
        continue;
      }
      const c = text.charCodeAt(i);
      if (c === 0x22) {
        this.inString = true;
      } else if (c === 0x7b || c === 0x5b) {
        this.depth++;
      } else if (c === 0x7d || c === 0x5d) {
        if (this.depth > 0) {
          this.depth--;
        } else if (c === 0x5d) {
          this.take(text, from, i, true);
          this.mode = 'tail';
          this.addTail(text.slice(i + 1));
          return;
        } else {
          throw notJson("unexpected '}' in the list");
        }
      } else if (c === 0x2c && this.depth === 0) {
        this.take(text, from, i, false);
        from = i + 1;
      }
      i++;
    }
    this.keep(text, from, n);
  }

  /** Keeps an unfinished element's text (or only its length, once it is too large). */
  private keep(text: string, from: number, to: number): void {
    if (to <= from) return;
    this.pendingChars += to - from;
    if (this.oversize) return;
    if (this.pendingChars > this.limits.maxRecordChars) {
      this.oversize = true;
      this.pending = '';
      return;
    }
    this.pending += text.slice(from, to);
  }

  /** An element ended at `to` (a comma, or the closing bracket when `last`). */
  private take(text: string, from: number, to: number, last: boolean): void {
    this.keep(text, from, to);
    const chars = this.pendingChars;
    const oversize = this.oversize;
    const elem = oversize ? '' : this.pending;
    this.pending = '';
    this.pendingChars = 0;
    this.oversize = false;
    if (oversize) {
      this.add(new RecordTooLargeEntry(chars, this.limits.maxRecordChars));
    } else if (elem.trim().length === 0) {
      // `[]` is an empty list; `[,` `[1,]` `[1,,2]` are not JSON.
      if (!(last && this.commas === 0 && this.records.length === 0)) throw notJson('an empty element in the list');
    } else {
      this.room();
      let v: unknown;
      try {
        v = JSON.parse(elem);
      } catch (e) {
        throw notJson((e as Error).message);
      }
      this.add(v, elem);
    }
    if (!last) this.commas++;
  }

  private addTail(text: string): void {
    if (this.form === 'array') {
      if (!WS.test(text)) throw notJson('unexpected text after the list');
      return;
    }
    // Only checked for being JSON, never used: whitespace-only pieces need not be kept.
    if (WS.test(text)) return;
    this.tail += text;
    if (this.tail.length > MAX_HEAD_CHARS) throw notJson('too much text after the Records list');
  }

  /** NDJSON: one value per line; a broken line is a SyntaxError entry, an overlong one a RecordTooLargeEntry. */
  private lines(text: string): void {
    let from = 0;
    for (;;) {
      const nl = text.indexOf('\n', from);
      if (nl < 0) break;
      this.lineText(text, from, nl);
      this.endLine();
      from = nl + 1;
    }
    this.lineText(text, from, text.length);
  }

  private lineText(text: string, from: number, to: number): void {
    if (to <= from) return;
    this.lineChars += to - from;
    if (this.lineChars > this.limits.maxRecordChars) {
      this.line = '';
      return;
    }
    this.line += from === 0 && to === text.length ? text : text.slice(from, to);
  }

  private endLine(): void {
    const chars = this.lineChars;
    const line = this.line;
    this.line = '';
    this.lineChars = 0;
    if (chars > this.limits.maxRecordChars) {
      this.add(new RecordTooLargeEntry(chars, this.limits.maxRecordChars));
      return;
    }
    if (line.trim().length === 0) return;
    this.room();
    let v: unknown;
    try {
      v = JSON.parse(line);
    } catch {
      this.add(new SyntaxError('the line is not valid JSON'));
      return;
    }
    this.add(v, line);
  }
}

/** Splits a whole body at once (tests, small bodies). */
export function splitBody(text: string, limits: BulkParseLimits = DEFAULT_PARSE_LIMITS): unknown[] {
  const p = new BulkBodyParser(limits);
  p.push(text);
  return p.end();
}

/** Work done between yields to the event loop, ms. */
const SLICE_MS = 8;
/** Text handed to the parser at once. */
const PIECE_CHARS = 64 * 1024;

const yieldToLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * Parses a body arriving as byte chunks (UTF-8), yielding to the event loop whenever a slice of
 * work has taken SLICE_MS, so other requests keep being served while a large body is parsed.
 * `map`, when given, is applied to each entry as it is parsed (its work counts in the slice).
 */
export async function parseBulkChunks(chunks: AsyncIterable<Uint8Array>, limits?: BulkParseLimits): Promise<unknown[]>;
export async function parseBulkChunks<T>(chunks: AsyncIterable<Uint8Array>, limits: BulkParseLimits, map: EntryMap<T>): Promise<T[]>;
export async function parseBulkChunks<T>(chunks: AsyncIterable<Uint8Array>, limits: BulkParseLimits = DEFAULT_PARSE_LIMITS, map?: EntryMap<T>): Promise<T[]> {
  const parser = new BulkBodyParser<T>(limits, map);
  const decoder = new TextDecoder('utf-8');
  let sliceStart = performance.now();
  for await (const chunk of chunks) {
    for (let off = 0; off < chunk.length; off += PIECE_CHARS) {
      const piece = chunk.subarray(off, Math.min(chunk.length, off + PIECE_CHARS));
      parser.push(decoder.decode(piece, { stream: true }));
      if (performance.now() - sliceStart > SLICE_MS) {
        await yieldToLoop();
        sliceStart = performance.now();
      }
    }
  }
  parser.push(decoder.decode());
  return parser.end();
}
