import { randomUUID } from 'node:crypto';
import { ownTenant } from '@tessera/backend';
import type { Caller } from '@tessera/backend';

/**
 * The orders domain of the shell demo (examples/shell): each tenant sees a
 * small, fixed set of orders (made on first use, so nothing needs seeding),
 * and payouts on them. Pure logic; server.ts decides who may call what.
 */

export interface Order {
  id: string;
  tenant: string;
  customer: string;
  total: number;
  status: 'open' | 'shipped' | 'delivered';
  history: Array<{ at: string; event: string }>;
}

export interface Payout {
  id: string;
  tenant: string;
  order: string;
  amount: number;
  /** The user who made it (`sub`). */
  by: string;
  at: string;
}

const CUSTOMERS = ['Ada Lovelace', 'Grace Hopper', 'Alan Turing', 'Edsger Dijkstra', 'Barbara Liskov', 'Donald Knuth',
  'Frances Allen', 'Ken Thompson', 'Margaret Hamilton', 'John Backus', 'Radia Perlman', 'Tony Hoare'];
const STATUSES: Order['status'][] = ['open', 'shipped', 'delivered'];

export class OrderService {
  private readonly orders = new Map<string, Map<string, Order>>();
  private readonly payouts: Payout[] = [];

  /** The caller's tenant's orders. */
  list(caller: Caller): Order[] {
    return [...this.ofTenant(caller.tenant).values()];
  }

  /** One order of the caller's tenant, or undefined (another tenant's is as unknown as a missing one). */
  get(caller: Caller, id: string): Order | undefined {
    return ownTenant(caller, this.ofTenant(caller.tenant).get(id));
  }

  /** Records a payout on one of the caller's tenant's orders; undefined when the order is not theirs. */
  payout(caller: Caller, input: { order: string; amount: number }): Payout | undefined {
    const order = this.get(caller, input.order);
    if (!order) return undefined;
    const payout: Payout = { id: randomUUID(), tenant: caller.tenant, order: order.id, amount: input.amount, by: caller.sub, at: new Date().toISOString() };
    this.payouts.push(payout);
    order.history.push({ at: payout.at, event: `payout of ${input.amount.toFixed(2)}` });
    return payout;
  }

  private ofTenant(tenant: string): Map<string, Order> {
    let orders = this.orders.get(tenant);
    if (!orders) {
      orders = new Map(CUSTOMERS.map((customer, i) => {
        const id = String(i + 1);
        const status = STATUSES[i % STATUSES.length]!;
        return [id, {
          id, tenant, customer, total: 20 + i * 7.5, status,
          history: [{ at: '2026-11-01T09:00:00.000Z', event: 'ordered' }, ...(status !== 'open' ? [{ at: '2026-11-02T15:30:00.000Z', event: 'shipped' }] : [])],
        }];
      }));
      this.orders.set(tenant, orders);
    }
    return orders;
  }
}
