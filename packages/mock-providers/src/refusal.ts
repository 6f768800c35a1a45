/** One line, for the CLI and the error thrown by startMockProviders. */
export const PRODUCTION_REFUSAL = 'mock identity providers are a development tool: refusing to start with NODE_ENV=production';
