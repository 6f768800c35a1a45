import type { Catalogue } from '../index.js';

/** Self-service account pages. */
export const account: Catalogue = {
  en: {
    'account.nav': 'Account',
    'account.tab.profile': 'Profile',
    'account.signout': 'Sign out',
    'account.title': 'Your account',
    'account.lead': 'You are signed in to Tessera.',
    'account.username': 'Username',
    'account.name': 'Name',
    'account.email': 'Email',
    'account.phone': 'Phone',
    'account.tenant': 'Tenant',
  },
  de: {
    'account.nav': 'Konto',
    'account.tab.profile': 'Profil',
    'account.signout': 'Abmelden',
    'account.title': 'Ihr Konto',
    'account.lead': 'Sie sind bei Tessera angemeldet.',
    'account.username': 'Benutzername',
    'account.name': 'Name',
    'account.email': 'E-Mail',
    'account.phone': 'Telefon',
    'account.tenant': 'Mandant',
  },
};
