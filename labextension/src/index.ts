/**
 * nbgraph's JupyterLab extension: the side panel (id `nbgraph-panel`), the commands
 * `nbgraph:open-panel` and `nbgraph:run`, and "Add as child of…" on notebooks in the
 * file browser.  Everything it shows or does goes through the server extension's REST routes.
 */
import { ILabShell, ILayoutRestorer, JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { ICommandPalette, InputDialog, showErrorMessage } from '@jupyterlab/apputils';
import { PathExt } from '@jupyterlab/coreutils';
import { IDocumentManager } from '@jupyterlab/docmanager';
import { IDefaultFileBrowser } from '@jupyterlab/filebrowser';
import { NotebookActions, NotebookPanel } from '@jupyterlab/notebook';

import { api, post, query } from './api';
import { NbgraphPanel } from './panel';

const OPEN = 'nbgraph:open-panel';
const RUN = 'nbgraph:run';
const ADD = 'nbgraph:add-child';

function opener(docs: IDocumentManager) {
  return {
    async open(path: string): Promise<void> {
      const existing = docs.findWidget(path);
      if (existing) {
        await docs.contextForWidget(existing)?.revert();  // a fresh copy was just written
      }
      docs.openOrReveal(path);
    },
    async openWithKernel(path: string): Promise<void> {
      const widget = docs.openOrReveal(path);
      if (!(widget instanceof NotebookPanel)) {
        return;
      }
      await widget.context.ready;
      await widget.sessionContext.ready;
      await NotebookActions.runAll(widget.content, widget.sessionContext);
      await widget.context.save();
    }
  };
}

/** "Add as child of…": pick a node of the folder's spec; the server does what `nbgraph add` does. */
async function addChild(panel: NbgraphPanel, browser: IDefaultFileBrowser | null): Promise<void> {
  const file = browser ? Array.from(browser.selectedItems())[0] : undefined;
  if (!file || !String(file.path).endsWith('.ipynb')) {
    return;
  }
  const folder = PathExt.dirname(file.path);
  const specs = (await api<{ specs: string[] }>(`specs?folder=${encodeURIComponent(folder)}`)).specs;
  const spec = specs.find(s => PathExt.dirname(s) === folder) || panel.currentSpec || specs[0];
  if (!spec) {
    await showErrorMessage('nbgraph', `No inheritance.yaml in ${folder || 'the root folder'} to add ${file.name} to`);
    return;
  }
  const graph = await api<{ nodes: { name: string }[] }>(`graph${query(spec)}`);
  const picked = await InputDialog.getItem({
    title: `Add ${file.name} as child of…`, label: `A node of ${spec}`, items: graph.nodes.map(n => n.name)
  });
  if (!picked.button.accept || !picked.value) {
    return;
  }
  try {
    await post<{ name: string }>('add', { spec, notebook: file.path, parent: picked.value });
    await panel.refresh();
  } catch (e) {
    await showErrorMessage('nbgraph', (e as Error).message);
  }
}

const plugin: JupyterFrontEndPlugin<void> = {
  id: 'nbgraph:plugin',
  description: 'The graph of notebooks that inherit state: live statuses, runs and results',
  autoStart: true,
  requires: [IDocumentManager],
  optional: [ILabShell, ILayoutRestorer, IDefaultFileBrowser, ICommandPalette],
  activate: (app: JupyterFrontEnd, docs: IDocumentManager, shell: ILabShell | null, restorer: ILayoutRestorer | null,
    browser: IDefaultFileBrowser | null, palette: ICommandPalette | null) => {
    const panel = new NbgraphPanel(opener(docs));
    app.shell.add(panel, 'left', { rank: 700 });
    restorer?.add(panel, 'nbgraph-panel');
    const follow = () => void panel.setFolder(browser ? browser.model.path : '');
    browser?.model.pathChanged.connect(follow);
    void app.restored.then(follow);
    app.commands.addCommand(OPEN, {
      label: 'Open the nbgraph panel',
      execute: () => app.shell.activateById(panel.id)
    });
    app.commands.addCommand(RUN, {
      label: 'nbgraph: run what is stale',
      execute: async () => {
        app.shell.activateById(panel.id);
        await panel.start();
      }
    });
    app.commands.addCommand(ADD, {
      label: 'Add as child of…',
      isVisible: () => !!browser && Array.from(browser.selectedItems()).some(i => i.path.endsWith('.ipynb')),
      execute: () => addChild(panel, browser)
    });
    app.contextMenu.addItem({ command: ADD, selector: '.jp-DirListing-item[data-file-type="notebook"]', rank: 12 });
    for (const command of [OPEN, RUN]) {
      palette?.addItem({ command, category: 'nbgraph' });
    }
  }
};

export default plugin;
