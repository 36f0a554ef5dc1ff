export type * from './event-store.ts';
export type * from './control-store.ts';
export type * from './object-store.ts';
export type * from './delivery-targets.ts';
export type * from './key-service.ts';
export { NeighbourUnavailableError, ObjectStoreError } from './object-store.ts';
export { DeliveryTargetError } from './delivery-targets.ts';
export { StoreUnavailableError } from './errors.ts';
export { KeyServiceError } from './key-service.ts';
