export * from './packet/index.js';
