/**
 * The graph as `nbgraph plot` draws it: nodes in layers by depth (the server's own layout),
 * one box per node coloured by its most urgent variant status, one arrow per edge.
 */
import { IGraph } from './api';

/** Most urgent first: a node shows the first of these that any of its variants has. */
export const URGENCY = ['running', 'failed', 'skipped', 'pending', 'stale', 'succeeded'];

export const COLORS: Record<string, [string, string]> = {
  succeeded: ['#c7e9c0', '#2e7d32'],
  failed: ['#f8c4c0', '#c62828'],
  skipped: ['#ffe0a3', '#b26a00'],
  pending: ['#e6e6e6', '#707070'],
  running: ['#bbdefb', '#1565c0'],
  stale: ['#ece8fb', '#5e35b1']
};

export function worst(statuses: string[]): string {
  for (const s of URGENCY) {
    if (statuses.includes(s)) {
      return s;
    }
  }
  return 'pending';
}

const SVG = 'http://www.w3.org/2000/svg';
const W = 150;
const H = 44;
const GX = 24;
const GY = 36;

function el<K extends keyof SVGElementTagNameMap>(tag: K, attrs: Record<string, string | number>): SVGElementTagNameMap[K] {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) {
    node.setAttribute(k, String(v));
  }
  return node;
}

/** An SVG of the graph; `status(node)` and `caption(node)` give each box its colour and second line. */
export function drawGraph(
  graph: IGraph,
  status: (node: string) => string,
  caption: (node: string) => string,
  onClick: (node: string) => void
): SVGSVGElement {
  const widest = Math.max(1, ...graph.layers.map(l => l.length));
  const width = widest * (W + GX) + GX;
  const height = Math.max(1, graph.layers.length) * (H + GY) - GY + 2 * 10;
  const svg = el('svg', { viewBox: `0 0 ${width} ${height}`, width: '100%', class: 'jp-nbgraph-svg' });
  svg.style.maxWidth = `${Math.round(width * 1.25)}px`;
  const defs = el('defs', {});
  const marker = el('marker', { id: 'nbgraph-arrow', viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto' });
  marker.appendChild(el('path', { d: 'M0,0 L10,5 L0,10 z', fill: '#777' }));
  defs.appendChild(marker);
  svg.appendChild(defs);
  const centre: Record<string, [number, number]> = {};
  graph.layers.forEach((layer, row) => {
    layer.forEach((name, i) => {
      const x = width / 2 + (i - (layer.length - 1) / 2) * (W + GX);
      centre[name] = [x, 10 + row * (H + GY) + H / 2];
    });
  });
  for (const node of graph.nodes) {
    for (const parent of node.parents) {
      const [x0, y0] = centre[parent];
      const [x1, y1] = centre[node.name];
      const edge = el('path', {
        d: `M${x0},${y0 + H / 2} C${x0},${y0 + H / 2 + GY / 2} ${x1},${y1 - H / 2 - GY / 2} ${x1},${y1 - H / 2 - 1}`,
        fill: 'none', stroke: '#777', 'stroke-width': 1.3, 'marker-end': 'url(#nbgraph-arrow)',
        'data-nbgraph-edge': `${parent}->${node.name}`
      });
      svg.appendChild(edge);
    }
  }
  for (const node of graph.nodes) {
    const [x, y] = centre[node.name];
    const s = status(node.name);
    const [fill, stroke] = COLORS[s] || COLORS.pending;
    const g = el('g', { 'data-nbgraph-node': node.name, 'data-nbgraph-status': s, class: 'jp-nbgraph-node', tabindex: 0 });
    const title = el('title', {});
    title.textContent = `${node.name}: ${s}\n${node.notebook}${node.grid ? '\n' + node.grid : ''}`;
    g.appendChild(title);
    g.appendChild(el('rect', { x: x - W / 2, y: y - H / 2, width: W, height: H, rx: 7, fill, stroke, 'stroke-width': s === 'running' ? 2.5 : 1.5 }));
    const name = el('text', { x, y: y - 4, 'text-anchor': 'middle', class: 'jp-nbgraph-node-name' });
    name.textContent = fit(node.name, 20);
    const sub = el('text', { x, y: y + 12, 'text-anchor': 'middle', class: 'jp-nbgraph-node-sub' });
    sub.textContent = fit(caption(node.name), 28);
    g.appendChild(name);
    g.appendChild(sub);
    g.addEventListener('click', () => onClick(node.name));
    svg.appendChild(g);
  }
  return svg;
}

function fit(text: string, n: number): string {
  return text.length <= n ? text : text.slice(0, n - 1) + '…';
}
