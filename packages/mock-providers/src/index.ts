/**
 * Mock identity providers for development and tests (docs/mock-providers.md). Never for production:
 * startMockProviders refuses NODE_ENV=production.
 */
export {
  startMockProviders, ProductionRefusedError, DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET,
  type MockOptions, type MockProviders, type MockEndpoints, type MockClient,
} from './server.js';
export {
  MOCK_NAMES, DEFAULT_PERSONAS, DEFAULT_LOCAL_EMAIL, PersonaError, resolvePersonas,
  type MockName, type Persona, type PersonaInput,
} from './personas.js';
export { SCENARIOS, SCENARIO_HELP, scenariosFor, type Scenario, type SignIn } from './scenarios.js';
export { loadMockFile } from './config-file.js';
export { runMockProvidersCli } from './cli.js';
export { LDAP_SCENARIOS, LDAP_SCENARIO_HELP, type LdapScenario, type MockDirectory } from './ldap.js';
export { type MockSamlIdp, type SamlServiceProvider, type SamlSignIn } from './saml.js';
export { SAML_SCENARIOS, SAML_SCENARIO_HELP, type SamlScenario } from './saml-xml.js';
