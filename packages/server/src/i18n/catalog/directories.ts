import type { Catalogue } from '../index.js';

/** Sign-in through an enterprise directory (docs/directories.md). */
export const directories: Catalogue = {
  en: {
    'directory.unavailable': 'Your organization\'s directory is unavailable right now, so we cannot check your password. Try again in a few minutes.',
    'directory.password_expired': 'Your password has expired. Change it with your organization (for example at a company computer or its password portal), then sign in again.',
    'directory.account_disabled': 'Your account is disabled in your organization\'s directory. Contact your administrator.',
  },
  de: {
    'directory.unavailable': 'Das Verzeichnis Ihrer Organisation ist gerade nicht erreichbar, daher können wir Ihr Passwort nicht prüfen. Versuchen Sie es in einigen Minuten erneut.',
    'directory.password_expired': 'Ihr Passwort ist abgelaufen. Ändern Sie es bei Ihrer Organisation (zum Beispiel an einem Firmenrechner oder im Passwortportal) und melden Sie sich dann erneut an.',
    'directory.account_disabled': 'Ihr Konto ist im Verzeichnis Ihrer Organisation deaktiviert. Wenden Sie sich an Ihre Administration.',
  },
};
