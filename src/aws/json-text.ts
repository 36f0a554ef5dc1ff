/**
 * An operation's answer already written as JSON text: the edge sends `text` as the body as it is,
 * instead of JSON.stringify of an output object (LookupEvents assembles its answer from stored
 * text so that no record is parsed and re-encoded per request).
 */
export class JsonText {
  readonly text: string;
  constructor(text: string) {
    this.text = text;
  }
}
