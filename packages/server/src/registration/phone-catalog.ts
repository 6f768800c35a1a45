import { registerCatalogue } from '../i18n/index.js';
import type { Catalogue } from '../i18n/index.js';

/** The phone step of registration (registration/phone-views.ts) and its mail. Codes and buttons reuse the account page's texts. */
export const phoneStepCatalogue: Catalogue = {
  en: {
    'registration.phone.title': 'Confirm your phone number',
    'registration.phone.lead': 'We sent a code by SMS to {phone}. Enter it to finish creating your account.',
    'registration.phone.lead_unsent': 'Your account needs a confirmed phone number ({phone}). Send yourself a code, then enter it below.',
    'registration.phone.send_failed': 'We could not send the SMS just now. Try "Send a new code" in a moment.',
    'registration.phone.email_pending': 'We also sent a link to {email}: open it to confirm your address.',
    'registration.phone.done_title': 'Phone number confirmed',
    'registration.phone.done_email_pending': 'Thank you. Now confirm your email address: open the link we sent to {email}.',
    'registration.phone.invalid_title': 'This step is not valid',
    'registration.phone.invalid': 'This link to confirm your phone number is not valid any more. If you created an account, ask for a new link by email.',
    'registration.phone.expired': 'This link to confirm your phone number has expired. Ask for a new one by email.',
    'registration.phone.used': 'Your phone number is already confirmed.',
    'mail.phone_step.subject': 'Confirm your phone number for {tenant}',
    'mail.phone_step.body': 'Your email address is confirmed. To finish creating your {tenant} account, confirm your phone number:\n\n{link}\n\nIf you did not create an account, you can ignore this message.',
  },
  de: {
    'registration.phone.title': 'Telefonnummer bestätigen',
    'registration.phone.lead': 'Wir haben Ihnen per SMS einen Code an {phone} gesendet. Geben Sie ihn ein, um Ihr Konto fertig einzurichten.',
    'registration.phone.lead_unsent': 'Ihr Konto braucht eine bestätigte Telefonnummer ({phone}). Senden Sie sich einen Code und geben Sie ihn unten ein.',
    'registration.phone.send_failed': 'Die SMS konnte gerade nicht gesendet werden. Versuchen Sie gleich „Neuen Code senden“.',
    'registration.phone.email_pending': 'Wir haben außerdem einen Link an {email} gesendet: Öffnen Sie ihn, um Ihre Adresse zu bestätigen.',
    'registration.phone.done_title': 'Telefonnummer bestätigt',
    'registration.phone.done_email_pending': 'Danke. Bestätigen Sie jetzt Ihre E-Mail-Adresse: Öffnen Sie den Link, den wir an {email} gesendet haben.',
    'registration.phone.invalid_title': 'Dieser Schritt ist nicht gültig',
    'registration.phone.invalid': 'Dieser Link zur Bestätigung Ihrer Telefonnummer ist nicht mehr gültig. Wenn Sie ein Konto angelegt haben, fordern Sie per E-Mail einen neuen Link an.',
    'registration.phone.expired': 'Dieser Link zur Bestätigung Ihrer Telefonnummer ist abgelaufen. Fordern Sie per E-Mail einen neuen an.',
    'registration.phone.used': 'Ihre Telefonnummer ist bereits bestätigt.',
    'mail.phone_step.subject': 'Bestätigen Sie Ihre Telefonnummer für {tenant}',
    'mail.phone_step.body': 'Ihre E-Mail-Adresse ist bestätigt. Um Ihr Konto bei {tenant} fertig einzurichten, bestätigen Sie Ihre Telefonnummer:\n\n{link}\n\nWenn Sie kein Konto angelegt haben, können Sie diese Nachricht ignorieren.',
  },
};

registerCatalogue(phoneStepCatalogue);
