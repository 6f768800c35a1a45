/**
 * Personal data in audit entries, kept where it can be erased (issue 14,
 * GDPR Art. 17): an entry's `details` name personal data only under these
 * keys, so anonymizing or deleting a user removes them from every earlier
 * entry about or by that user, and the trail (action, actor id, subject id,
 * time, the names of changed fields) stays. IP addresses and user agents
 * live in their own columns and are cleared too.
 */
export const PERSONAL_KEYS = new Set([
  'username', 'email', 'new_email', 'old_email', 'previous_email', 'given_name', 'family_name', 'name', 'phone', 'phone_number',
  'login', 'identifier', 'display_name', 'profile', 'user', 'subject',
]);

/** A copy of `value` without personal keys (at any depth); `changed` says whether anything went. */
export function redactPersonal(value: unknown): { value: unknown; changed: boolean } {
  if (Array.isArray(value)) {
    let changed = false;
    const out = value.map((v) => {
      const r = redactPersonal(v);
      changed ||= r.changed;
      return r.value;
    });
    return { value: out, changed };
  }
  if (value && typeof value === 'object') {
    let changed = false;
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      if (PERSONAL_KEYS.has(k)) {
        changed = true;
        continue;
      }
      const r = redactPersonal(v);
      changed ||= r.changed;
      out[k] = r.value;
    }
    return { value: out, changed };
  }
  return { value, changed: false };
}
