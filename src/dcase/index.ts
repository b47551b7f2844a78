export * from './years.js';
export * from './filename.js';
