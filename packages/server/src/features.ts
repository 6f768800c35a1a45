import type { Feature } from './platform.js';
import { registerAccountRoutes } from './account/routes.js';

/**
 * The features the platform serves, in registration order. Each feature owns
 * its folder (service, routes, views, catalogue) and adds itself here.
 */
export const FEATURES: Feature[] = [
  (app, p) => registerAccountRoutes(app, { sessions: p.accountSessions }),
];
