/**
 * core keeps its own declarations of a few CloudTrail shapes (core imports nothing of src/): the
 * selectors and tags a trail stores, and the Event history entry. They must stay the model's: this
 * file fails to type-check the day they differ from the generated types (src/aws/protocol/generated).
 */
import type { AdvancedEventSelector, EventSelector, HistoryEntry, InsightSelector, Tag } from '../../core/index.ts';
import type * as Model from '../../aws/protocol/index.ts';

type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : never) : never;
type Fits<A, B> = [A] extends [B] ? true : never;

export const CORE_SHAPES_ARE_THE_MODELS: [
  Same<EventSelector, Model.EventSelector>, Same<AdvancedEventSelector, Model.AdvancedEventSelector>, Same<InsightSelector, Model.InsightSelector>,
  Same<Tag, Model.Tag>, Fits<HistoryEntry, Model.Event>,
] = [true, true, true, true, true];
