/**
 * Authentication context class references Tessera publishes
 * (`acr_values_supported`). The password level is what a first-factor login
 * reaches; stronger levels are added by the MFA feature.
 */
export const ACR_PASSWORD = 'urn:tessera:acr:pwd';
export const ACR_VALUES = [ACR_PASSWORD];
