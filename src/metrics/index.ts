export * from './auc.js';
export * from './means.js';
export * from './evaluate.js';
export * from './table.js';
