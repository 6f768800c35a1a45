import { describe, expect, test } from 'vitest';
import { LOCALES, allCatalogues, negotiateLocale, translator } from './index.js';

describe('i18n', () => {
  test('every catalogue has every key in every locale', () => {
    for (const catalogue of allCatalogues()) {
      const keys = new Set(LOCALES.flatMap((l) => Object.keys(catalogue[l])));
      for (const l of LOCALES) {
        const missing = [...keys].filter((k) => !(k in catalogue[l]));
        expect(missing, `missing in ${l}`).toEqual([]);
      }
    }
  });

  test('ui_locales wins over Accept-Language, which is ranked by q', () => {
    expect(negotiateLocale('fr de', 'en')).toBe('de');
    expect(negotiateLocale(undefined, 'fr;q=1, de-CH;q=0.8, en;q=0.5')).toBe('de');
    expect(negotiateLocale(undefined, 'en;q=0.1, de;q=0.9')).toBe('de');
    expect(negotiateLocale('xx', 'yy')).toBe('en');
    expect(negotiateLocale(null, null)).toBe('en');
  });

  test('parameters are substituted', () => {
    expect(translator('de')('login.lead', { client: 'App' })).toBe('um mit App fortzufahren');
    expect(translator('en')('no.such.key')).toBe('no.such.key');
  });
});
