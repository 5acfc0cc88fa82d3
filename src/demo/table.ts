/**
 * `kubectl get` output from a server-side Table (`Accept: application/json;as=Table;v=v1;g=meta.k8s.io`):
 * the server picks the columns (a CRD's additionalPrinterColumns) and formats ages, kubectl only lays
 * them out. Asking the API for the Table, as kubectl does, means the demo prints exactly what a user's
 * `kubectl get backups` shows.
 */

/** One column of a meta.k8s.io/v1 Table. */
export interface TableColumn {
  name: string;
  type?: string;
  priority?: number;
}

/** The part of a meta.k8s.io/v1 Table that kubectl prints. */
export interface Table {
  kind: 'Table';
  columnDefinitions: TableColumn[];
  rows: { cells: unknown[] }[];
}

/** The Accept header kubectl sends for `get`. */
export const TABLE_ACCEPT = 'application/json;as=Table;v=v1;g=meta.k8s.io,application/json';

/** Lays a Table out as `kubectl get` does: priority-0 columns, upper-case headers, 3 spaces apart. */
export function renderTable(table: Table): string[] {
  if (table.rows.length === 0) return ['No resources found.'];
  const shown = table.columnDefinitions.map((c, i) => ({ c, i })).filter(({ c }) => (c.priority ?? 0) === 0);
  const rows = [
    shown.map(({ c }) => c.name.toUpperCase()),
    ...table.rows.map((r) => shown.map(({ i }) => cellText(r.cells[i]))),
  ];
  const widths = shown.map((_, col) => Math.max(...rows.map((r) => r[col].length)));
  return rows.map((r) =>
    r
      .map((v, col) => (col === r.length - 1 ? v : v.padEnd(widths[col] + 3)))
      .join('')
      .trimEnd(),
  );
}

function cellText(v: unknown): string {
  if (v === undefined || v === null) return '<none>';
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v as string | number | boolean);
}
