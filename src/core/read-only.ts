/**
 * Whether an API action only reads, judged by its name as AWS names actions. Used when a record
 * arrives without readOnly, and for the self-audit of our own API.
 */
const READ_PREFIXES = ['Get', 'List', 'Describe', 'Lookup', 'Head', 'Search', 'BatchGet', 'Query', 'Scan', 'Select', 'Check', 'Discover', 'Validate', 'Verify', 'Estimate', 'Preview', 'Test'];

export function isReadOnlyEventName(eventName: string): boolean {
  for (const p of READ_PREFIXES) {
    if (eventName.startsWith(p) && (eventName.length === p.length || /[A-Z0-9]/.test(eventName[p.length]!))) return true;
  }
  return false;
}
