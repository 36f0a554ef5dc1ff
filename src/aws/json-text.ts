/**
 * An operation's answer already written as JSON text: the edge sends it as the body as it is,
 * instead of JSON.stringify of an output object (LookupEvents assembles its answer from stored
 * text so that no record is parsed and re-encoded per request). Made of parts (each a piece of
 * the text, in order), it is written into the answer's bytes part by part (`bytes()`), never
 * joined into one string first: a LookupEvents of 50 events allocated its ~80 KB answer twice,
 * once as the joined text and once as its bytes (docs/performance.md "Issue 11, fifth round:
 * lookups"). `text` joins the parts when asked (tests, callers in process).
 */
export class JsonText {
  private joined: string | undefined;
  private readonly parts: readonly string[];
  constructor(text: string | readonly string[]) {
    if (typeof text === 'string') {
      this.joined = text;
      this.parts = [text];
    } else {
      this.parts = text;
    }
  }

  get text(): string {
    return (this.joined ??= this.parts.join(''));
  }

  /** The text's UTF-8 bytes, in one Buffer written part by part. */
  bytes(): Buffer {
    if (this.joined !== undefined) return Buffer.from(this.joined);
    let length = 0;
    for (const p of this.parts) length += Buffer.byteLength(p);
    const out = Buffer.allocUnsafe(length);
    let at = 0;
    for (const p of this.parts) at += out.write(p, at);
    return out;
  }
}
