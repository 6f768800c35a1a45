import type {
  KyselyPlugin, PluginTransformQueryArgs, PluginTransformResultArgs, QueryResult, RootOperationNode, UnknownRow,
} from 'kysely';

/**
 * Counts the SQL statements Tessera runs, by kind and table ("select clients"),
 * so the benchmark can say how many database round trips a request costs.
 * Attached with `db.withPlugin()`; it only increments a map entry per query.
 */
export class QueryCounter implements KyselyPlugin {
  readonly counts = new Map<string, number>();

  transformQuery(args: PluginTransformQueryArgs): RootOperationNode {
    const key = describe(args.node);
    this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
    return args.node;
  }

  async transformResult(args: PluginTransformResultArgs): Promise<QueryResult<UnknownRow>> {
    return args.result;
  }

  snapshot(): Map<string, number> {
    return new Map(this.counts);
  }

  /** Statements run since `before`, by kind and table. */
  since(before: Map<string, number>): Map<string, number> {
    const out = new Map<string, number>();
    for (const [k, v] of this.counts) {
      const d = v - (before.get(k) ?? 0);
      if (d > 0) out.set(k, d);
    }
    return out;
  }
}

/** Total statements in a delta map. */
export function totalQueries(delta: Map<string, number>): number {
  let n = 0;
  for (const v of delta.values()) n += v;
  return n;
}

type Node = { kind: string } & Record<string, unknown>;

function describe(node: RootOperationNode): string {
  const n = node as unknown as Node;
  const verb = n.kind.replace(/QueryNode$/, '').replace(/Node$/, '').toLowerCase();
  const target = n.kind === 'InsertQueryNode' ? n.into : n.kind === 'UpdateQueryNode' ? n.table : firstFrom(n.from);
  return `${verb} ${tableName(target) ?? '?'}`;
}

function firstFrom(from: unknown): unknown {
  return (from as { froms?: unknown[] } | undefined)?.froms?.[0];
}

function tableName(node: unknown): string | undefined {
  const t = node as { kind?: string; table?: { identifier?: { name?: string } } } | undefined;
  return t?.kind === 'TableNode' ? t.table?.identifier?.name : undefined;
}
