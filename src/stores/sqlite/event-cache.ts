/**
 * The reader's cache of the events lookups met (event-reader.ts), kept off the V8 heap: every
 * event's record and summary as UTF-8 bytes in one slab allocated once, written as a ring, with
 * a small object per event (its header fields and where its bytes are) in a Map in the order
 * they were written. The oldest events leave as the ring comes round over them (first in, first
 * out: a hit does not move an event).
 *
 * Why not strings: the cache held each event's record as a string (16 MiB of them), so every
 * lookup that met new events promoted ~1.7 KB per event into the main thread's old generation,
 * and every event evicted left as much garbage there, collected only at the next mark-compact:
 * serving scattered lookups at 10M, the old generation grew by 100-150 KiB a lookup between two
 * collections, and the process's RSS went past 512 MiB (docs/performance.md "Issue 11, fifth
 * round: lookups"). Here an event costs the old generation ~250 bytes (its small object), the
 * slab's bytes are reused in place, and a hit makes its record a young string that dies with the
 * answer.
 */
import type { BlockEvent } from './event-format.ts';

/** Where one cached event is: its header fields, its bytes' position in the ring. */
interface Slot {
  /** First seq of the event's block (prune check). */
  first: number;
  accountId: string;
  region: string;
  eventId: string;
  eventTimeSec: number;
  inHistory: boolean;
  /** Virtual position of its bytes (grows forever; the slab offset is pos % capacity). */
  pos: number;
  jsonBytes: number;
  /** Bytes of the summary after the record's, -1 when the event has none. */
  summaryBytes: number;
}

/** A cached event, as a lookup reads it (record and summary made strings from the slab). */
export interface CachedEvent extends BlockEvent {
  first: number;
}

export class EventCache {
  private readonly slab: Buffer;
  private readonly slots = new Map<number, Slot>();
  /**
   * The cached seqs in the order they were written (oldest from `orderHead`), for eviction. Not
   * the Map's own order: V8 leaves a deleted Map entry as a hole until the table is rebuilt, and a
   * loop from the Map's start skipped every hole the evictions left, thousands per put at 10k
   * events cached (8 µs a put, measured; 0.2-0.4 ms of a scattered lookup's CPU).
   */
  private order: number[] = [];
  private orderHead = 0;
  /** Virtual position where the next event's bytes go. */
  private head = 0;

  /** `capacityBytes`: the slab (records and summaries); an event larger than a quarter of it is not kept. */
  constructor(capacityBytes: number) {
    // Not zero-filled: its pages count in the RSS only once the ring has written them, and no
    // byte is ever read that was not written.
    this.slab = Buffer.allocUnsafeSlow(Math.max(64 * 1024, capacityBytes));
  }

  get size(): number {
    return this.slots.size;
  }

  get capacity(): number {
    return this.slab.length;
  }

  /** The event with this seq, its strings made from the slab; undefined when not kept. */
  get(seq: number): CachedEvent | undefined {
    const s = this.slots.get(seq);
    if (!s) return undefined;
    const at = s.pos % this.slab.length;
    const json = this.slab.toString('utf8', at, at + s.jsonBytes);
    const summary = s.summaryBytes < 0 ? undefined : this.slab.toString('utf8', at + s.jsonBytes, at + s.jsonBytes + s.summaryBytes);
    return { first: s.first, seq, accountId: s.accountId, region: s.region, eventId: s.eventId, eventTimeSec: s.eventTimeSec, inHistory: s.inHistory, json, summary };
  }

  /** Keeps the event (`jsonBytes`: its record's UTF-8 bytes, when the caller has them, else its json is encoded). */
  put(first: number, e: BlockEvent, jsonBytes?: Uint8Array): void {
    if (this.slots.has(e.seq)) return;
    const cap = this.slab.length;
    const jsonLen = jsonBytes ? jsonBytes.length : Buffer.byteLength(e.json);
    const sumLen = e.summary === undefined ? -1 : Buffer.byteLength(e.summary);
    const need = jsonLen + Math.max(0, sumLen);
    if (need > cap / 4) return;
    let pos = this.head;
    // An event never straddles the slab's end: it starts the next lap instead.
    if ((pos % cap) + need > cap) pos += cap - (pos % cap);
    // Events whose bytes the new ones overwrite are the oldest (written less than a lap before).
    const floor = pos + need - cap;
    while (this.orderHead < this.order.length) {
      const seq = this.order[this.orderHead]!;
      if (this.slots.get(seq)!.pos >= floor) break;
      this.slots.delete(seq);
      this.orderHead++;
    }
    if (this.orderHead > 4096 && this.orderHead * 2 > this.order.length) {
      this.order = this.order.slice(this.orderHead);
      this.orderHead = 0;
    }
    const at = pos % cap;
    if (jsonBytes) this.slab.set(jsonBytes, at);
    else this.slab.write(e.json, at, jsonLen, 'utf8');
    if (sumLen > 0) this.slab.write(e.summary!, at + jsonLen, sumLen, 'utf8');
    this.order.push(e.seq);
    this.slots.set(e.seq, { first, accountId: e.accountId, region: e.region, eventId: e.eventId, eventTimeSec: e.eventTimeSec, inHistory: e.inHistory, pos, jsonBytes: jsonLen, summaryBytes: sumLen });
    this.head = pos + need;
  }
}
