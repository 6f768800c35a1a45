import type { Feature } from './platform.js';
import { registerRecovery } from './recovery/routes.js';
import { registerAccountRoutes } from './account/routes.js';
import { registerSelfService } from './account/feature.js';
import { registrationFeature } from './registration/routes.js';
import { outboxFeature } from './notify/routes.js';

/**
 * The features the platform serves, in registration order. Each feature owns
 * its folder (service, routes, views, catalogue) and adds itself here.
 */
export const FEATURES: Feature[] = [
  (app, p) => registerAccountRoutes(app, { sessions: p.accountSessions }),
  (app, p) => registerSelfService(app, p),
  (app, p) => registerRecovery(app, p),
  registrationFeature,
  outboxFeature,
];
