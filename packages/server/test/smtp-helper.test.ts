/** The SMTP test helper decodes what nodemailer really sends: encoded subjects, quoted-printable, multipart. */
import nodemailer from 'nodemailer';
import type { Transporter } from 'nodemailer';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { firstLink, startSmtp } from './helpers/smtp.js';
import type { TestSmtp } from './helpers/smtp.js';

let smtp: TestSmtp;
let transport: Transporter;
beforeAll(async () => {
  smtp = await startSmtp();
  transport = nodemailer.createTransport(smtp.url);
});
afterAll(async () => {
  transport?.close();
  await smtp?.close();
});

test('long folded UTF-8 subjects, quoted-printable bodies with soft line breaks, and links survive', async () => {
  const link = `http://127.0.0.1:1234/confirm-email?token=${'A'.repeat(43)}&x=ü`;
  const subject = 'Bestätigen Sie Ihre E-Mail-Adresse für Tessera – eine lange Betreffzeile, die umbrochen wird';
  await transport.sendMail({ from: 'a@b.test', to: 'Bob <Bob@Example.test>', subject, text: `Hallo Grüße,\n\n${link}\n\nDanke ${'x'.repeat(200)}` });
  const m = await smtp.waitFor((x) => x.subject.startsWith('Bestätigen'));
  expect(m.to).toBe('bob@example.test');
  expect(m.subject).toBe(subject);
  expect(m.text).toContain('Hallo Grüße');
  expect(m.text).toContain(`Danke ${'x'.repeat(200)}`);
  expect(firstLink(m.text, '/confirm-email')).toBe(link);
});

test('multipart messages give the text and HTML parts; waitFor times out with what arrived', async () => {
  await transport.sendMail({ from: 'a@b.test', to: 'c@b.test', subject: 'plain', text: 'hi', html: '<p>hi ä</p>' });
  const m = await smtp.waitFor((x) => x.to === 'c@b.test');
  expect(m.text).toBe('hi');
  expect(m.html).toBe('<p>hi ä</p>');
  await expect(smtp.waitFor(() => false, 100)).rejects.toThrow(/no matching mail within 100 ms; received: .*c@b.test: plain/);
});
