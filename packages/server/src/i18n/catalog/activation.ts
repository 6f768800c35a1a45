import type { Catalogue } from '../index.js';

/** Activation: the "set your password" invitation for accounts created without one (docs/users.md#activation). */
export const activation: Catalogue = {
  en: {
    'activation.mail.subject': 'Set your password',
    'activation.mail.body': 'Hello {name},\n\nan account has been created for you ({account}). To start using it, choose a password here:\n\n{link}\n\nThe link works once and for {days} days. After setting your password you can also add a passkey to sign in without one.\n\nIf you did not expect this message, you can ignore it.',
    'activation.title': 'Set your password',
    'activation.lead': 'Choose a password for {account} to activate your account.',
    'activation.submit': 'Set password and activate',
    'activation.done.title': 'Your account is ready',
    'activation.done.lead': 'Your password is set. Sign in to continue.',
    'activation.done.signin': 'Sign in',
    'activation.done.passkey': 'Add a passkey',
    'activation.done.passkey_hint': 'A passkey signs you in with your device\'s screen lock instead of a password. Sign in once, then add one on the Security page.',
    'activation.invalid.title': 'This link cannot be used',
    'activation.invalid.invalid': 'This activation link is not valid. Make sure you opened the whole link.',
    'activation.invalid.expired': 'This activation link has expired. Ask your administrator for a new one.',
    'activation.invalid.used': 'This activation link has already been used. Sign in with the password you chose, or reset it.',
  },
  de: {
    'activation.mail.subject': 'Legen Sie Ihr Passwort fest',
    'activation.mail.body': 'Hallo {name},\n\nfür Sie wurde ein Konto angelegt ({account}). Um es zu nutzen, wählen Sie hier ein Passwort:\n\n{link}\n\nDer Link funktioniert einmal und {days} Tage lang. Nachdem Sie Ihr Passwort festgelegt haben, können Sie auch einen Passkey hinzufügen, um sich ohne Passwort anzumelden.\n\nWenn Sie diese Nachricht nicht erwartet haben, können Sie sie ignorieren.',
    'activation.title': 'Passwort festlegen',
    'activation.lead': 'Wählen Sie ein Passwort für {account}, um Ihr Konto zu aktivieren.',
    'activation.submit': 'Passwort festlegen und aktivieren',
    'activation.done.title': 'Ihr Konto ist bereit',
    'activation.done.lead': 'Ihr Passwort ist festgelegt. Melden Sie sich an, um fortzufahren.',
    'activation.done.signin': 'Anmelden',
    'activation.done.passkey': 'Passkey hinzufügen',
    'activation.done.passkey_hint': 'Mit einem Passkey melden Sie sich über die Bildschirmsperre Ihres Geräts statt mit einem Passwort an. Melden Sie sich einmal an und fügen Sie ihn auf der Seite „Sicherheit“ hinzu.',
    'activation.invalid.title': 'Dieser Link kann nicht verwendet werden',
    'activation.invalid.invalid': 'Dieser Aktivierungslink ist ungültig. Prüfen Sie, ob Sie den vollständigen Link geöffnet haben.',
    'activation.invalid.expired': 'Dieser Aktivierungslink ist abgelaufen. Bitten Sie Ihre Administration um einen neuen.',
    'activation.invalid.used': 'Dieser Aktivierungslink wurde bereits verwendet. Melden Sie sich mit dem gewählten Passwort an oder setzen Sie es zurück.',
  },
};
