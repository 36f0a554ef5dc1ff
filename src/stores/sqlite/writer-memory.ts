/**
 * What the events.db writer thread keeps between group commits, in forms that make little garbage
 * (docs/storage.md "Threads", docs/performance.md "Issue 11, fifth round: the writer"):
 *
 * - HistoryKeys: every Event history key (account, region, attribute, value) the writer met
 *   lately, with its text and hash made once, found again without building its text;
 * - PendingIds: the id hashes of the pending rows and their seqs (confirms an IdTable hit without
 *   reading SQLite), in typed arrays, not one array per event in a Map;
 * - GrowableFloat64: a Float64Array reused from one commit to the next.
 *
 * Nothing here is on disk: the formats are event-format.ts's.
 */
import { hashString, historyKeyText } from './event-format.ts';

/** An Event history key: its text (as kept in pending rows and postings) and its hash. */
export interface HistoryKey {
  readonly text: string;
  readonly k: number;
}

/** A key of the cache, with where it stands in the commit being built (HistoryKeys.indexOf). */
interface Entry extends HistoryKey {
  /** The commit (HistoryKeys.startCommit's count) that last gave it an index. */
  commit: number;
  index: number;
}

/** Account -> region -> attribute -> value -> key. */
type Scopes = Map<string, Map<string, Map<string, Map<string, Entry>>>>;

/**
 * The Event history keys of the last commits. A group commit of 1,000 bench events holds ~7,000
 * history pairs and ~1,500 distinct keys; building each pair's text (`historyKeyText`, a
 * concatenation the Map then flattens) and hashing it again in every commit was buildPending's
 * cost, and the texts, kept by the pending rows until the merge, were most of what the writer
 * promoted to its old generation. Here a key's text and hash are made once and shared by every
 * pending row that has it; a pair is found by two Map lookups of the strings it already is (and
 * two per event for its account and region).
 * Bounded: past `maxKeys` entries the cache starts over (the pending rows keep the keys they use).
 */
export class HistoryKeys {
  private scopes: Scopes = new Map();
  private size = 0;
  private commit = 0;
  private keys: HistoryKey[] = [];
  private readonly hashBits: number;
  private readonly maxKeys: number;

  constructor(hashBits: number, maxKeys = 1 << 16) {
    this.hashBits = hashBits;
    this.maxKeys = maxKeys;
  }

  /** Starts the key list of a new commit (its keys are numbered from 0 in the order first met). */
  startCommit(): void {
    if (this.size > this.maxKeys) {
      this.scopes = new Map();
      this.size = 0;
    }
    this.commit++;
    this.keys = [];
  }

  /** The keys met since startCommit, in index order (what the pending row stores). */
  commitKeys(): HistoryKey[] {
    return this.keys;
  }

  /** The keys of (account, region), by attribute and value: what indexOf looks in. */
  scope(account: string, region: string): Map<string, Map<string, Entry>> {
    let regions = this.scopes.get(account);
    if (!regions) this.scopes.set(account, (regions = new Map()));
    let attrs = regions.get(region);
    if (!attrs) regions.set(region, (attrs = new Map()));
    return attrs;
  }

  /** The index in this commit's key list of the key (account, region, attr, value); `scope` is scope(account, region). */
  indexOf(scope: Map<string, Map<string, Entry>>, account: string, region: string, attr: string, value: string): number {
    let values = scope.get(attr);
    if (!values) scope.set(attr, (values = new Map()));
    let e = values.get(value);
    if (!e) {
      const text = historyKeyText(account, region, attr, value);
      e = { text, k: hashString(text, this.hashBits), commit: 0, index: 0 };
      values.set(value, e);
      this.size++;
    }
    if (e.commit !== this.commit) {
      e.commit = this.commit;
      e.index = this.keys.length;
      this.keys.push(e);
    }
    return e.index;
  }
}

/**
 * Id hash -> seqs of the pending rows' events: open addressing (linear probing) over two
 * Float64Arrays, slot from the hash's low 32 bits, at most half full, grown by doubling. Every
 * entry of one hash is on the probe path from that hash's slot, so seqsOf finds them all.
 */
export class PendingIds {
  private ks: Float64Array;
  /** 0 marks an empty slot (seqs start at 1). */
  private seqs: Float64Array;
  private mask: number;
  private count = 0;

  constructor(capacity = 1 << 12) {
    this.ks = new Float64Array(capacity);
    this.seqs = new Float64Array(capacity);
    this.mask = capacity - 1;
  }

  get size(): number {
    return this.count;
  }

  clear(): void {
    this.seqs.fill(0);
    this.count = 0;
  }

  add(k: number, seq: number): void {
    if (2 * (this.count + 1) > this.seqs.length) this.grow();
    let i = (k >>> 0) & this.mask;
    while (this.seqs[i] !== 0) i = (i + 1) & this.mask;
    this.ks[i] = k;
    this.seqs[i] = seq;
    this.count++;
  }

  /** The seqs added with hash k (oldest first is not promised). */
  seqsOf(k: number): number[] {
    const out: number[] = [];
    for (let i = (k >>> 0) & this.mask; this.seqs[i] !== 0; i = (i + 1) & this.mask) if (this.ks[i] === k) out.push(this.seqs[i]!);
    return out;
  }

  /** Calls `fn` with the hash of every entry (a hash added twice, twice). */
  forEachHash(fn: (k: number) => void): void {
    for (let i = 0; i < this.seqs.length; i++) if (this.seqs[i] !== 0) fn(this.ks[i]!);
  }

  private grow(): void {
    const ks = this.ks;
    const seqs = this.seqs;
    this.ks = new Float64Array(ks.length * 2);
    this.seqs = new Float64Array(seqs.length * 2);
    this.mask = this.seqs.length - 1;
    this.count = 0;
    for (let i = 0; i < seqs.length; i++) if (seqs[i] !== 0) this.add(ks[i]!, seqs[i]!);
  }
}

/** A Float64Array kept from one use to the next, grown by doubling: `push` fills it, `view` is what was pushed. */
export class GrowableFloat64 {
  private a = new Float64Array(1 << 12);
  length = 0;

  reset(): void {
    this.length = 0;
  }

  push3(x: number, y: number, z: number): void {
    if (this.length + 3 > this.a.length) {
      const bigger = new Float64Array(this.a.length * 2);
      bigger.set(this.a);
      this.a = bigger;
    }
    this.a[this.length] = x;
    this.a[this.length + 1] = y;
    this.a[this.length + 2] = z;
    this.length += 3;
  }

  /** What was pushed since reset (a view: valid until the next reset or push). */
  view(): Float64Array {
    return this.a.subarray(0, this.length);
  }
}
