export { createBff } from './app.js';
export type { BffDeps } from './app.js';
export { loadBffConfig, BffConfigError } from './config.js';
export type { BffConfig } from './config.js';
export { MemorySessionStore } from './store.js';
export type { SessionStore, MemoryStoreOptions } from './store.js';
export { CSRF_HEADER } from './csrf.js';
export { cookieNames } from './cookies.js';
