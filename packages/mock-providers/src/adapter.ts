import type { Adapter, AdapterPayload, ClientMetadata } from 'oidc-provider';

/**
 * In-memory storage for one mock (oidc-provider's own MemoryAdapter keeps one store per process,
 * shared by every provider; each mock gets its own here). Clients come from the mock's registry,
 * so tests can register a redirect URI after Tessera has started on an ephemeral port.
 */
export class ClientRegistry {
  readonly #clients = new Map<string, ClientMetadata>();

  set(client: ClientMetadata): void {
    this.#clients.set(client.client_id, structuredClone(client));
  }

  get(id: string): ClientMetadata | undefined {
    const c = this.#clients.get(id);
    return c ? structuredClone(c) : undefined;
  }

  list(): ClientMetadata[] {
    return [...this.#clients.values()].map((c) => structuredClone(c));
  }
}

interface Entry { payload: AdapterPayload; expiresAt?: number }

export function adapterFactory(clients: ClientRegistry): new (name: string) => Adapter {
  const stores = new Map<string, Map<string, Entry>>();
  const grants = new Map<string, Set<string>>();
  const storeFor = (name: string) => {
    let s = stores.get(name);
    if (!s) stores.set(name, (s = new Map()));
    return s;
  };

  return class MockAdapter implements Adapter {
    readonly #name: string;
    readonly #store: Map<string, Entry>;

    constructor(name: string) {
      this.#name = name;
      this.#store = storeFor(name);
    }

    async upsert(id: string, payload: AdapterPayload, expiresIn: number): Promise<void> {
      // A development server runs for days: drop expired entries now and then.
      if (this.#store.size > 5000) {
        const now = Date.now();
        for (const [k, e] of this.#store) if (e.expiresAt !== undefined && e.expiresAt <= now) this.#store.delete(k);
      }
      this.#store.set(id, { payload, expiresAt: expiresIn ? Date.now() + expiresIn * 1000 : undefined });
      if (payload.grantId) {
        let g = grants.get(payload.grantId);
        if (!g) grants.set(payload.grantId, (g = new Set()));
        g.add(`${this.#name}:${id}`);
      }
    }

    async find(id: string): Promise<AdapterPayload | undefined> {
      if (this.#name === 'Client') return clients.get(id) as AdapterPayload | undefined;
      const e = this.#store.get(id);
      if (!e) return undefined;
      if (e.expiresAt !== undefined && e.expiresAt <= Date.now()) {
        this.#store.delete(id);
        return undefined;
      }
      return e.payload;
    }

    async findByUserCode(userCode: string): Promise<AdapterPayload | undefined> {
      for (const [id, e] of this.#store) if (e.payload.userCode === userCode) return this.find(id);
      return undefined;
    }

    async findByUid(uid: string): Promise<AdapterPayload | undefined> {
      for (const [id, e] of this.#store) if (e.payload.uid === uid) return this.find(id);
      return undefined;
    }

    async consume(id: string): Promise<void> {
      const e = this.#store.get(id);
      if (e) e.payload.consumed = Math.floor(Date.now() / 1000);
    }

    async destroy(id: string): Promise<void> {
      this.#store.delete(id);
    }

    async revokeByGrantId(grantId: string): Promise<void> {
      for (const key of grants.get(grantId) ?? []) {
        const [model, ...rest] = key.split(':');
        stores.get(model!)?.delete(rest.join(':'));
      }
      grants.delete(grantId);
    }
  };
}
