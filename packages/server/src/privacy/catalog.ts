import { registerCatalogue } from '../i18n/index.js';
import type { Catalogue } from '../i18n/index.js';

/** The account page's data export (/account/data). */
export const privacyCatalogue: Catalogue = {
  en: {
    'privacy.tab': 'Your data',
    'privacy.title': 'Your data',
    'privacy.lead': 'Download a copy of the data we hold about you: your profile, attributes, links to other sign-in providers, memberships and roles, second factors (names and dates, never their secrets), sessions and devices, the applications you allowed, and the security log entries about you.',
    'privacy.format': 'The file is JSON (format tessera.user-export/1). It never contains your password or any other secret.',
    'privacy.step_up': 'For your protection, we ask you to sign in again if your last sign-in was more than {minutes} minutes ago.',
    'privacy.download': 'Download my data',
    'privacy.too_many': 'You downloaded your data several times in the last hour. Try again later.',
  },
  de: {
    'privacy.tab': 'Ihre Daten',
    'privacy.title': 'Ihre Daten',
    'privacy.lead': 'Laden Sie eine Kopie der Daten herunter, die wir über Sie speichern: Ihr Profil, Attribute, Verknüpfungen mit anderen Anmeldediensten, Mitgliedschaften und Rollen, zweite Faktoren (Namen und Daten, nie deren Geheimnisse), Sitzungen und Geräte, die Anwendungen, denen Sie Zugriff erlaubt haben, und die Einträge des Sicherheitsprotokolls über Sie.',
    'privacy.format': 'Die Datei ist JSON (Format tessera.user-export/1). Sie enthält nie Ihr Passwort oder ein anderes Geheimnis.',
    'privacy.step_up': 'Zu Ihrem Schutz bitten wir Sie, sich erneut anzumelden, wenn Ihre letzte Anmeldung länger als {minutes} Minuten zurückliegt.',
    'privacy.download': 'Meine Daten herunterladen',
    'privacy.too_many': 'Sie haben Ihre Daten in der letzten Stunde mehrmals heruntergeladen. Versuchen Sie es später erneut.',
  },
};

registerCatalogue(privacyCatalogue);
