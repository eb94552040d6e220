/**
 * The nbgraph side panel: the spec of the file browser's folder, its graph with live
 * statuses, each node's variants, the run controls and the results.  State lives here;
 * drawing is in graph.ts, view.ts and results.ts; the server is reached through api.ts.
 */
import { Widget } from '@lumino/widgets';

import { api, ApiError, IGraph, IResultRow, IRun, IStatusRow, post, query } from './api';
import { drawGraph } from './graph';
import { ResultsTable } from './results';
import { button, h, IActions, nodeCaption, nodeList, nodeStatus, runLine } from './view';

/** What the panel needs from Lab: opening files. */
export interface IOpener {
  open(path: string): Promise<void>;
  openWithKernel(path: string): Promise<void>;
}

const RUN_POLL_MS = 600;
const BUSY_POLL_MS = 1500;
const IDLE_POLL_MS = 4000;
/** When idle, every this many polls reads statuses and results too (else only the graph, for its lock) */
const FULL_EVERY = 3;

export class NbgraphPanel extends Widget implements IActions {
  private folder = '';
  private spec: string | null = null;
  private specs: string[] = [];
  private graph: IGraph | null = null;
  private rows: IStatusRow[] = [];
  private run: IRun | null = null;
  private error: string | null = null;
  private notice: string | null = null;
  private expanded = new Set<string>();
  private results = new ResultsTable();
  private timer: number | undefined;
  private ticks = 0;
  private drawn = '';
  private readonly header = h('div', 'jp-nbgraph-header');
  private readonly body = h('div', 'jp-nbgraph-body');

  constructor(private readonly opener: IOpener) {
    super();
    this.id = 'nbgraph-panel';
    this.title.label = 'nbgraph';
    this.title.caption = 'nbgraph: the graph of notebooks';
    this.addClass('jp-nbgraph-panel');
    this.node.append(this.header, this.body);
  }

  /** Follow the file browser: show the spec of this folder (or one found below it). */
  async setFolder(folder: string): Promise<void> {
    if (folder === this.folder && this.spec) {
      return;
    }
    this.folder = folder;
    try {
      this.specs = (await api<{ specs: string[] }>(`specs?folder=${encodeURIComponent(folder)}`)).specs;
      this.error = null;
    } catch (e) {
      this.specs = [];
      this.error = (e as Error).message;
    }
    const own = this.specs.find(s => s === (folder ? `${folder}/inheritance.yaml` : 'inheritance.yaml'));
    if (!this.run || this.run.state !== 'running') {
      this.spec = own || this.specs[0] || null;
    }
    await this.refresh();
  }

  get currentSpec(): string | null {
    return this.spec;
  }

  async refresh(): Promise<void> {
    if (this.spec) {
      try {
        const q = query(this.spec);
        const [graph, rows, results] = await Promise.all([
          api<IGraph>(`graph${q}`), api<IStatusRow[]>(`status${q}`), api<IResultRow[]>(`results${q}`)]);
        this.graph = graph;
        this.rows = rows;
        this.results.update(results);
        this.error = null;
      } catch (e) {
        this.graph = null;
        this.rows = [];
        this.error = (e as Error).message;
      }
    }
    this.render();
    this.schedule();
  }

  /** Run what is stale (`only` limits it to these nodes; `force` re-runs even what is up to date). */
  async start(only: string[] = [], force = false): Promise<void> {
    if (!this.spec) {
      this.notice = 'No spec to run: open a folder holding an inheritance.yaml in the file browser';
      this.render();
      return;
    }
    try {
      this.run = await post<IRun>('run', { spec: this.spec, only, force });
      this.notice = null;
    } catch (e) {
      this.notice = (e as Error).message;
    }
    this.render();
    this.schedule(0);
  }

  async stop(): Promise<void> {
    if (this.run && this.run.state === 'running') {
      try {
        this.run = await post<IRun>(`runs/${this.run.id}/stop`, {});
      } catch (e) {
        this.notice = (e as Error).message;
      }
      this.render();
    }
  }

  runNode(node: string, force: boolean): void {
    void this.start([node], force);
  }

  toggle(node: string, open: boolean): void {
    if (open) {
      this.expanded.add(node);
    } else {
      this.expanded.delete(node);
    }
  }

  openVariant(variant: string): void {
    void this.openCopy(variant, false);
  }

  openLog(variant: string): void {
    void this.openCopy(variant, true);
  }

  newFromVariant(variant: string): void {
    void (async () => {
      try {
        const made = await post<{ notebook: string }>('from-variant', { spec: this.spec, variant });
        await this.opener.openWithKernel(made.notebook);
      } catch (e) {
        this.say(e);
      }
    })();
  }

  private async openCopy(variant: string, log: boolean): Promise<void> {
    try {
      const copy = await post<{ notebook: string; log: string | null }>('open', { spec: this.spec, variant });
      const path = log ? copy.log : copy.notebook;
      if (!path) {
        throw new ApiError(`${variant} has no log`, 404, 'NoLog');
      }
      await this.opener.open(path);
    } catch (e) {
      this.say(e);
    }
  }

  private say(e: unknown): void {
    this.notice = (e as Error).message;
    this.render();
  }

  /** Poll the run quickly while it runs (statuses too), slowly when idle. */
  private schedule(delay?: number): void {
    window.clearTimeout(this.timer);
    const running = !!this.run && this.run.state === 'running';
    const elsewhere = !running && !!this.graph?.busy;  // a run from a terminal: its records land as it goes
    this.timer = window.setTimeout(() => void this.poll(),
      delay ?? (running ? RUN_POLL_MS : elsewhere ? BUSY_POLL_MS : IDLE_POLL_MS));
  }

  private async poll(): Promise<void> {
    if (this.isDisposed) {
      return;
    }
    if (this.run && this.run.state === 'running') {
      try {
        this.run = await api<IRun>(`runs/${this.run.id}`);
      } catch (e) {
        this.notice = (e as Error).message;
      }
    } else if (this.spec && this.graph && !this.graph.busy && ++this.ticks % FULL_EVERY !== 0) {
      try {  // idle: a cheap look at the lock; a run from a terminal switches to full, fast polling
        const graph = await api<IGraph>(`graph${query(this.spec)}`);
        if (!graph.busy) {
          this.schedule();
          return;
        }
      } catch {
        // the full refresh below says what is wrong
      }
    }
    await this.refresh();
  }

  private live(): Record<string, string> {
    const live: Record<string, string> = {};
    if (this.run && this.run.state === 'running') {
      for (const v of this.run.variants) {
        live[v.name] = v.state;
      }
    }
    return live;
  }

  private render(): void {
    const running = !!this.run && this.run.state === 'running';
    const key = JSON.stringify([this.spec, this.specs, this.graph, this.rows, this.run, this.error, this.notice]);
    if (key === this.drawn) {
      return;
    }
    this.drawn = key;
    this.renderHeader(running);
    this.body.textContent = '';
    if (this.notice) {
      this.body.appendChild(h('div', 'jp-nbgraph-error', this.notice)).dataset.nbgraphError = 'notice';
    }
    if (this.run) {
      this.body.appendChild(runLine(this.run));
    }
    if (this.graph?.busy && !running) {
      this.body.appendChild(h('div', 'jp-nbgraph-run', `a run is using this build: ${this.graph.busy}`)).dataset.nbgraphBusy = 'true';
    }
    if (this.error) {
      this.body.appendChild(h('div', 'jp-nbgraph-error', this.error)).dataset.nbgraphError = 'spec';
    }
    if (!this.spec && !this.error) {
      this.body.appendChild(h('div', 'jp-nbgraph-dim', `No inheritance.yaml in ${this.folder || 'the root folder'} or below it: ` +
        'open a study\'s folder in the file browser.'));
    }
    if (this.graph && !this.error) {
      const live = this.live();
      const graph = this.graph;
      this.body.appendChild(drawGraph(graph, n => nodeStatus(n, this.rows, live), n => nodeCaption(n, this.rows, live),
        n => this.reveal(n)));
      this.body.appendChild(nodeList(graph.nodes, this.rows, live, this.expanded, running, this));
      this.body.append(h('h3', 'jp-nbgraph-h', 'Results'), this.results.node);
    }
  }

  private renderHeader(running: boolean): void {
    this.header.textContent = '';
    const pick = h('select', 'jp-nbgraph-spec');
    pick.dataset.nbgraphSpec = this.spec || '';
    for (const spec of this.specs) {
      const option = h('option', '', spec);
      option.value = spec;
      option.selected = spec === this.spec;
      pick.appendChild(option);
    }
    pick.addEventListener('change', () => {
      this.spec = pick.value;
      void this.refresh();
    });
    const run = button('Run', 'run', () => void this.start(), 'Run what is stale');
    const force = button('Force', 'force', () => void this.start([], true), 'Re-run every variant');
    const stop = button('Stop', 'stop', () => void this.stop(), 'Interrupt the run (as Ctrl-C does)');
    run.disabled = force.disabled = running || !this.spec;
    stop.disabled = !running;
    const reload = button('↻', 'refresh', () => void this.refresh(), 'Refresh');
    this.header.append(h('span', 'jp-nbgraph-title', 'nbgraph'), pick, run, force, stop, reload);
  }

  private reveal(node: string): void {
    this.expanded.add(node);
    this.drawn = '';
    this.render();
    const section = this.body.querySelector(`[data-nbgraph-node-item="${CSS.escape(node)}"]`);
    section?.scrollIntoView({ block: 'nearest' });
  }

  dispose(): void {
    window.clearTimeout(this.timer);
    super.dispose();
  }
}
