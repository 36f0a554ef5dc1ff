/**
 * Event selectors of a trail (spec 3.3, 3.4), by concept: the wire shapes and defaults (shapes.ts),
 * their validation for PutEventSelectors (validate.ts), and matching them against events (match.ts).
 */
export {
  DEFAULT_EVENT_SELECTORS, defaultEventSelectors,
  type AdvancedEventSelector, type AdvancedFieldSelector, type DataResource, type EventSelector, type ReadWriteType, type TrailSelectors,
} from './shapes.ts';
export * from './validate.ts';
export * from './match.ts';
