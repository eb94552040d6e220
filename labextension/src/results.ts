/**
 * The results of `nbgraph results --format json` as a sortable table, and one small bar
 * chart across variants for each numeric result.
 */
import { IResultRow } from './api';

export function formatValue(value: unknown): string {
  if (typeof value === 'number') {
    if (Number.isInteger(value)) {
      return String(value);
    }
    const abs = Math.abs(value);
    if (abs !== 0 && (abs >= 1e6 || abs < 1e-3)) {
      return value.toExponential(3);
    }
    return String(Number(value.toPrecision(4)));
  }
  if (value === null || value === undefined) {
    return '';
  }
  return typeof value === 'string' ? value : JSON.stringify(value);
}

function valuesOf(row: IResultRow): Record<string, unknown> {
  return { ...(row.inherited || {}), ...(row.results || {}) };
}

function columns(rows: IResultRow[]): { params: string[]; results: string[] } {
  const params: string[] = [];
  const results: string[] = [];
  for (const row of rows) {
    for (const k of Object.keys(row.params || {})) {
      if (!params.includes(k)) {
        params.push(k);
      }
    }
    for (const k of Object.keys(valuesOf(row))) {
      if (!results.includes(k)) {
        results.push(k);
      }
    }
  }
  return { params, results };
}

function cell(row: IResultRow, column: string, isParam: boolean): unknown {
  return column === 'variant' ? row.name : column === 'node' ? row.node : isParam ? (row.params || {})[column] : valuesOf(row)[column];
}

function compare(a: unknown, b: unknown): number {
  if (typeof a === 'number' && typeof b === 'number') {
    return a - b;
  }
  if (a === undefined || a === null) {
    return 1;
  }
  if (b === undefined || b === null) {
    return -1;
  }
  return formatValue(a).localeCompare(formatValue(b));
}

/** The table; clicking a header sorts by it (again: the other way). */
export class ResultsTable {
  readonly node = document.createElement('div');
  private rows: IResultRow[] = [];
  private sortKey = 'variant';
  private descending = false;

  constructor() {
    this.node.className = 'jp-nbgraph-results';
  }

  update(rows: IResultRow[]): void {
    this.rows = rows;
    this.render();
  }

  sortBy(key: string): void {
    this.descending = this.sortKey === key ? !this.descending : false;
    this.sortKey = key;
    this.render();
  }

  private render(): void {
    this.node.textContent = '';
    if (!this.rows.length) {
      this.node.textContent = 'No results recorded yet (nbgraph.record(name, value) in a notebook records one).';
      return;
    }
    const { params, results } = columns(this.rows);
    const heads: [string, boolean][] = [['node', false], ...params.map(p => [p, true] as [string, boolean]), ...results.map(r => [r, false] as [string, boolean])];
    const table = document.createElement('table');
    table.className = 'jp-nbgraph-table';
    const tr = table.createTHead().insertRow();
    for (const [key] of heads) {
      const th = document.createElement('th');
      th.textContent = key + (key === this.sortKey ? (this.descending ? ' ▼' : ' ▲') : '');
      th.dataset.nbgraphSort = key;
      th.addEventListener('click', () => this.sortBy(key));
      tr.appendChild(th);
    }
    const isParam = params.includes(this.sortKey) && !results.includes(this.sortKey);
    const sorted = [...this.rows].sort((a, b) => compare(cell(a, this.sortKey, isParam), cell(b, this.sortKey, isParam)) * (this.descending ? -1 : 1));
    const body = table.createTBody();
    for (const row of sorted) {
      const r = body.insertRow();
      r.dataset.nbgraphResult = row.name;
      r.title = row.name;
      for (const [key, param] of heads) {
        const td = r.insertCell();
        const value = cell(row, key, param);
        td.textContent = formatValue(value);
        if (typeof value === 'number') {
          td.className = 'jp-nbgraph-num';
        }
      }
    }
    const scroll = document.createElement('div');
    scroll.className = 'jp-nbgraph-table-scroll';
    scroll.appendChild(table);
    this.node.appendChild(scroll);
    for (const key of results) {
      if (this.rows.some(row => typeof valuesOf(row)[key] === 'number')) {
        this.node.appendChild(chart(key, sorted));
      }
    }
  }
}

const SVG = 'http://www.w3.org/2000/svg';

/** Horizontal bars, one per variant that recorded `key` as a number. */
function chart(key: string, rows: IResultRow[]): HTMLElement {
  const numeric = rows.filter(r => typeof valuesOf(r)[key] === 'number');
  const label_ = labeller(numeric);
  const points = numeric.map(r => [r.name, valuesOf(r)[key] as number, label_(r)] as [string, number, string]);
  const box = document.createElement('div');
  box.className = 'jp-nbgraph-chart';
  box.dataset.nbgraphChart = key;
  const title = document.createElement('div');
  title.className = 'jp-nbgraph-chart-title';
  title.textContent = key;
  box.appendChild(title);
  const lo = Math.min(0, ...points.map(p => p[1]));
  const hi = Math.max(0, ...points.map(p => p[1]));
  const span = hi - lo || 1;
  const bar = 12;
  const width = 300;
  const label = 120;
  const svg = document.createElementNS(SVG, 'svg');
  svg.setAttribute('viewBox', `0 0 ${width} ${points.length * (bar + 3) + 2}`);
  svg.setAttribute('width', '100%');
  points.forEach(([name, value, text], i) => {
    const y = i * (bar + 3) + 1;
    const x0 = label + ((Math.min(0, value) - lo) / span) * (width - label - 50);
    const w = Math.max(1, (Math.abs(value) / span) * (width - label - 50));
    const rect = document.createElementNS(SVG, 'rect');
    Object.entries({ x: x0, y, width: w, height: bar, fill: '#5c8dd6' }).forEach(([k, v]) => rect.setAttribute(k, String(v)));
    const t = document.createElementNS(SVG, 'title');
    t.textContent = `${name}: ${formatValue(value)}`;
    rect.appendChild(t);
    const name_ = document.createElementNS(SVG, 'text');
    Object.entries({ x: label - 4, y: y + bar - 2, 'text-anchor': 'end', class: 'jp-nbgraph-chart-label' }).forEach(([k, v]) => name_.setAttribute(k, String(v)));
    name_.textContent = text;
    const num = document.createElementNS(SVG, 'text');
    Object.entries({ x: x0 + w + 3, y: y + bar - 2, class: 'jp-nbgraph-chart-label' }).forEach(([k, v]) => num.setAttribute(k, String(v)));
    num.textContent = formatValue(value);
    svg.append(rect, name_, num);
  });
  box.appendChild(svg);
  return box;
}

/** A row's label in a chart: the values of the parameters that differ between the rows, else its name. */
function labeller(rows: IResultRow[]): (row: IResultRow) => string {
  const keys = columns(rows).params.filter(k => new Set(rows.map(r => formatValue((r.params || {})[k]))).size > 1);
  return row => {
    const text = keys.length ? keys.map(k => formatValue((row.params || {})[k])).join(' · ') : row.name;
    return text.length <= 26 ? text : text.slice(0, 25) + '…';
  };
}
