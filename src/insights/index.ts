export * from './series.ts';
export * from './analysis.ts';
export * from './metric-data.ts';
