/**
 * Values kept for the rest of one engine request, keyed by the request's
 * context (`Provider.ctx`), each given once: what a statement read ahead of
 * the engine's next lookup (grant-prefetch.ts, account-prefetch.ts). Gone
 * with the context; nothing is kept outside a request.
 */
export interface KeptPerRequest<V> {
  keep(ctx: object | undefined, id: string, value: V): void;
  /** The value kept for `id` in this request, given once (`{ value }`); undefined when none is kept. */
  take(ctx: object | undefined, id: string): { value: V } | undefined;
  forget(ctx: object | undefined, id: string): void;
}

export function keptPerRequest<V>(): KeptPerRequest<V> {
  const kept = new WeakMap<object, Map<string, V>>();
  return {
    keep(ctx, id, value) {
      if (!ctx) return;
      let values = kept.get(ctx);
      if (!values) kept.set(ctx, (values = new Map()));
      values.set(id, value);
    },
    take(ctx, id) {
      const values = ctx && kept.get(ctx);
      if (!values?.has(id)) return undefined;
      const value = values.get(id) as V;
      values.delete(id);
      return { value };
    },
    forget(ctx, id) {
      if (ctx) kept.get(ctx)?.delete(id);
    },
  };
}
