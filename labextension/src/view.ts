/**
 * DOM for the panel's parts: the run line, the per-node variant lists, buttons.  Pure
 * functions of the data; the panel (panel.ts) owns state, polling and actions.
 */
import { IGraphNode, IRun, IStatusRow } from './api';
import { formatValue } from './results';
import { worst } from './graph';

/** What the panel can be asked to do from an element it drew. */
export interface IActions {
  runNode(node: string, force: boolean): void;
  openVariant(variant: string): void;
  openLog(variant: string): void;
  newFromVariant(variant: string): void;
  toggle(node: string, open: boolean): void;
}

export function h<K extends keyof HTMLElementTagNameMap>(tag: K, cls: string, text?: string): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  if (cls) {
    node.className = cls;
  }
  if (text !== undefined) {
    node.textContent = text;
  }
  return node;
}

export function button(label: string, action: string, onClick: () => void, title = ''): HTMLButtonElement {
  const b = h('button', 'jp-nbgraph-button', label);
  b.dataset.nbgraphAction = action;
  b.title = title || label;
  b.addEventListener('click', e => {
    e.stopPropagation();
    onClick();
  });
  return b;
}

/** A variant's status as the panel shows it: the live run's word first, then its record, stale on top. */
export function variantStatus(row: IStatusRow, live: Record<string, string>): string {
  if (live[row.name] === 'running') {
    return 'running';
  }
  if (row.status === 'succeeded' && row.stale) {
    return 'stale';
  }
  return row.status || 'pending';
}

export function nodeStatus(node: string, rows: IStatusRow[], live: Record<string, string>): string {
  return worst(rows.filter(r => r.node === node).map(r => variantStatus(r, live)));
}

export function nodeCaption(node: string, rows: IStatusRow[], live: Record<string, string>): string {
  const mine = rows.filter(r => r.node === node);
  const counts: Record<string, number> = {};
  for (const r of mine) {
    const s = variantStatus(r, live);
    counts[s] = (counts[s] || 0) + 1;
  }
  const n = `${mine.length} variant${mine.length === 1 ? '' : 's'}`;
  const parts = ['running', 'failed', 'skipped', 'pending', 'stale'].filter(s => counts[s]).map(s => `${counts[s]} ${s}`);
  return parts.length ? `${n} · ${parts.join(', ')}` : `${n} · succeeded`;
}

export function runLine(run: IRun): HTMLElement {
  const line = h('div', `jp-nbgraph-run jp-nbgraph-run-${run.state}`);
  line.dataset.nbgraphRun = run.state;
  const c = run.counts;
  const done = (c.succeeded || 0) + (c.failed || 0) + (c.skipped || 0);
  const total = run.total === null ? '?' : String(run.total);
  const what = run.state === 'running'
    ? `running: ${done} of ${total} done, ${c.running || 0} running`
    : `${run.state}: ${c.succeeded || 0} succeeded, ${c.failed || 0} failed, ${c.skipped || 0} skipped`;
  line.appendChild(h('div', '', what));
  for (const failure of run.failures || []) {
    line.appendChild(h('div', 'jp-nbgraph-failure', failure));
  }
  if (run.message && !(run.failures || []).includes(run.message)) {
    line.appendChild(h('div', 'jp-nbgraph-failure', run.message));
  }
  return line;
}

function variantItem(row: IStatusRow, live: Record<string, string>, actions: IActions, hasParents: boolean): HTMLElement {
  const status = variantStatus(row, live);
  const item = h('div', 'jp-nbgraph-variant');
  item.dataset.nbgraphVariant = row.name;
  item.dataset.nbgraphStatus = status;
  const head = h('div', 'jp-nbgraph-variant-head');
  const name = h('a', 'jp-nbgraph-variant-name', row.name);
  name.dataset.nbgraphAction = 'open';
  name.title = row.output ? 'Open its executed notebook (a copy: the build is never changed)' : 'Not run yet';
  name.addEventListener('click', () => actions.openVariant(row.name));
  head.append(h('span', `jp-nbgraph-badge jp-nbgraph-badge-${status}`, status), name);
  item.appendChild(head);
  const facts: string[] = [];
  facts.push(row.stale ? `runs: ${row.reason}` : 'up to date');
  if (row.duration !== null && row.duration !== undefined) {
    facts.push(`${row.duration.toFixed(1)} s`);
  }
  const results = Object.entries(row.results || {}).map(([k, v]) => `${k}=${formatValue(v)}`);
  item.appendChild(h('div', 'jp-nbgraph-variant-facts', facts.join(' · ')));
  if (results.length) {
    item.appendChild(h('div', 'jp-nbgraph-variant-results', results.join('  ')));
  }
  if (row.error && (row.status === 'failed' || row.status === 'skipped')) {
    item.appendChild(h('div', row.status === 'failed' ? 'jp-nbgraph-failure' : 'jp-nbgraph-skip', row.error));
  }
  const tools = h('div', 'jp-nbgraph-variant-tools');
  if (row.output) {
    tools.appendChild(button('Log', 'log', () => actions.openLog(row.name), 'Open its log'));
  }
  if (hasParents) {
    tools.appendChild(button('New notebook from this variant', 'new-from-variant', () => actions.newFromVariant(row.name),
      'A new notebook beside this node\'s, starting from the state this variant started from'));
  }
  item.appendChild(tools);
  return item;
}

/** One expandable section per node: Run node / Force, then its variants. */
export function nodeList(nodes: IGraphNode[], rows: IStatusRow[], live: Record<string, string>, expanded: Set<string>,
  running: boolean, actions: IActions): HTMLElement {
  const list = h('div', 'jp-nbgraph-nodes');
  for (const node of nodes) {
    const section = h('details', 'jp-nbgraph-node-item');
    section.dataset.nbgraphNodeItem = node.name;
    section.open = expanded.has(node.name);
    section.addEventListener('toggle', () => actions.toggle(node.name, section.open));
    const summary = h('summary', 'jp-nbgraph-node-summary');
    const status = nodeStatus(node.name, rows, live);
    summary.append(h('span', `jp-nbgraph-badge jp-nbgraph-badge-${status}`, status), h('b', '', ` ${node.name} `),
      h('span', 'jp-nbgraph-dim', nodeCaption(node.name, rows, live)));
    const runNode = button('Run node', 'run-node', () => actions.runNode(node.name, false), `Run what is stale in ${node.name}`);
    const force = button('Force', 'force-node', () => actions.runNode(node.name, true), `Re-run every variant of ${node.name}`);
    runNode.disabled = force.disabled = running;
    summary.append(runNode, force);
    section.appendChild(summary);
    section.appendChild(h('div', 'jp-nbgraph-dim', node.notebook + (node.grid ? ` · ${node.grid}` : '')));
    for (const row of rows.filter(r => r.node === node.name)) {
      section.appendChild(variantItem(row, live, actions, node.parents.length > 0));
    }
    list.appendChild(section);
  }
  return list;
}
